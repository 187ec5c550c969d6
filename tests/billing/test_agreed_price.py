"""The price agreed is the price paid (issue N, attacks 4, 5, 6 and 9; QUALITY.md 20, 40, 43),
over HTTP against the Stripe sandbox: a pending downgrade keeps the price chosen whatever the
developer does to the plan's price, and only retiring the chosen plan drops it (the customer
told); a subscriber keeps its price when the plan's price is edited; an open Checkout Session at
another price is expired before a new Buy; retiring the last plan ends every subscription by
the developer's choice and tells every subscriber; a slow Stripe holds no database lock."""
import datetime
import re
import threading
import time

import pytest

from market.billing import gateway
from market.catalog import listings, revisions
from market.jobs import sweep
from models import (
    App,
    CheckoutAttempt,
    Developer,
    LedgerEntry,
    OutboxMail,
    PendingPlanChange,
    Plan,
    Subscription,
    db,
)
from tests import factories
from tests.billing.conftest import sandbox_config
from tests.billing.test_downgrade import advance_to, subscription_updates
from tests.billing.test_lifecycle import bought, row_of
from tests.billing.test_purchase import buy, make_shop
from tests.english import day


@pytest.fixture
def app_config(sandbox, live_port):
    return sandbox_config(sandbox, live_port)


def developer_login(market, listing):
    """The developer's browser: logged in, with a form token from its plans page."""
    http = market.browser()
    page = http.get(market.url + "/login", timeout=10)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    response = http.post(market.url + "/login", timeout=10, allow_redirects=False,
                         data={"email": "dev@example.test", "password": factories.PASSWORD, "csrf_token": token})
    assert response.status_code == 303
    page = http.get(market.url + f"/developer/apps/{listing.slug}/plans", timeout=10)
    assert page.status_code == 200
    http.csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return http


def set_price(market, dev, listing, plan, kr):
    """The developer edits the plan's price on the plans page; on a published app that is a
    revision (issue N, Deliver 2), which the admin approves (tests/catalog/test_revisions.py)."""
    response = market.post(dev, f"/developer/apps/{listing.slug}/plans/{plan.id}",
                           {"name": plan.name, "price_kr": kr, "trial_days": str(plan.trial_days)})
    assert response.status_code == 303, response.text
    if revisions.pending(listing) is not None:
        revisions.approve(App.get_by_id(listing.id))
    assert Plan.get_by_id(plan.id).price_ore == int(kr) * 100


def my_apps_row(market, http, listing):
    return row_of(http.get(market.url + "/account/apps", timeout=10).text, listing.slug)


def next_charge(row):
    return re.search(r'class="next-charge">([^<]*)<', row).group(1)


def mails_to(email):
    """What the customer was told, besides the receipt of its purchase (issue P 7)."""
    return list(OutboxMail.select().where(OutboxMail.to == email, ~OutboxMail.subject.contains("eceipt"))
                .order_by(OutboxMail.id))


