"""Connect onboarding through the market's pages, catalogue sync, cancel at period end and
the demo's preparation, against the Stripe sandbox."""
import re

import pytest

from market.billing import gateway
from market.jobs import stripe_setup
from models import App, Developer, MarketSetting, Plan, Subscription, User
from tests import factories
from tests.billing.conftest import sandbox_config
from tests.billing.test_purchase import buy, make_shop, pay
from tests.english import day


@pytest.fixture
def app_config(sandbox, live_port):
    return sandbox_config(sandbox, live_port)


def test_developer_sets_up_payouts_through_the_market(market):
    dev_user = factories.developer_user(email="vendor@example.test")
    http = market.login(dev_user.email)
    page = http.get(market.url + "/developer/payouts", timeout=10).text
    assert "Set up payouts" in page
    response = market.post(http, "/developer/payouts")
    assert response.status_code == 303
    link = response.headers["Location"]
    assert link.startswith(market.sandbox.url + "/connect/onboarding/")
    account_id = Developer.get_by_id(dev_user.developer_id).stripe_account_id
    assert account_id.startswith("acct_")
    # Pressing it again (or an expired link's refresh) reuses the one account.
    again = market.post(http, "/developer/payouts")
    refreshed = http.get(market.url + "/developer/payouts/refresh", timeout=10, allow_redirects=False)
    assert again.status_code == 303 and refreshed.status_code == 303
    assert refreshed.headers["Location"].startswith(market.sandbox.url + "/connect/onboarding/")
    assert len(market.sandbox.requests(path="/v1/accounts", method="POST")) == 1
    assert Developer.get_by_id(dev_user.developer_id).payouts_enabled is False
    # The hosted form, submitted like a browser, returns to the payouts page.
    form = http.get(link, timeout=10).text
    action = re.search(r'<form[^>]*action="([^"]+)"', form).group(1)
    fields = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', form))
    back = http.post(market.sandbox.url + action, data=fields, timeout=10, allow_redirects=False)
    assert back.headers["Location"] == market.url + "/developer/payouts"
    market.settle()
    assert Developer.get_by_id(dev_user.developer_id).payouts_enabled is True
    assert "Payouts are set up" in http.get(back.headers["Location"], timeout=10).text


def test_stripe_sync_is_idempotent_and_a_price_change_makes_a_new_price(market, runner):
    developer = factories.developer()
    listing = factories.app_listing(developer_obj=developer, price_ore=9900)
    factories.app_listing(slug="free-one")  # free apps have nothing at Stripe
    result = runner.invoke(args=["stripe-sync"])
    assert result.exit_code == 0, result.output
    plan = Plan.get(Plan.app == listing)
    first_price = plan.stripe_price_id
    assert first_price and App.get_by_id(listing.id).stripe_product_id
    assert App.get(App.slug == "free-one").stripe_product_id is None
    assert MarketSetting.get(MarketSetting.name == "stripe_tax_rate_id").value.startswith("txr_")
    posts = len(market.sandbox.requests(method="POST"))
    assert runner.invoke(args=["stripe-sync"]).exit_code == 0
    assert len(market.sandbox.requests(method="POST")) == posts  # nothing missing, nothing sent
    Plan.update(price_ore=12900, stripe_price_id=None).where(Plan.id == plan.id).execute()
    assert runner.invoke(args=["stripe-sync"]).exit_code == 0
    new_price = Plan.get_by_id(plan.id).stripe_price_id
    assert new_price and new_price != first_price
    price = gateway.stripe_client(market.app.config).v1.prices.retrieve(new_price)
    assert (price.unit_amount, price.currency, price.recurring.interval) == (12900, "sek", "month")


def test_cancel_at_period_end_through_stripe(market):
    listing, plan, buyer = make_shop(market)
    http = market.login(buyer.email)
    pay(market, buy(market, http, listing.slug).headers["Location"])
    market.settle()
    response = market.post(http, f"/account/apps/{listing.slug}/cancel")
    assert response.status_code == 303
    market.settle()
    sub = Subscription.get()
    stripe_sub = gateway.stripe_client(market.app.config).v1.subscriptions.retrieve(sub.stripe_subscription_id)
    assert stripe_sub.cancel_at_period_end is True
    assert sub.cancel_at_period_end is True and sub.status == "active"
    page = http.get(market.url + "/account/apps", timeout=10).text
    assert f"Cancels on {day(sub.current_period_end)}" in page
    keys = {r["idempotency_key"] for r in market.sandbox.requests(
        path=f"/v1/subscriptions/{sub.stripe_subscription_id}", method="POST")}
    # One key, naming the state the cancellation started from (so a later undo and cancel again
    # are new requests, while a double click is the same one).
    assert len(keys) == 1
    assert keys.pop().startswith(gateway.idempotency_key("cancel", sub.stripe_subscription_id) + ":")


