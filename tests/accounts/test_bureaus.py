"""Accounting bureaus (issue T, Deliver 1, the foundation): a user belongs to several companies
(memberships), switches the current company, and every form carries the company it was for."""

import re

from market.jobs import seed
from models import Company, Membership, User
from tests import factories
from tests.accounts.test_members import invitation_link
from tests.conftest import AuthActions


def bureau_user(email="byra@example.test"):
    """A bureau's user, admin of its own company and of two client companies."""
    own = factories.company(name="Byrån AB")
    user = factories.customer_admin(email=email, company_obj=own)
    clients = [factories.company(name="Klient Ett AB"), factories.company(name="Klient Två AB")]
    Membership.create(user=user, company=own, role="admin")
    for client in clients:
        Membership.create(user=user, company=client, role="admin")
    return user, own, clients


def test_switch_changes_what_my_apps_shows(client, auth):
    user, own, (one, two) = bureau_user()
    factories.subscription(one, factories.app_listing(name="Lönekollen", price_ore=9900))
    factories.subscription(two, factories.app_listing(name="Tidrapporten", price_ore=9900))
    auth.login("byra@example.test")
    page = client.get("/account/apps").get_data(as_text=True)
    assert "Lönekollen" not in page and "Tidrapporten" not in page
    # The account menu offers the other companies, as plain forms (no JavaScript needed).
    assert f'data-company="{one.public_id}"' in page and 'action="/account/company"' in page

    response = auth.post("/account/company", {"company": one.public_id, "next": "/account/apps"})
    assert response.status_code == 303 and response.headers["Location"].endswith("/account/apps")
    assert User.get_by_id(user.id).company_id == one.id
    page = client.get("/account/apps").get_data(as_text=True)
    assert "Lönekollen" in page and "Tidrapporten" not in page

    response = auth.post("/account/company", {"company": two.public_id, "next": "https://evil.example/"})
    assert response.status_code == 303 and response.headers["Location"].endswith("/account/apps")
    page = client.get("/account/apps").get_data(as_text=True)
    assert "Tidrapporten" in page and "Lönekollen" not in page
    # The company left keeps its membership and role.
    assert Membership.get(Membership.user == user.id, Membership.company == one.id).role == "admin"


def test_switching_to_a_company_not_a_member_of_is_404(client, auth):
    user, own, _ = bureau_user()
    stranger = factories.customer_admin(email="other@example.test").company
    auth.login("byra@example.test")
    for bad in [stranger.public_id, str(stranger.id), "", "x" * 300, "\u00e5"]:
        assert auth.post("/account/company", {"company": bad}).status_code == 404
    assert auth.post("/account/company", {}).status_code == 404
    assert User.get_by_id(user.id).company_id == own.id


def test_every_form_carries_the_company_and_a_stale_one_is_refused(client, auth):
    user, own, (one, _) = bureau_user()
    app = factories.app_listing(name="Lönekollen")
    factories.connection(own, app)
    auth.login("byra@example.test")
    page = client.get("/account/members").get_data(as_text=True)
    assert f'<input type="hidden" name="company" value="{own.public_id}">' in page
    # A form of a tab opened for the bureau's own company, sent after switching to a client.
    auth.post("/account/company", {"company": one.public_id})
    response = auth.post("/account/members/invite", {"email": "new@example.test", "role": "member",
                                                     "company": own.public_id})
    assert response.status_code == 409
    assert "another of your companies" in response.get_data(as_text=True)
    response = auth.post("/account/delete", {"password": factories.PASSWORD, "company": own.public_id})
    assert response.status_code == 409 and User.select().where(User.id == user.id).exists()
    assert User.select().where(User.email == "new@example.test").count() == 0
    from_page = client.get("/account/members").get_data(as_text=True)
    assert "new@example.test" not in from_page
    # The right company, or none, acts for the current company.
    assert auth.post("/account/members/invite", {"email": "new@example.test", "role": "member",
                                                 "company": one.public_id}).status_code == 303
    assert "new@example.test" in client.get("/account/members").get_data(as_text=True)


def test_single_company_users_forms_carry_no_company(client, auth):
    factories.customer_admin(email="solo@example.test")
    auth.login("solo@example.test")
    page = client.get("/account/members").get_data(as_text=True)
    assert 'name="company"' not in page and 'action="/account/company"' not in page


