"""Who may Buy, cancel and set up payouts, and what the pages say (QUALITY.md 24, 30, 31)."""
import pytest

from models import CheckoutAttempt, Subscription, utcnow
from tests import factories
from tests.english import day


@pytest.fixture
def listing(app):
    developer = factories.developer(stripe_account_id="acct_pages", payouts_enabled=True)
    return factories.app_listing(developer_obj=developer, price_ore=19900, slug="paid-app", name="Paid App")


def test_visitor_buy_goes_to_login(client, auth, listing):
    response = auth.post("/apps/paid-app/buy")
    assert response.status_code == 303
    assert response.headers["Location"] == "/login?next=/apps/paid-app"
    assert CheckoutAttempt.select().count() == 0


def test_buy_without_csrf_token_is_refused(client, auth, listing):
    admin = factories.customer_admin()
    auth.login(admin.email)
    assert client.post("/apps/paid-app/buy").status_code == 400


def test_member_and_developer_get_a_clear_403(client, auth, listing):
    member = factories.user(company=factories.company(), company_role="member")
    auth.login(member.email)
    response = auth.post("/apps/paid-app/buy")
    assert response.status_code == 403
    assert "admins can buy" in response.get_data(as_text=True)
    auth.logout()
    developer = factories.developer_user()
    auth.login(developer.email)
    assert auth.post("/apps/paid-app/buy").status_code == 403
    assert CheckoutAttempt.select().count() == 0


def test_bad_plan_is_a_clear_400_and_extra_fields_are_ignored(client, auth, listing):
    admin = factories.customer_admin()
    auth.login(admin.email)
    for plan in ("abc", "999999", "-1", "1e3"):
        response = auth.post("/apps/paid-app/buy", {"plan": plan, "price": "0", "developer_id": "1"})
        assert response.status_code == 400, plan
        assert "Choose one of the app" in response.get_data(as_text=True)
    assert CheckoutAttempt.select().count() == 0


def test_another_apps_plan_is_refused(client, auth, listing):
    other = factories.app_listing(price_ore=100)
    from models import Plan

    admin = factories.customer_admin()
    auth.login(admin.email)
    response = auth.post("/apps/paid-app/buy", {"plan": str(Plan.get(Plan.app == other).id)})
    assert response.status_code == 400


def test_unknown_or_unpublished_app_is_404_and_free_app_is_not_bought(client, auth, listing):
    admin = factories.customer_admin()
    auth.login(admin.email)
    assert auth.post("/apps/no-such-app/buy").status_code == 404
    factories.app_listing(slug="draft-app", status="draft", price_ore=100)
    assert auth.post("/apps/draft-app/buy").status_code == 404
    factories.app_listing(slug="free-app")
    response = auth.post("/apps/free-app/buy")
    assert response.status_code == 400 and "free" in response.get_data(as_text=True)


def test_already_entitled_company_goes_to_my_apps(client, auth, listing):
    admin = factories.customer_admin()
    Subscription.create(company=admin.company, app=listing, status="active", price_ore=19900, imported=True)
    auth.login(admin.email)
    response = auth.post("/apps/paid-app/buy")
    assert response.status_code == 303 and response.headers["Location"] == "/account/apps"
    page = client.get("/account/apps").get_data(as_text=True)
    assert "already has Paid App" in page


def test_my_apps_lists_each_app_with_its_status_in_words(client, auth, listing):
    admin = factories.customer_admin()
    company = admin.company
    now = utcnow()
    trial_app = factories.app_listing(price_ore=5000, name="Trial App", slug="trial-app")
    due_app = factories.app_listing(price_ore=5000, name="Due App", slug="due-app")
    Subscription.create(company=company, app=listing, status="active", price_ore=19900, imported=True,
                        cancel_at_period_end=True, current_period_end=now.replace(year=now.year + 1))
    Subscription.create(company=company, app=trial_app, status="trialing", trial_end=now, imported=True)
    Subscription.create(company=company, app=due_app, status="past_due", past_due_since=now, imported=True)
    auth.login(admin.email)
    page = client.get("/account/apps").get_data(as_text=True)
    assert page.count("<tr data-app=") == 3
    # Status words as badges, the rest as a sentence (issue P replaced "trial ends on …").
    assert '<span class="badge badge-warn">Cancels</span> <span class="status-text">Cancels on ' in page
    assert f"Cancels on {day(now.replace(year=now.year + 1))}; it does not renew." in page
    assert f'<span class="badge badge-info">Trial</span> <span class="status-text">Trial until {day(now)}.</span>' in page
    assert '<span class="badge badge-bad">Payment failed</span> <span class="status-text">Update your card by' in page
    fragment = client.get("/account/apps", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in fragment and 'data-app="paid-app"' in fragment
    # Another company sees none of it.
    auth.logout()
    other = factories.customer_admin()
    auth.login(other.email)
    assert "data-app=" not in client.get("/account/apps").get_data(as_text=True)


def test_anonymous_pages_go_to_login(client):
    for path in ("/account/apps", "/developer/payouts", "/apps/paid-app/bought?session_id=x"):
        response = client.get(path, headers={"HX-Request": "true"})
        assert response.status_code == 303 and response.headers["Location"].startswith("/login?next="), path


def test_cancel_of_imported_subscription_and_who_may(client, auth, listing):
    admin = factories.customer_admin()
    member = factories.user(company=admin.company, company_role="member")
    sub = Subscription.create(company=admin.company, app=listing, status="active", price_ore=19900,
                              imported=True)
    auth.login(member.email)
    assert auth.post("/account/apps/paid-app/cancel").status_code == 403
    auth.logout()
    auth.login(admin.email)
    assert auth.post("/account/apps/free-nothing/cancel").status_code == 404
    response = auth.post("/account/apps/paid-app/cancel", {"status": "canceled"})
    assert response.status_code == 303
    row = Subscription.get_by_id(sub.id)
    assert row.cancel_at_period_end is True and row.status == "active"
    # Another company's admin cannot cancel it: it has no subscription of its own.
    auth.logout()
    other = factories.customer_admin()
    auth.login(other.email)
    assert auth.post("/account/apps/paid-app/cancel").status_code == 404


def test_return_and_cancel_pages(client, auth, listing):
    admin = factories.customer_admin()
    auth.login(admin.email)
    pending = client.get("/apps/paid-app/bought?session_id=cs_x").get_data(as_text=True)
    assert "Payment received, activating" in pending and 'data-hx-trigger="every 2s"' in pending
    assert "Refresh" in pending
    fragment = client.get("/apps/paid-app/bought?session_id=cs_x", headers={"HX-Request": "true"})
    assert "<html" not in fragment.get_data(as_text=True)
    Subscription.create(company=admin.company, app=listing, status="active", price_ore=19900)
    done = client.get("/apps/paid-app/bought?session_id=cs_x", headers={"HX-Request": "true"}).get_data(
        as_text=True)
    assert "every 2s" not in done and 'action="/apps/paid-app/activate"' in done
    canceled = client.get("/apps/paid-app/checkout-canceled").get_data(as_text=True)
    assert "Nothing was charged" in canceled


def test_payouts_page_is_for_developers(client, auth):
    customer = factories.customer_admin()
    auth.login(customer.email)
    assert client.get("/developer/payouts").status_code == 403
    assert auth.post("/developer/payouts").status_code == 403
    auth.logout()
    developer = factories.developer_user()
    auth.login(developer.email)
    page = client.get("/developer/payouts").get_data(as_text=True)
    assert "Set up payouts" in page and 'name="csrf_token"' in page