# ---------------------------------------------------------------------------- attack 4
def test_a_pending_downgrade_is_charged_at_the_price_chosen_after_the_developer_raises_it(market):
    listing, standard, buyer, http, sub = bought(market)
    lite = Plan.create(app=listing, name="Lite", price_ore=4900, position=1)
    dev = developer_login(market, listing)
    assert market.post(http, f"/account/apps/{listing.slug}/plan", {"plan": str(lite.id)}).status_code == 303
    chosen = PendingPlanChange.get(PendingPlanChange.subscription == sub.id)
    chosen_price = Plan.get_by_id(lite.id).stripe_price_id
    assert (chosen.stripe_price_id, chosen.price_ore) == (chosen_price, 4900)
    end = Subscription.get_by_id(sub.id).current_period_end

    # The developer sets Lite to 999 kr: new buyers pay that, this customer still 49 kr.
    set_price(market, dev, listing, lite, "999")
    row = my_apps_row(market, http, listing)
    assert next_charge(row) == f"61.25 kr incl. VAT on {day(end)}"
    assert "1 248,75" not in row
    assert "49 kr/month excl. VAT" in row

    # The sweep switches the Stripe subscription to exactly the price chosen.
    advance_to(market, end - datetime.timedelta(minutes=30))
    assert sweep.run(market.app.config, now=end - datetime.timedelta(minutes=30))["plan_changes_applied"] == 1
    market.settle()
    stripe_sub = gateway.stripe_client(market.app.config).v1.subscriptions.retrieve(sub.stripe_subscription_id)
    item_price = stripe_sub["items"]["data"][0]["price"]
    assert (item_price["id"], item_price["unit_amount"]) == (chosen_price, 4900)
    switched = Subscription.get_by_id(sub.id)
    assert (switched.plan_id, switched.price_ore) == (lite.id, 4900)

    # The renewal charges 49 kr plus moms, and the next one is announced at that price too.
    market.sandbox.advance(hours=1)
    renewal = LedgerEntry.select().order_by(LedgerEntry.id.desc()).first()
    assert LedgerEntry.select().count() == 2 and (renewal.net_ore, renewal.gross_ore) == (4900, 6125)
    assert next_charge(my_apps_row(market, http, listing)).startswith("61.25 kr incl. VAT")


def test_retiring_the_chosen_plan_drops_the_change_and_tells_the_customer(market):
    listing, standard, buyer, http, sub = bought(market)
    lite = Plan.create(app=listing, name="Lite", price_ore=4900, position=1)
    dev = developer_login(market, listing)
    assert market.post(http, f"/account/apps/{listing.slug}/plan", {"plan": str(lite.id)}).status_code == 303
    end = Subscription.get_by_id(sub.id).current_period_end
    # Editing the price does not drop it; only the Retire button does.
    set_price(market, dev, listing, lite, "59")
    assert PendingPlanChange.get(PendingPlanChange.subscription == sub.id).dropped_at is None
    assert 'data-notice="plan-retired"' not in my_apps_row(market, http, listing)
    assert not mails_to(buyer.email)

    assert market.post(dev, f"/developer/apps/{listing.slug}/plans/{lite.id}/retire").status_code == 303
    pending = PendingPlanChange.get(PendingPlanChange.subscription == sub.id)
    assert pending.dropped_at is not None
    told = mails_to(buyer.email)
    assert len(told) == 1 and "Lite" in told[0].subject and "will not happen" in told[0].subject
    row = my_apps_row(market, http, listing)
    assert 'data-notice="plan-retired"' in row
    assert "Changes to" not in row
    assert next_charge(row) == f"248.75 kr incl. VAT on {day(end)}"

    # The sweep asks Stripe for nothing: the renewal is on Standard at 199 kr.
    updates = len(subscription_updates(market, sub))
    advance_to(market, end - datetime.timedelta(minutes=30))
    assert sweep.run(market.app.config, now=end - datetime.timedelta(minutes=30))["plan_changes_applied"] == 0
    assert len(subscription_updates(market, sub)) == updates
    market.sandbox.advance(hours=1)
    renewal = LedgerEntry.select().order_by(LedgerEntry.id.desc()).first()
    assert LedgerEntry.select().count() == 2 and renewal.net_ore == 19900
    assert Subscription.get_by_id(sub.id).plan_id == standard.id
    # Once the period it was for has passed, the notice goes.
    sweep.run(market.app.config, now=end + datetime.timedelta(hours=1))
    assert 'data-notice="plan-retired"' not in my_apps_row(market, http, listing)