def test_inviting_an_existing_account_gives_it_a_membership(app, client, auth):
    admin = factories.customer_admin(email="boss@bygg.test", company_obj=factories.company(name="Bygg AB"))
    bureau = factories.customer_admin(email="byra@example.test", company_obj=factories.company(name="Byrån AB"))
    auth.login("boss@bygg.test")
    assert auth.post("/account/members/invite", {"email": "byra@example.test", "role": "admin"}).status_code == 303
    path = invitation_link("byra@example.test")

    # Someone else cannot use it; the bureau's user accepts logged in as itself.
    assert "Log in as byra@example.test" in app.test_client().get(path).get_data(as_text=True)
    other = app.test_client()
    factories.customer_admin(email="intruder@example.test")
    AuthActions(app, other).login("intruder@example.test")
    assert AuthActions(app, other).post(path, {"password": "x" * 12}).status_code == 403
    assert Membership.select().where(Membership.company == admin.company_id).count() == 0

    bureau_client = app.test_client()
    helper = AuthActions(app, bureau_client)
    helper.login("byra@example.test")
    page = bureau_client.get(path).get_data(as_text=True)
    assert "Join Bygg AB" in page
    assert helper.post(path, {}).status_code == 303
    assert Membership.get(Membership.user == bureau.id, Membership.company == admin.company_id).role == "admin"
    bureau_now = User.get_by_id(bureau.id)
    assert bureau_now.company_id == admin.company_id and bureau_now.company_role == "admin"
    assert User.select().count() == 3  # no second account
    members = client.get("/account/members").get_data(as_text=True)
    assert "byra@example.test" in members

    # Removing the bureau takes away that membership only; it goes back to its own company.
    response = auth.post(f"/account/members/{bureau.id}/remove", {})
    assert response.status_code == 303
    bureau_now = User.get_by_id(bureau.id)
    assert bureau_now.company.name == "Byrån AB" and bureau_now.company_role == "admin"
    assert not Membership.select().where(Membership.company == admin.company_id).exists()
    assert bureau_client.get("/account").status_code == 200
    assert Company.select().count() == 3
    assert "<td>byra@example.test" not in client.get("/account/members").get_data(as_text=True)


def test_bureau_lists_a_row_per_company_with_apps_statuses_and_monthly_cost(client, auth):
    user, own, (one, two) = bureau_user()
    paid = factories.app_listing(name="Lönekollen", price_ore=14900)
    extra = factories.app_listing(name="Tidrapporten", price_ore=5050)
    free = factories.app_listing(name="Kvittoskannern")
    factories.subscription(one, paid, price_ore=12345)  # the agreed price, not the list price
    factories.subscription(one, extra, price_ore=5050, status="trialing")
    factories.subscription(one, free, status="canceled", price_ore=999)  # over: costs nothing
    factories.connection(two, free)
    stranger = factories.customer_admin(email="other@example.test").company
    factories.subscription(stranger, paid, price_ore=14900)
    auth.login("byra@example.test")
    response = client.get("/bureau")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    rows = dict(re.findall(r'<tr data-company="([^"]+)">(.*?)</tr>', page, re.S))
    assert set(rows) == {own.public_id, one.public_id, two.public_id}
    assert stranger.public_id not in page
    assert 'data-monthly-ore="17395"' in rows[one.public_id] and "173.95 kr" in rows[one.public_id]
    assert "Lönekollen: Active" in rows[one.public_id] and "Tidrapporten: Trial" in rows[one.public_id]
    assert "Kvittoskannern" in rows[two.public_id] and "connected" in rows[two.public_id]
    assert 'data-monthly-ore="0"' in rows[two.public_id] and "No apps" in rows[own.public_id]
    assert 'data-total-ore="17395"' in page


def test_bureau_is_for_users_of_several_companies(client, auth):
    factories.customer_admin(email="solo@example.test")
    auth.login("solo@example.test")
    assert client.get("/bureau").status_code == 403


