"""The whole purchase against the Stripe sandbox, through HTTP as a browser would go
(QUALITY.md 16, 20–22): Connect onboarding, Buy, the hosted checkout, webhooks, the ledger."""
import re
import threading

import pytest

from market.billing import connect, gateway
from market.core.clock import format_day
from models import CheckoutAttempt, Developer, LedgerEntry, OutboxMail, Plan, StripeEvent, Subscription
from tests import factories
from tests.billing.conftest import onboard_developer, sandbox_config


@pytest.fixture
def app_config(sandbox, live_port):
    return sandbox_config(sandbox, live_port)


@pytest.fixture
def shop(market):
    return make_shop(market)


def make_shop(market):
    """A paid app of an onboarded developer and a customer company's admin."""
    dev_user = factories.developer_user(email="dev@example.test")
    developer = Developer.get_by_id(dev_user.developer_id)
    listing = factories.app_listing(developer_obj=developer, price_ore=19900, slug="time-tracker",
                                    name="Time Tracker")
    onboard_developer(market, developer, dev_user.email)
    assert Developer.get_by_id(developer.id).payouts_enabled  # told by account.updated
    buyer = factories.customer_admin(email="buyer@example.test")
    return listing, Plan.get(Plan.app == listing), buyer


def pay(live, checkout_url, card="4242 4242 4242 4242"):
    """Fill in the sandbox's hosted checkout page."""
    http = live.browser()
    page = http.get(checkout_url, timeout=10)
    assert page.status_code == 200 and ("Subscribe" in page.text or "Prenumerera" in page.text)  # the buyer's language
    action = re.search(r'<form method=post action="([^"]+)"', page.text).group(1)
    response = http.post(live.sandbox.url + action, timeout=30, allow_redirects=False,
                         data={"card_number": card, "exp": "12/34", "cvc": "123", "name": "Anna Andersson"})
    return http, response


def buy(live, http, slug, plan=None):
    data = {"plan": str(plan)} if plan else {}
    return live.post(http, f"/apps/{slug}/buy", data)


def test_whole_purchase_through_http(market, shop):
    listing, plan, buyer = shop
    http = market.login(buyer.email)
    response = buy(market, http, listing.slug)
    assert response.status_code == 303
    checkout_url = response.headers["Location"]
    assert checkout_url.startswith(market.sandbox.url + "/c/pay/cs_")
    _, paid = pay(market, checkout_url)
    assert paid.status_code == 303
    back = paid.headers["Location"]
    assert back.startswith(f"{market.url}/apps/{listing.slug}/bought?session_id=cs_")
    market.settle()
    page = http.get(back, timeout=10)
    assert "Activate" in page.text and f'action="/apps/{listing.slug}/activate"' in page.text
    sub = Subscription.get(Subscription.company == buyer.company_id)
    assert (sub.status, sub.app_id, sub.plan_id, sub.price_ore) == ("active", listing.id, plan.id, 19900)
    assert sub.current_period_end > sub.current_period_start
    assert CheckoutAttempt.get().status == "complete"
    # QUALITY.md 21: the fee percent and the destination Stripe was given.
    stripe_sub = gateway.stripe_client(market.app.config).v1.subscriptions.retrieve(sub.stripe_subscription_id)
    assert float(stripe_sub.application_fee_percent) == 40.0
    assert stripe_sub.transfer_data.destination == listing.developer.stripe_account_id
    # QUALITY.md 22 to the öre at 25 % moms: net 19900, VAT 4975, gross 24875.
    entry = LedgerEntry.get()
    assert (entry.net_ore, entry.moms_ore, entry.gross_ore) == (19900, 4975, 24875)
    assert (entry.developer_share_ore, entry.platform_fee_ore) == (14925, 4975)
    assert entry.stripe_fee_ore == 9950 and entry.fee_mismatch is False
    assert entry.developer_share_ore + entry.platform_fee_ore + entry.moms_ore == entry.gross_ore
    assert entry.stripe_invoice_id.startswith("in_") and entry.stripe_charge_id.startswith("ch_")
    # My apps shows it, one row with the app's slug.
    my_apps = http.get(market.url + "/account/apps", timeout=10).text
    assert re.search(rf'<tr data-app="{listing.slug}">.*?badge-ok">Active<', my_apps, re.S)
    # Buying again: the company already has it.
    again = buy(market, http, listing.slug)
    assert again.status_code == 303 and again.headers["Location"].endswith("/account/apps")