def test_a_subscriber_keeps_its_price_when_the_developer_edits_the_plan(market):
    listing, standard, buyer, http, sub = bought(market)
    dev = developer_login(market, listing)
    set_price(market, dev, listing, standard, "299")
    assert Plan.get_by_id(standard.id).stripe_price_id is None  # a new Stripe price for new buyers
    row = my_apps_row(market, http, listing)
    assert "199 kr/month excl. VAT" in row and next_charge(row).startswith("248.75 kr")
    market.sandbox.advance(days=31)
    renewal = LedgerEntry.select().order_by(LedgerEntry.id.desc()).first()
    assert LedgerEntry.select().count() == 2 and renewal.net_ore == 19900
    # A new buyer pays the new price.
    newcomer = factories.customer_admin(email="newcomer@example.test")
    checkout_url = buy(market, market.login(newcomer.email), listing.slug).headers["Location"]
    session = gateway.stripe_client(market.app.config).v1.checkout.sessions.retrieve(checkout_url.rsplit("/", 1)[1])
    assert session.amount_total == 37375


# ---------------------------------------------------------------------------- attack 5
def test_an_open_checkout_at_the_old_price_is_expired_before_a_new_buy(market):
    listing, plan, buyer = make_shop(market)
    http = market.login(buyer.email)
    client = gateway.stripe_client(market.app.config)
    first = buy(market, http, listing.slug).headers["Location"]
    first_id = first.rsplit("/", 1)[1]
    assert client.v1.checkout.sessions.retrieve(first_id).amount_total == 24875
    # Same price: the open session is reused.
    assert buy(market, http, listing.slug).headers["Location"] == first

    dev = developer_login(market, listing)
    set_price(market, dev, listing, plan, "99")
    second = buy(market, http, listing.slug)
    assert second.status_code == 303
    second_url = second.headers["Location"]
    assert second_url != first
    assert client.v1.checkout.sessions.retrieve(first_id).status == "expired"
    assert client.v1.checkout.sessions.retrieve(second_url.rsplit("/", 1)[1]).amount_total == 12375
    expiries = market.sandbox.requests(path=f"/v1/checkout/sessions/{first_id}/expire", method="POST")
    assert [r["idempotency_key"] for r in expiries] == [gateway.idempotency_key("expire", first_id)]
    attempts = list(CheckoutAttempt.select().order_by(CheckoutAttempt.attempt))
    assert [(a.attempt, a.status) for a in attempts] == [(1, "expired"), (2, "open")]
    assert attempts[1].stripe_price_id == Plan.get_by_id(plan.id).stripe_price_id != attempts[0].stripe_price_id
    # The old page cannot be paid any more.
    page = market.browser().get(first, timeout=10)
    assert "Subscribe" not in page.text