def test_the_seeded_bureau_logs_in_and_works_in_four_companies(app, client, auth):
    with app.app_context():
        seed.seed_demo(app.config, echo=lambda *a: None)
    byra = User.get(User.email == "byra@demo.test")
    assert byra.company.name == "Demo Redovisning AB" and byra.company_role == "admin"
    roles = {m.company.name: m.role for m in Membership.select().where(Membership.user == byra.id)}
    assert roles == {"Demo Redovisning AB": "admin", "Demo Bygg AB": "admin",
                     "Demo Café Söder AB": "admin", "Demo Frakt Norr AB": "admin"}
    assert auth.login("byra@demo.test", "demo-pass-123").status_code == 303
    page = client.get("/bureau").get_data(as_text=True)
    rows = dict(re.findall(r'<tr data-company="([^"]+)">(.*?)</tr>', page, re.S))
    assert len(rows) == 4
    cafe, frakt = (Company.get(Company.name == name) for name in ("Demo Café Söder AB", "Demo Frakt Norr AB"))
    assert "Bordsbokning" in rows[cafe.public_id] and "Bordsbokning" not in rows[frakt.public_id]
    assert "Åkeri Planering" in rows[frakt.public_id] and "Åkeri Planering" not in rows[cafe.public_id]
    assert auth.post("/account/company", {"company": cafe.public_id}).status_code == 303
    assert "Bordsbokning" in client.get("/account/apps").get_data(as_text=True)


def test_a_client_closing_its_company_keeps_the_bureaus_account(app, client, auth):
    user, own, (one, _) = bureau_user()
    Membership.update(role="member").where(Membership.user == user.id, Membership.company == one.id).execute()
    client_admin = factories.customer_admin(email="boss@klient.test", company_obj=one)
    bureau_client = app.test_client()
    helper = AuthActions(app, bureau_client)
    helper.login("byra@example.test")
    assert helper.post("/account/company", {"company": one.public_id}).status_code == 303
    assert User.get_by_id(user.id).company_role == "member"

    auth.login("boss@klient.test")
    assert auth.post("/account/delete", {"password": factories.PASSWORD}).status_code == 303
    assert not Company.select().where(Company.id == one.id).exists()
    assert not User.select().where(User.id == client_admin.id).exists()
    survivor = User.get_by_id(user.id)  # not deleted with the client's company
    assert survivor.company_id == own.id and survivor.company_role == "admin"
    assert bureau_client.get("/bureau").status_code == 200


def test_bureau_shows_each_clients_spend_and_the_total_as_its_spend_view(app, client, auth):
    import datetime

    from market.core.clock import utcnow
    from market.dashboards import spend

    user, own, (one, two) = bureau_user()
    paid = factories.app_listing(name="Lönekollen", price_ore=14900)
    extra = factories.app_listing(name="Tidrapporten", price_ore=5050)
    now = utcnow()
    period = {"current_period_start": now - datetime.timedelta(days=20),
              "current_period_end": now + datetime.timedelta(days=10)}
    factories.subscription(one, paid, price_ore=12345, **period)
    factories.subscription(two, paid, price_ore=14900, **period)
    factories.subscription(two, extra, price_ore=5051, **period)
    auth.login("byra@example.test")
    page = client.get("/bureau").get_data(as_text=True)
    rows = dict(re.findall(r'<tr data-company="([^"]+)">(.*?)</tr>', page, re.S))
    names = {"month_ore": "month-ore", "month_inc_ore": "month-inc-ore", "next_ore": "next-ore",
             "next_inc_ore": "next-inc-ore"}
    totals = dict.fromkeys(names, 0)
    for company in (own, one, two):
        figures = spend.company_spend(company, app.config["VAT_PERCENT"])["total"]
        for name, attribute in names.items():
            assert f'data-{attribute}="{figures[name]}"' in rows[company.public_id]
            totals[name] += figures[name]
    assert totals["next_inc_ore"] > 0
    footer = re.search(r"<tfoot>(.*?)</tfoot>", page, re.S).group(1)
    for name, attribute in names.items():
        assert f'data-{attribute}="{totals[name]}"' in footer
    # In Swedish for a Swedish reader (the language chosen in the footer).
    client.get("/lang/sv?next=/bureau")
    swedish = client.get("/bureau").get_data(as_text=True)
    assert "Dina företag" in swedish and "Kommande 30 dagar inkl. moms" in swedish and "Alla företag" in swedish
