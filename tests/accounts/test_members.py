"""Company members: invitations by single-use link, roles, removal, and the one helper that
says who may buy, activate and consent (issue B)."""
import datetime
import re

import pytest

from market.accounts import companies
from models import AccountToken, OutboxMail, User, utcnow
from tests import factories
from tests.conftest import AuthActions


def invitation_link(to):
    mail = OutboxMail.select().where(OutboxMail.to == to).order_by(OutboxMail.id.desc()).first()
    return re.search(r"http://localhost(/invite/[A-Za-z0-9_\-]+)", mail.body).group(1)


def test_admin_invites_a_colleague_who_joins_through_the_link(app, client, auth):
    admin = factories.customer_admin(email="boss@example.test")
    auth.login("boss@example.test")
    response = auth.post("/account/members/invite", {"email": "Colleague@Example.test", "role": "member",
                                                     "company_id": "999", "developer_id": "1"})
    assert response.status_code == 303
    path = invitation_link("colleague@example.test")
    assert "colleague@example.test" in client.get("/account/members").get_data(as_text=True)

    newcomer = app.test_client()
    helper = AuthActions(app, newcomer)
    page = newcomer.get(path)
    assert page.status_code == 200 and "colleague@example.test" in page.get_data(as_text=True)
    assert helper.post(path, {"password": "short"}).status_code == 422
    assert not User.select().where(User.email == "colleague@example.test").exists()
    response = helper.post(path, {"password": "colleagues-password", "name": "Col", "role": "admin",
                                  "email": "someone-else@example.test"})
    assert response.status_code == 303
    colleague = User.get(User.email == "colleague@example.test")
    assert colleague.company_id == admin.company_id and colleague.company_role == "member"
    assert newcomer.get("/account").status_code == 200
    assert "/account/members/invite" not in newcomer.get("/account/members").get_data(as_text=True)  # read-only
    # The link worked once.
    assert AuthActions(app, app.test_client()).post(path, {"password": "colleagues-password"}).status_code == 400
    assert User.select().count() == 2


def test_invitation_expires_and_is_refused_for_existing_members(app, auth):
    # An account of another company may be invited (a bureau, tests/accounts/test_bureaus.py);
    # someone already in the company may not.
    factories.customer_admin(email="boss@example.test")
    auth.login("boss@example.test")
    response = auth.post("/account/members/invite", {"email": "boss@example.test", "role": "member"})
    assert response.status_code == 422
    for bad in [{"email": "x@example.test", "role": "owner"}, {"email": "nope", "role": "member"}, {}]:
        assert auth.post("/account/members/invite", bad).status_code == 422
    assert OutboxMail.select().count() == 0 and AccountToken.select().count() == 0
    auth.post("/account/members/invite", {"email": "late@example.test", "role": "admin"})
    path = invitation_link("late@example.test")
    AccountToken.update(expires_at=utcnow() - datetime.timedelta(minutes=1)).execute()
    helper = AuthActions(app, app.test_client())
    assert helper.post(path, {"password": "a-long-password"}).status_code == 400
    assert not User.select().where(User.email == "late@example.test").exists()


def test_members_cannot_invite_or_manage(client, auth):
    admin = factories.customer_admin(email="boss@example.test")
    factories.user(email="member@example.test", company=admin.company_id, company_role="member")
    auth.login("member@example.test")
    assert 'data-members="read-only"' in client.get("/account/members").get_data(as_text=True)
    assert auth.post("/account/members/invite", {"email": "x@example.test", "role": "admin"}).status_code == 403
    assert auth.post(f"/account/members/{admin.id}/role", {"role": "member"}).status_code == 403
    assert auth.post(f"/account/members/{admin.id}/remove").status_code == 403
    assert OutboxMail.select().count() == 0 and User.get_by_id(admin.id).company_role == "admin"


def test_roles_and_removal_keep_at_least_one_admin(client, auth):
    admin = factories.customer_admin(email="boss@example.test")
    member = factories.user(email="member@example.test", company=admin.company_id, company_role="member")
    auth.login("boss@example.test")
    assert auth.post(f"/account/members/{admin.id}/role", {"role": "member"}).status_code == 422
    assert auth.post(f"/account/members/{admin.id}/remove").status_code == 422
    assert User.get_by_id(admin.id).company_role == "admin"
    assert auth.post(f"/account/members/{member.id}/role", {"role": "superuser"}).status_code == 422
    assert auth.post(f"/account/members/{member.id}/role", {"role": "admin"}).status_code == 303
    assert User.get_by_id(member.id).company_role == "admin"
    # Now another admin exists, so the first may step down.
    assert auth.post(f"/account/members/{admin.id}/role", {"role": "member"}).status_code == 303
    assert User.get_by_id(admin.id).company_role == "member"
    assert 'data-members="read-only"' in client.get("/account/members").get_data(as_text=True)


def test_removing_a_member_and_guessing_other_companies_ids(client, auth):
    admin = factories.customer_admin(email="boss@example.test")
    member = factories.user(email="member@example.test", company=admin.company_id, company_role="member")
    stranger = factories.customer_admin(email="stranger@example.test")
    auth.login("boss@example.test")
    assert auth.post(f"/account/members/{stranger.id}/remove").status_code == 404
    assert auth.post(f"/account/members/{stranger.id}/role", {"role": "member"}).status_code == 404
    assert auth.post("/account/members/not-a-number/remove").status_code == 404
    assert User.get_by_id(stranger.id).company_role == "admin"
    assert auth.post(f"/account/members/{member.id}/remove").status_code == 303
    assert not User.select().where(User.id == member.id).exists()


def test_require_company_admin_is_the_one_check(app):
    admin = factories.customer_admin()
    member = factories.user(company=admin.company_id, company_role="member")
    developer = factories.developer_user()
    assert companies.require_company_admin(admin) == admin
    for user in (member, developer, None):
        with pytest.raises(companies.NotCompanyAdmin):
            companies.require_company_admin(user)


def test_huge_or_malformed_member_ids_are_not_found(auth):
    admin = factories.customer_admin(email="boss@example.test")
    auth.login("boss@example.test")
    for member_id in ["99999999999999999999", "2147483648", "0", "-1"]:
        assert auth.post(f"/account/members/{member_id}/role", {"role": "member"}).status_code == 404
    assert auth.post("/account/members/invite", {"email": "a\x00@example.test", "role": "member"}).status_code == 400
    assert OutboxMail.select().count() == 0 and User.get_by_id(admin.id).company_role == "admin"