def test_concurrent_buys_after_a_price_change_leave_one_open_session(market):
    listing, plan, buyer = make_shop(market)
    tabs = [market.login(buyer.email) for _ in range(4)]
    client = gateway.stripe_client(market.app.config)
    old = buy(market, tabs[0], listing.slug).headers["Location"]
    Plan.update(price_ore=14900, stripe_price_id=None).where(Plan.id == plan.id).execute()
    market.sandbox.delay("/v1/checkout/sessions", 0.5, count=4)
    results = []
    start = threading.Barrier(len(tabs))

    def press(http):
        start.wait(10)
        results.append(buy(market, http, listing.slug))

    threads = [threading.Thread(target=press, args=(tab,)) for tab in tabs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(r.status_code for r in results) == [303] * len(tabs)
    urls = {r.headers["Location"] for r in results}
    assert len(urls) == 1 and old not in urls
    assert client.v1.checkout.sessions.retrieve(old.rsplit("/", 1)[1]).status == "expired"
    assert client.v1.checkout.sessions.retrieve(urls.pop().rsplit("/", 1)[1]).status == "open"
    assert CheckoutAttempt.select().where(CheckoutAttempt.status == "open").count() == 1
    creates = [r for r in market.sandbox.requests(path="/v1/checkout/sessions", method="POST")
               if r["path"] == "/v1/checkout/sessions"]
    assert {r["idempotency_key"] for r in creates[1:]} == {
        gateway.idempotency_key("checkout", buyer.company_id, listing.id, plan.id, 2)}


# ---------------------------------------------------------------------------- attack 6
def test_retiring_the_last_plan_needs_the_choice_to_end_subscriptions_and_tells_every_subscriber(market):
    listing, standard, buyer, http, sub = bought(market)
    dev = developer_login(market, listing)
    end = Subscription.get_by_id(sub.id).current_period_end

    refused = market.post(dev, f"/developer/apps/{listing.slug}/plans/{standard.id}/retire")
    assert refused.status_code == 422
    assert "End those subscriptions" in refused.text and 'name="end_subscriptions"' in refused.text
    assert Plan.get_by_id(standard.id).active and not App.get_by_id(listing.id).is_free
    assert not Subscription.get_by_id(sub.id).cancel_at_period_end and not mails_to(buyer.email)

    done = market.post(dev, f"/developer/apps/{listing.slug}/plans/{standard.id}/retire",
                       {"end_subscriptions": "yes"})
    assert done.status_code == 303
    market.settle()
    assert not Plan.get_by_id(standard.id).active
    ending = Subscription.get_by_id(sub.id)
    assert ending.cancel_at_period_end
    stripe_sub = gateway.stripe_client(market.app.config).v1.subscriptions.retrieve(sub.stripe_subscription_id)
    assert stripe_sub["cancel_at_period_end"] is True
    told = mails_to(buyer.email)
    assert len(told) == 1 and "no longer sold" in told[0].subject
    row = my_apps_row(market, http, listing)
    assert 'data-notice="no-longer-sold"' in row and next_charge(row) == "—"
    # The subscriber cannot renew it, and no newcomer gets it free or buys it meanwhile.
    assert market.post(http, f"/account/apps/{listing.slug}/resume").status_code in (400, 403, 409, 422)
    assert not App.get_by_id(listing.id).is_free
    newcomer = factories.customer_admin(email="newcomer@example.test")
    other = market.login(newcomer.email)
    assert market.post(other, f"/apps/{listing.slug}/buy").status_code in (400, 403, 409, 422)
    App.update(landing_url="https://landing.example.test/").where(App.id == listing.id).execute()
    assert market.post(other, f"/apps/{listing.slug}/activate").status_code == 403
    assert not Subscription.select().where(Subscription.company == newcomer.company_id).exists()

    # The period ends: nothing more is charged, and only then is the app free for everyone.
    market.sandbox.advance(days=31)
    assert Subscription.get_by_id(sub.id).status == "canceled"
    assert LedgerEntry.select().count() == 1
    summary = sweep.run(market.app.config, now=end + datetime.timedelta(days=1))
    assert summary["unsold_apps_freed"] == 1 and App.get_by_id(listing.id).is_free


# ---------------------------------------------------------------------------- attack 9
def test_a_slow_stripe_during_buy_delays_no_other_write(market):
    listing, plan, buyer = make_shop(market)
    second_app = factories.app_listing(developer_obj=Developer.get_by_id(listing.developer_id), price_ore=9900,
                                       slug="second-app", name="Second App")
    http = market.login(buyer.email)
    second_tab = market.login(buyer.email)
    market.sandbox.delay("/v1/checkout/sessions", 4.0)
    slow = []
    started = time.monotonic()
    thread = threading.Thread(target=lambda: slow.append(buy(market, http, listing.slug)))
    thread.start()
    time.sleep(1.0)  # the Buy is now waiting for Stripe's answer
    assert thread.is_alive()

    # Another company's login writes a session row; the same company's Buy of another app
    # writes its own attempt: neither waits for the slow Stripe.
    before = time.monotonic()
    factories.customer_admin(email="someone@example.test")
    market.login("someone@example.test")
    other_buy = buy(market, second_tab, second_app.slug)
    took = time.monotonic() - before
    assert took < 2.0, f"other writes waited {took:.1f} s for the slow Stripe"
    assert other_buy.status_code == 303
    assert thread.is_alive(), "the slow Buy was expected to still be waiting"
    thread.join(30)
    assert slow[0].status_code == 303 and time.monotonic() - started >= 4.0
    assert CheckoutAttempt.select().where(CheckoutAttempt.status == "open").count() == 2


def test_a_plan_retired_another_way_still_drops_its_pending_changes_in_the_sweep(app):
    """The sweep's safety net: whatever retired the plan (a revision, a script), the change is
    dropped and the customer told, never applied."""
    listing = factories.app_listing(price_ore=19900)
    standard = Plan.get(Plan.app == listing)
    lite = Plan.create(app=listing, name="Lite", price_ore=4900, position=1, stripe_price_id="price_lite")
    admin = factories.customer_admin(email="told@example.test")
    end = datetime.datetime(2026, 12, 1, 12, 0)
    sub = factories.subscription(admin.company, listing, plan=standard, imported=False,
                                 stripe_subscription_id="sub_retired_1", current_period_end=end)
    PendingPlanChange.create(subscription=sub, plan=lite, stripe_price_id="price_lite", price_ore=4900,
                             effective_at=end)
    listings.retire_plan(listing, lite)
    summary = sweep.run(app.config, now=end - datetime.timedelta(minutes=30))
    assert summary["plan_changes_applied"] == 0
    assert PendingPlanChange.get(PendingPlanChange.subscription == sub.id).dropped_at is not None
    assert [m.subject for m in mails_to(admin.email)] == [f"{listing.name}: your plan change to Lite will not happen"]
    sweep.run(app.config, now=end - datetime.timedelta(minutes=20))
    assert len(mails_to(admin.email)) == 1  # told once


def test_a_stripe_failure_while_ending_unsold_subscriptions_is_finished_by_the_sweep(market):
    listing, standard, buyer, http, sub = bought(market)
    dev = developer_login(market, listing)
    market.sandbox.fail(f"/v1/subscriptions/{sub.stripe_subscription_id}", status=500, count=10)
    done = market.post(dev, f"/developer/apps/{listing.slug}/plans/{standard.id}/retire",
                       {"end_subscriptions": "yes"})
    assert done.status_code == 303
    assert not Plan.get_by_id(standard.id).active and not App.get_by_id(listing.id).is_free
    assert not Subscription.get_by_id(sub.id).cancel_at_period_end and not mails_to(buyer.email)
    market.sandbox.fail(f"/v1/subscriptions/{sub.stripe_subscription_id}", status=500, count=0)
    summary = sweep.run(market.app.config)
    market.settle()
    assert summary["unsold_subscriptions_ended"] == 1 and summary["unsold_apps_freed"] == 0
    assert Subscription.get_by_id(sub.id).cancel_at_period_end
    assert [m.subject for m in mails_to(buyer.email)] == [f"{listing.name} is no longer sold"]
    assert 'data-notice="no-longer-sold"' in my_apps_row(market, http, listing)


def test_the_guard_fails_a_stripe_call_made_inside_a_transaction(app, no_stripe_call_inside_a_transaction):
    """The autouse fixture of tests/conftest.py is what proves item 6 across the suite: it must
    catch a call made inside a transaction (and let one outside through to Stripe)."""
    client = gateway.stripe_client(app.config)
    with db.atomic():
        with pytest.raises(AssertionError, match="inside a database transaction"):
            client.v1.customers.retrieve("cus_missing")
    assert no_stripe_call_inside_a_transaction and "/v1/customers/cus_missing" in no_stripe_call_inside_a_transaction[0]
    no_stripe_call_inside_a_transaction.clear()
    with pytest.raises(gateway.InvalidRequestError):
        client.v1.customers.retrieve("cus_missing")  # outside: Stripe (the sandbox) answers
    assert not no_stripe_call_inside_a_transaction