def test_replaying_every_delivered_webhook_changes_nothing(market, shop):
    import json

    from tests.billing.conftest import sign

    listing, plan, buyer = shop
    http = market.login(buyer.email)
    pay(market, buy(market, http, listing.slug).headers["Location"])
    market.settle()

    def snapshot():
        return (list(Subscription.select().dicts()), list(LedgerEntry.select().dicts()),
                list(CheckoutAttempt.select().dicts()), list(Developer.select().dicts()),
                StripeEvent.select().count(), list(OutboxMail.select().dicts()))

    before = snapshot()
    assert before[0] and before[1]
    # Issue P 7: one receipt of the sandbox's real invoice (its own lines and taxes), to the öre.
    receipts = [m for m in before[5] if m["to"] == buyer.email and "eceipt" in m["subject"]]
    assert len(receipts) == 1 and receipts[0]["subject"] == f"Receipt: your company bought {listing.name}"
    assert "net 199 kr, VAT 25 % 49.75 kr, gross 248.75 kr" in receipts[0]["body"]
    assert f"org. nr {market.app.config['PLATFORM_ORG_NUMBER']}" in receipts[0]["body"]
    platform = market.app.config["STRIPE_WEBHOOK_SECRET"].split(",")[0]
    connect = market.app.config["STRIPE_CONNECT_WEBHOOK_SECRET"].split(",")[0]
    client = market.app.test_client()
    replayed = 0
    for row in StripeEvent.select():
        body = row.payload
        path, secret = ("/stripe/webhook?connect=1", connect) if row.account else ("/stripe/webhook", platform)
        response = client.post(path, data=body, content_type="application/json",
                               headers={"Stripe-Signature": sign(body, secret)})
        assert response.status_code == 200
        assert json.loads(response.data)["outcome"] == "duplicate"
        replayed += 1
    assert replayed >= 5
    assert snapshot() == before


def test_declined_card_buys_nothing(market, shop):
    listing, plan, buyer = shop
    http = market.login(buyer.email)
    checkout_url = buy(market, http, listing.slug).headers["Location"]
    _, refused = pay(market, checkout_url, card="4000 0000 0000 0002")
    assert refused.status_code == 402 and "declined" in refused.text
    market.settle()
    assert Subscription.select().count() == 0 and LedgerEntry.select().count() == 0
    # The session stays open, so the next Buy goes back to it.
    assert buy(market, http, listing.slug).headers["Location"] == checkout_url


def test_3d_secure_step(market, shop):
    listing, plan, buyer = shop
    http = market.login(buyer.email)
    checkout_url = buy(market, http, listing.slug).headers["Location"]
    browser, step = pay(market, checkout_url, card="4000 0025 0000 3155")
    assert step.status_code == 200 and "Complete authentication" in step.text
    assert Subscription.select().count() == 0
    action = re.search(r'<form method=post action="([^"]+)"', step.text).group(1)
    done = browser.post(market.sandbox.url + action, data={"action": "complete"}, timeout=30,
                        allow_redirects=False)
    assert done.status_code == 303
    market.settle()
    assert Subscription.get().status == "active"
    assert LedgerEntry.select().count() == 1


def test_trial_once_per_company_and_app(market, shop):
    listing, plan, buyer = shop
    Plan.update(trial_days=14).where(Plan.id == plan.id).execute()
    http = market.login(buyer.email)
    pay(market, buy(market, http, listing.slug).headers["Location"])
    market.settle()
    sub = Subscription.get()
    assert sub.status == "trialing" and sub.trial_end is not None
    assert LedgerEntry.select().count() == 0  # nothing was paid yet
    assert "Trial until " in http.get(market.url + "/account/apps", timeout=10).text
    # Canceled at Stripe: a second Buy of the same app gets no second trial.
    gateway.stripe_client(market.app.config).v1.subscriptions.cancel(sub.stripe_subscription_id)
    market.settle()
    assert Subscription.get_by_id(sub.id).status == "canceled"
    checkout_url = buy(market, http, listing.slug).headers["Location"]
    session_id = checkout_url.rsplit("/", 1)[1]
    session = gateway.stripe_client(market.app.config).v1.checkout.sessions.retrieve(session_id)
    assert session.amount_total == 24875  # due today: no trial


