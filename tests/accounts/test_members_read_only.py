"""Issue U (rest), item 3: /account/members, which the account menu links to, shows a member
of the company the list of names and roles, without the invite, role and remove forms; the
forms stay the admins'."""
from market.accounts import companies
from models import User
from tests import factories


def test_a_member_reads_the_members_without_forms(client, auth):
    admin = factories.customer_admin(email="boss@example.test", name="Bo Ss")
    member = factories.user(email="member@example.test", name="Mia Member", company=admin.company,
                            company_role="member")
    bureau = factories.customer_admin(email="bureau@example.test", name="Byrå Admin")
    companies.add_membership(bureau, admin.company_id, "admin")
    auth.login(member.email)
    response = client.get("/account/members")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'data-members="read-only"' in html
    for person, role in ((admin, "admin"), (member, "member"), (bureau, "admin")):
        assert f'<tr data-member="{person.id}" data-role="{role}">' in html
        assert person.name in html
    assert "member@example.test (you)" in html
    assert "/account/members/invite" not in html and "/remove" not in html and "/role" not in html
    assert 'name="role"' not in html
    # In Swedish too, for a member who reads Swedish.
    User.update(language="sv").where(User.id == member.id).execute()
    swedish = client.get("/account/members", headers={"Accept-Language": "sv"}).get_data(as_text=True)
    assert "Medlemmar i " in swedish and "Medlem" in swedish and "(du)" in swedish


def test_the_admin_still_gets_the_forms(client, auth):
    admin = factories.customer_admin(email="boss@example.test")
    auth.login(admin.email)
    html = client.get("/account/members").get_data(as_text=True)
    assert "/account/members/invite" in html and 'data-members="read-only"' not in html


def test_someone_without_a_company_gets_403(client, auth):
    factories.developer_user(email="dev@example.test")
    auth.login("dev@example.test")
    assert client.get("/account/members").status_code == 403