def test_prepare_demo_onboards_the_demo_developer_and_replaces_its_endpoints(market):
    developer = factories.developer(name="Demo Developer AB")
    factories.user(email="developer@demo.test", developer=developer)
    listing = factories.app_listing(developer_obj=developer, price_ore=19900, slug="time-tracker-pro")
    # Every seeded developer, not only the demo's, can be paid (issue P): all their apps can be bought.
    vendor = factories.developer(name="Nordlys Software AB")
    factories.user(email="dev.0001@vendors.demo.test", developer=vendor)
    factories.app_listing(developer_obj=vendor, price_ore=9900, slug="lonekollen")
    stranger = factories.developer(name="Registered Later AB")
    factories.user(email="someone@example.com", developer=stranger)
    summary = stripe_setup.prepare_demo(market.app.config, market.url + "/stripe/webhook")
    market.app.config["STRIPE_WEBHOOK_SECRET"] = summary["webhook_secret"]
    market.app.config["STRIPE_CONNECT_WEBHOOK_SECRET"] = summary["connect_webhook_secret"]
    market.settle()
    developer = Developer.get_by_id(developer.id)
    assert developer.stripe_account_id.startswith("acct_") and developer.payouts_enabled
    assert Plan.get(Plan.app == listing).stripe_price_id
    endpoints = gateway.stripe_client(market.app.config).v1.webhook_endpoints.list().data
    assert sorted(e.url for e in endpoints) == [market.url + "/stripe/webhook",
                                                market.url + "/stripe/webhook?connect=1"]
    # And a customer can buy time-tracker-pro with the test card.
    buyer = factories.customer_admin()
    assert User.get_by_id(buyer.id).is_company_admin
    http = market.login(buyer.email)
    pay(market, buy(market, http, "time-tracker-pro").headers["Location"])
    market.settle()
    assert Subscription.get().status == "active"
    vendor = Developer.get_by_id(vendor.id)
    assert vendor.stripe_account_id.startswith("acct_") and vendor.payouts_enabled
    assert Developer.get_by_id(stranger.id).stripe_account_id is None  # only the seeded ones
    pay(market, buy(market, http, "lonekollen").headers["Location"])
    market.settle()
    assert Subscription.select().where(Subscription.status == "active").count() == 2


def test_sweep_command(runner):
    result = runner.invoke(args=["sweep"])
    assert result.exit_code == 0 and "entitlements_ended" in result.output


def test_sandbox_sends_each_kind_of_event_to_its_endpoint_and_foreign_ones_get_2xx(market):
    """Issue O 5 and S 6 against the sandbox: connected accounts' events go to `?connect=1`
    signed with the Connect endpoint's secret, the platform's to the platform endpoint, each
    taken (2xx); and events about a subscription the market did not create (made in the Stripe
    account directly, no metadata) are answered 2xx as foreign, not 503 for three days."""
    from market.billing import connect

    developer = factories.developer(name="Wired AB")
    account_id = connect.ensure_connect_account(market.app.config, developer, "wired@example.test")
    market.sandbox.onboard(account_id)
    client = gateway.stripe_client(market.app.config)
    product = client.v1.products.create({"name": "Not the market's"})
    price = client.v1.prices.create({"product": product.id, "unit_amount": 5000, "currency": "sek",
                                     "recurring": {"interval": "month"}})
    customer = client.v1.customers.create({"email": "elsewhere@example.com", "payment_method": "pm_card_visa"})
    pm = client.v1.payment_methods.list({"customer": customer.id}).data[0]
    client.v1.subscriptions.create({"customer": customer.id, "default_payment_method": pm.id,
                                    "items": [{"price": price.id}]})
    market.settle()
    assert Developer.get_by_id(developer.id).payouts_enabled is True  # account.updated on ?connect=1
    deliveries = market.sandbox.deliveries()
    by_url = {}
    for delivery in deliveries:
        by_url.setdefault(delivery["url"], set()).add(delivery["type"])
        assert delivery["status"] == "succeeded", delivery
        assert all(a["status"] == 200 for a in delivery["attempts"]), delivery
    assert "account.updated" in by_url[market.url + "/stripe/webhook?connect=1"]
    assert "account.updated" not in by_url[market.url + "/stripe/webhook"]
    assert {"customer.subscription.created", "invoice.paid"} <= by_url[market.url + "/stripe/webhook"]
    assert not Subscription.select().where(Subscription.stripe_subscription_id.is_null(False)).exists()