def test_double_buy_sends_one_key_and_opens_one_session(market, shop):
    listing, plan, buyer = shop
    http = market.login(buyer.email)
    second_tab = market.login(buyer.email)
    # The sandbox holds the first request a moment, so both Buys are in flight together.
    market.sandbox.delay("/v1/checkout/sessions", 0.5)
    results = []

    def press(session):
        results.append(buy(market, session, listing.slug))

    threads = [threading.Thread(target=press, args=(s,)) for s in (http, second_tab)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert [r.status_code for r in results] == [303, 303]
    assert results[0].headers["Location"] == results[1].headers["Location"]
    assert CheckoutAttempt.select().count() == 1
    creates = [r for r in market.sandbox.requests(path="/v1/checkout/sessions", method="POST")]
    keys = {r["idempotency_key"] for r in creates}
    assert len(keys) == 1
    key = keys.pop()
    assert key == gateway.idempotency_key("checkout", buyer.company_id, listing.id, plan.id, 1)
    # A later double click sends nothing new: the open session is reused.
    assert buy(market, http, listing.slug).headers["Location"] == results[0].headers["Location"]
    assert len(market.sandbox.requests(path="/v1/checkout/sessions", method="POST")) == len(creates)
    # A different plan expires the open session first and opens attempt 2.
    other = Plan.create(app=listing, name="Pro", price_ore=39900, position=1)
    moved = buy(market, http, listing.slug, plan=other.id)
    assert moved.headers["Location"] != results[0].headers["Location"]
    old = gateway.stripe_client(market.app.config).v1.checkout.sessions.retrieve(
        results[0].headers["Location"].rsplit("/", 1)[1])
    assert old.status == "expired"
    attempts = list(CheckoutAttempt.select().order_by(CheckoutAttempt.attempt))
    assert [(a.attempt, a.status) for a in attempts] == [(1, "expired"), (2, "open")]


def test_buy_is_refused_while_the_developer_cannot_be_paid(market):
    developer = factories.developer()
    listing = factories.app_listing(developer_obj=developer, price_ore=19900)
    buyer = factories.customer_admin()
    http = market.login(buyer.email)
    refused = buy(market, http, listing.slug)
    assert refused.status_code == 409 and "payouts" in refused.text
    connect.ensure_connect_account(market.app.config, developer, "x@example.test")  # not onboarded
    refused = buy(market, http, listing.slug)
    assert refused.status_code == 409
    assert market.sandbox.requests(path="/v1/checkout/sessions", method="POST") == []
    assert CheckoutAttempt.select().count() == 0


def test_renewal_adds_a_ledger_row_and_a_failed_one_starts_the_grace(market, shop):
    listing, plan, buyer = shop
    http = market.login(buyer.email)
    pay(market, buy(market, http, listing.slug).headers["Location"])
    market.settle()
    first = Subscription.get()
    market.sandbox.advance(days=31)
    renewed = Subscription.get_by_id(first.id)
    assert renewed.status == "active" and renewed.current_period_start > first.current_period_start
    assert LedgerEntry.select().count() == 2
    assert {e.developer_share_ore for e in LedgerEntry.select()} == {14925}
    renewal_mail = list(OutboxMail.select().where(OutboxMail.to == buyer.email, OutboxMail.subject.contains("renewed")))
    assert len(renewal_mail) == 1 and "net 199 kr, VAT 25 % 49.75 kr, gross 248.75 kr" in renewal_mail[0].body
    assert f"runs until {format_day(renewed.current_period_end, 'en')}" in renewal_mail[0].body
    # The next renewal fails: past_due with the grace counted from the first failure.
    from models import Company

    market.sandbox.set_card_behavior(Company.get_by_id(buyer.company_id).stripe_customer_id, "fail")
    market.sandbox.advance(days=31)
    due = Subscription.get_by_id(first.id)
    assert due.status == "past_due" and due.past_due_since is not None
    assert LedgerEntry.select().count() == 2
    assert "update your card by" in http.get(market.url + "/account/apps", timeout=10).text
    failed = OutboxMail.select().where(OutboxMail.to == buyer.email, OutboxMail.subject.contains("failed"))
    assert failed.count() == 1  # told once, though Stripe sends a failure event per attempt
