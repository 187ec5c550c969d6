"""My apps, the dunning banner, the developer's dunning list and the admin's refunds page, with
imported history (no Stripe behind it): who may do what, bad input, HTMX fragments."""
import datetime

import pytest

from models import App, Connection, LedgerEntry, Plan, Subscription, utcnow
from tests import factories
from tests.english import day


@pytest.fixture
def listing(app):
    developer = factories.developer(stripe_account_id="acct_pages", payouts_enabled=True)
    return factories.app_listing(developer_obj=developer, price_ore=19900, slug="paid-app", name="Paid App")


def test_my_apps_rows_for_imported_and_free_apps(client, auth, listing):
    admin = factories.customer_admin()
    end = utcnow() + datetime.timedelta(days=12)
    Subscription.create(company=admin.company, app=listing, plan=Plan.get(Plan.app == listing), status="active",
                        price_ore=19900, imported=True, current_period_end=end)
    free = factories.app_listing(slug="free-tool", name="Free Tool")
    factories.connection(admin.company, free)
    auth.login(admin.email)
    page = client.get("/account/apps").get_data(as_text=True)
    paid_row = page.split('<tr data-app="paid-app">')[1].split("</tr>")[0]
    assert "Standard: 199 kr/month excl. VAT" in paid_row
    assert f"Renews on {day(end)}" in paid_row
    assert f"248.75 kr incl. VAT on {day(end)}" in paid_row
    assert "History imported" in paid_row
    assert 'href="/account/apps/paid-app/cancel"' in paid_row  # asks first (issue P)
    free_row = page.split('<tr data-app="free-tool">')[1].split("</tr>")[0]
    assert "Connected" in free_row and "free" in free_row
    assert 'action="/apps/free-tool/activate"' in free_row and 'href="/account/apps/free-tool/remove"' in free_row
    # HTMX gets the table only.
    fragment = client.get("/account/apps", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in fragment and 'data-app="paid-app"' in fragment
    # Cancel and undo, locally for imported history.
    assert auth.post("/account/apps/paid-app/cancel").status_code == 303
    assert Subscription.get().cancel_at_period_end is True
    assert f"Cancels on {day(end)}" in client.get("/account/apps").get_data(as_text=True)
    assert auth.post("/account/apps/paid-app/resume", data={"status": "canceled"}).status_code == 303
    assert Subscription.get().cancel_at_period_end is False and Subscription.get().status == "active"
    # A plan change cannot reach Stripe for imported history: said so, nothing changed.
    pro = Plan.create(app=listing, name="Pro", price_ore=39900, position=1)
    refused = auth.post("/account/apps/paid-app/plan", data={"plan": str(pro.id)})
    assert refused.status_code == 409 and "imported" in refused.get_data(as_text=True)
    assert Subscription.get().plan.name == "Standard"
    # Remove the free app: its connection is revoked at once.
    assert auth.post("/account/apps/free-tool/remove").status_code == 303
    assert Connection.get(Connection.app == free).revoked_at is not None


def test_who_may_change_what(client, auth, listing):
    admin = factories.customer_admin()
    Subscription.create(company=admin.company, app=listing, status="active", price_ore=19900, imported=True)
    member = factories.user(email="member@example.test", company=admin.company, company_role="member")
    stranger = factories.customer_admin(email="stranger@example.test")
    paths = ["/account/apps/paid-app/cancel", "/account/apps/paid-app/resume", "/account/apps/paid-app/plan",
             "/account/apps/paid-app/remove", "/account/billing-portal"]
    for path in paths:  # visitors go to the login page
        assert auth.post(path).status_code == 303 and "/login" in auth.post(path).headers["Location"]
    auth.login(member.email)
    assert 'data-app="paid-app"' in client.get("/account/apps").get_data(as_text=True)
    for path in paths:
        assert auth.post(path).status_code == 403, path
    auth.logout()
    auth.login(stranger.email)
    for path in paths[:4]:
        assert auth.post(path).status_code == 404, path  # not their subscription
    assert auth.post("/account/billing-portal").status_code == 404  # no billing account yet
    assert auth.post("/account/apps/no-such-app/cancel").status_code == 404
    assert client.post("/account/apps/paid-app/cancel").status_code == 400  # no CSRF token
    assert Subscription.get().cancel_at_period_end is False
    auth.logout()
    factories.user(email="root@example.test", is_platform_admin=True)
    auth.login("root@example.test")
    assert auth.post("/account/apps/paid-app/cancel").status_code == 403  # not a company user


def test_banner_and_developer_list_show_dunning(client, auth, listing):
    admin = factories.customer_admin()
    since = utcnow() - datetime.timedelta(days=2)
    Subscription.create(company=admin.company, app=listing, status="past_due", price_ore=19900, imported=True,
                        past_due_since=since)
    deadline = since + datetime.timedelta(days=7)
    auth.login(admin.email)
    for path in ("/apps", "/account/apps"):
        page = client.get(path).get_data(as_text=True)
        assert f"Payment for Paid App failed — update your card by {day(deadline)}" in page
    auth.logout()
    other = factories.customer_admin(email="other@example.test")
    auth.login(other.email)
    assert "Payment for" not in client.get("/apps").get_data(as_text=True)
    auth.logout()
    dev_user = factories.user(email="dev@example.test", developer=listing.developer)
    auth.login(dev_user.email)
    page = client.get("/developer/apps/paid-app").get_data(as_text=True)
    assert f'data-company="{admin.company.public_id}"' in page and f"access until {day(deadline)}" in page
    # Another developer's customers are not listed on its own app's page.
    rival = factories.user(email="rival@example.test", developer=factories.developer())
    factories.app_listing(developer_obj=rival.developer, price_ore=100, slug="rival-app")
    auth.logout()
    auth.login(rival.email)
    assert admin.company.public_id not in client.get("/developer/apps/rival-app").get_data(as_text=True)


def test_refunds_page_is_for_platform_admins_and_bad_input_changes_nothing(client, auth, listing):
    admin = factories.customer_admin()
    sub = Subscription.create(company=admin.company, app=listing, status="active", price_ore=19900)
    entry = LedgerEntry.create(kind="payment", company=admin.company, app=listing, developer=listing.developer,
                               subscription=sub, stripe_ref="in_page", stripe_invoice_id="in_page",
                               stripe_charge_id="ch_page", net_ore=19900, moms_ore=4975, gross_ore=24875,
                               developer_share_ore=14925, platform_fee_ore=4975, occurred_at=utcnow())
    visitor = client.get("/admin/refunds")
    assert visitor.status_code in (302, 303) and "/login" in visitor.headers["Location"]
    auth.login(admin.email)
    assert client.get("/admin/refunds").status_code == 403
    assert auth.post("/admin/refunds", data={"payment": str(entry.id), "reason": "x"}).status_code == 403
    auth.logout()
    factories.user(email="root@example.test", is_platform_admin=True)
    auth.login("root@example.test")
    page = client.get("/admin/refunds").get_data(as_text=True)
    assert f'data-payment="{entry.id}"' in page and "248.75 kr" in page
    cases = [{"payment": str(entry.id), "amount": "0", "reason": "x"},
             {"payment": str(entry.id), "amount": "248,76", "reason": "x"},
             {"payment": str(entry.id), "amount": "12.345", "reason": "x"},
             {"payment": str(entry.id), "amount": "1e3", "reason": "x"},
             {"payment": str(entry.id), "amount": "10", "reason": "   "},
             {"payment": str(entry.id), "amount": "10", "reason": "x" * 501},
             {"payment": "99999999999999999999", "amount": "10", "reason": "x"},
             {"payment": "", "amount": "10", "reason": "x"}]
    for form in cases:
        response = auth.post("/admin/refunds", data=form)
        assert response.status_code == 400, form
        assert 'role="alert"' in response.get_data(as_text=True)
    assert LedgerEntry.select().count() == 1
    # A visitor never sees the banner or a CSRF token on store pages.
    auth.logout()
    assert "csrf" not in client.get("/apps").get_data(as_text=True)


def test_suspended_app_cannot_be_bought(client, auth, listing):
    App.update(status="suspended").where(App.id == listing.id).execute()
    admin = factories.customer_admin()
    auth.login(admin.email)
    response = auth.post("/apps/paid-app/buy")
    assert response.status_code == 409 and "suspended" in response.get_data(as_text=True)
