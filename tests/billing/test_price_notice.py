"""Price changes with notice (issue U, Deliver 1), over HTTP against the Stripe sandbox: a new
price announced at least PRICE_NOTICE_DAYS ahead (30 accepted, 29 refused; a cut from
tomorrow) tells every subscriber at once (mail, app event, My apps), leaves each renewal before
the date at the old price and moves the first renewal on or after it; new buyers pay the current
price until the date (and are told, beside the plan and in Checkout), the new one after it; the
developer can withdraw it; a downgrade waiting keeps the price agreed."""
import datetime
import json
import re

import pytest

from market.billing import gateway, price_schedule
from market.core.clock import format_day, local_date, utcnow
from market.jobs import sweep
from models import (
    App,
    AppNotification,
    MarketSetting,
    OutboxMail,
    PendingPlanChange,
    Plan,
    PlanPriceChange,
    ScheduledPriceChange,
    Subscription,
)
from tests import factories
from tests.billing.conftest import sandbox_config
from tests.billing.test_agreed_price import developer_login, mails_to, my_apps_row, next_charge
from tests.billing.test_downgrade import advance_to, subscription_updates
from tests.billing.test_lifecycle import bought, stripe_invoices
from tests.billing.test_purchase import buy, make_shop, pay
from tests.english import day

HALF_HOUR = datetime.timedelta(minutes=30)


@pytest.fixture
def app_config(sandbox, live_port):
    return sandbox_config(sandbox, live_port)


def today():
    return local_date(utcnow())


def days_ahead(days):
    return (today() + datetime.timedelta(days=days)).isoformat()


def announce(market, dev, listing, plan, price_kr, effective_on):
    return market.post(dev, f"/developer/apps/{listing.slug}/plans/{plan.id}/price-change",
                       {"price_kr": price_kr, "effective_on": effective_on})


def subscriber(market, listing, email):
    """Another company buys the app through Checkout."""
    admin = factories.customer_admin(email=email)
    http = market.login(admin.email)
    pay(market, buy(market, http, listing.slug).headers["Location"])
    market.settle()
    return admin, http, Subscription.get(Subscription.company == admin.company_id)


def renewal_of(sub):
    row = Subscription.get_by_id(sub.id)
    return row.trial_end if row.status == "trialing" else row.current_period_end


def renew(market, subs):
    """Run the hourly sweep half an hour before the next renewal, then let it happen."""
    end = min(renewal_of(s) for s in subs)
    advance_to(market, end - HALF_HOUR)
    summary = sweep.run(market.app.config, now=end - HALF_HOUR)
    market.settle()
    market.sandbox.advance(hours=1)
    market.settle()
    return end, summary


def last_invoice_net(market, sub):
    newest = max(stripe_invoices(market, sub), key=lambda i: (i.created, i.id))
    return newest.subtotal


def notice_updates(market, sub):
    return [r for r in subscription_updates(market, sub)
            if r["idempotency_key"] and ":price-notice:" in r["idempotency_key"]]


def events(kind):
    return [json.loads(n.payload) for n in AppNotification.select().where(AppNotification.type == kind)
            .order_by(AppNotification.id)]


def store_generation():
    return int(MarketSetting.get_by_id("store_generation").value)


# ---------------------------------------------------------------------------- the notice
def test_a_rise_30_days_ahead_keeps_the_next_invoice_and_moves_the_first_renewal_after_the_date(market):
    listing, standard, buyer = make_shop(market)
    Plan.update(trial_days=14).where(Plan.id == standard.id).execute()
    App.update(webhook_url="http://127.0.0.1:9/notifications").where(App.id == listing.id).execute()
    factories.oauth_client(listing)
    http = market.login(buyer.email)
    pay(market, buy(market, http, listing.slug).headers["Location"])
    market.settle()
    sub = Subscription.get(Subscription.company == buyer.company_id)
    second, second_http, second_sub = subscriber(market, listing, "second@example.test")
    assert {Subscription.get_by_id(s.id).status for s in (sub, second_sub)} == {"trialing"}
    dev = developer_login(market, listing)

    # 29 days is too little notice: refused with the reason, nothing changed, no one told.
    refused = announce(market, dev, listing, standard, "249", days_ahead(29))
    assert refused.status_code == 422
    assert "30 days' notice" in refused.text and days_ahead(30) in refused.text
    assert not ScheduledPriceChange.select().exists() and not mails_to(buyer.email) and not events(
        price_schedule.SCHEDULED)

    # 30 days is accepted; every subscriber is told at once.
    effective_on = days_ahead(30)
    assert announce(market, dev, listing, standard, "249", effective_on).status_code == 303
    change = ScheduledPriceChange.get()
    assert (change.old_price_ore, change.new_price_ore, change.effective_on.isoformat()) == (19900, 24900, effective_on)
    for person in (buyer, second):
        told = mails_to(person.email)
        # The factories' people read English: the mail is written in its reader's language.
        assert len(told) == 1 and "249 kr/month excl. VAT" in told[0].subject
        assert format_day(change.effective_on, "en") in told[0].subject
    scheduled = events(price_schedule.SCHEDULED)
    assert sorted(e["company"] for e in scheduled) == sorted(
        Subscription.get_by_id(s.id).company.public_id for s in (sub, second_sub))
    assert {(e["data"]["old_amount"], e["data"]["new_amount"], e["data"]["effective_on"]) for e in scheduled} == {
        (19900, 24900, effective_on)}
    row = my_apps_row(market, http, listing)
    notice = re.search(r'data-notice="price-change">(.*?)</li>', row, re.S).group(1)
    assert "249 kr/month excl. VAT" in notice and day(datetime.date.fromisoformat(effective_on)) in notice
    # The next invoice (the trial's end, before the date) is at the old price.
    trial_end = renewal_of(sub)
    assert next_charge(row) == f"248.75 kr incl. VAT on {day(trial_end)}"
    # The plan is not a revision: the published price stays until the date, the coming one beside it.
    assert Plan.get_by_id(standard.id).price_ore == 19900
    plans_page = dev.get(market.url + f"/developer/apps/{listing.slug}/plans", timeout=10).text
    assert f"From {day(datetime.date.fromisoformat(effective_on))}: 249 kr/month excl. VAT" in plans_page

    # The renewal before the date: old price for both, Stripe asked nothing.
    end, summary = renew(market, [sub, second_sub])
    assert end < price_schedule.effective_start(change)
    assert summary["price_changes_applied"] == 0 and summary["plans_repriced"] == 0
    assert last_invoice_net(market, sub) == last_invoice_net(market, second_sub) == 19900
    assert not notice_updates(market, sub) and not notice_updates(market, second_sub)

    # The second company cancels before the date: it is never charged the new price.
    assert market.post(second_http, f"/account/apps/{listing.slug}/cancel").status_code == 303
    market.settle()

    # The first renewal on or after the date: the plan takes the new price, the subscriber moves.
    generation = store_generation()
    end, summary = renew(market, [sub])
    assert end >= price_schedule.effective_start(change)
    assert summary["plans_repriced"] == 1 and summary["price_changes_applied"] == 1
    assert store_generation() > generation
    assert [r["idempotency_key"] for r in notice_updates(market, sub)] == [
        gateway.idempotency_key("price-notice", sub.stripe_subscription_id, change.id)]
    assert last_invoice_net(market, sub) == 24900
    moved = Subscription.get_by_id(sub.id)
    assert (moved.price_ore, moved.stripe_price_id, moved.plan_id) == (24900, change.new_stripe_price_id, standard.id)
    assert Subscription.get_by_id(second_sub.id).status == "canceled" and not notice_updates(market, second_sub)
    assert last_invoice_net(market, second_sub) == 19900
    plan = Plan.get_by_id(standard.id)
    assert (plan.price_ore, plan.stripe_price_id) == (24900, change.new_stripe_price_id)
    assert PlanPriceChange.get(PlanPriceChange.plan == plan.id).new_price_ore == 24900
    row = my_apps_row(market, http, listing)
    assert 'data-notice="price-change"' not in row and next_charge(row).startswith("311.25 kr incl. VAT")


def test_buyers_before_the_date_pay_the_current_price_and_move_with_the_rest_after_it_the_new(market):
    listing, standard, buyer = make_shop(market)
    dev = developer_login(market, listing)
    effective_on = days_ahead(30)
    assert announce(market, dev, listing, standard, "249", effective_on).status_code == 303
    change = ScheduledPriceChange.get()
    words = f"From {day(datetime.date.fromisoformat(effective_on))}: 249 kr/month excl. VAT"
    assert words in market.browser().get(market.url + f"/apps/{listing.slug}", timeout=10).text

    # A buyer during the notice pays today's price and is told, in Checkout's line item too.
    http = market.login(buyer.email)
    checkout_url = buy(market, http, listing.slug).headers["Location"]
    client = gateway.stripe_client(market.app.config)
    assert client.v1.checkout.sessions.retrieve(checkout_url.rsplit("/", 1)[1]).amount_total == 24875
    pay(market, checkout_url)
    market.settle()
    sub = Subscription.get(Subscription.company == buyer.company_id)
    assert sub.price_ore == 19900
    assert words in client.v1.subscriptions.retrieve(sub.stripe_subscription_id)["description"]
    assert 'data-notice="price-change"' in my_apps_row(market, http, listing)

    # Renewals before the date stay at the old price; the first on or after it is at the new one.
    start = price_schedule.effective_start(change)
    while True:
        end, summary = renew(market, [sub])
        if end < start:
            assert last_invoice_net(market, sub) == 19900 and not notice_updates(market, sub)
            continue
        assert summary["price_changes_applied"] == 1 and last_invoice_net(market, sub) == 24900
        break
    if Plan.get_by_id(standard.id).price_ore != 24900:  # the renewal fell in the date's first half hour
        sweep.run(market.app.config, now=end + HALF_HOUR)

    # From the date new buyers pay the new price, and the store shows it without the notice.
    assert Plan.get_by_id(standard.id).price_ore == 24900
    page = market.browser().get(market.url + f"/apps/{listing.slug}", timeout=10).text
    assert "249 kr/month excl. VAT" in page and "From " + effective_on not in page
    newcomer = factories.customer_admin(email="newcomer@example.test")
    later = buy(market, market.login(newcomer.email), listing.slug).headers["Location"]
    session = client.v1.checkout.sessions.retrieve(later.rsplit("/", 1)[1])
    assert session.amount_total == 31125


def test_the_developer_withdraws_the_change_and_every_subscriber_is_told(market):
    listing, standard, buyer, http, sub = bought(market)
    dev = developer_login(market, listing)
    effective_on = days_ahead(45)
    assert announce(market, dev, listing, standard, "299", effective_on).status_code == 303
    change = ScheduledPriceChange.get()
    # One change at a time.
    again = announce(market, dev, listing, standard, "349", days_ahead(60))
    assert again.status_code == 422 and "withdraw it first" in again.text
    assert ScheduledPriceChange.select().count() == 1

    # The plan's price cannot be edited around the notice subscribers were given.
    edited = market.post(dev, f"/developer/apps/{listing.slug}/plans/{standard.id}",
                         {"name": standard.name, "price_kr": "399", "trial_days": "0"})
    assert edited.status_code == 422 and "withdraw it before setting another price" in edited.text
    assert Plan.get_by_id(standard.id).price_ore == 19900

    withdrawn = market.post(dev, f"/developer/apps/{listing.slug}/plans/{standard.id}/price-change/withdraw")
    assert withdrawn.status_code == 303
    assert ScheduledPriceChange.get_by_id(change.id).withdrawn_at is not None
    told = mails_to(buyer.email)
    assert len(told) == 2 and "withdrawn" in told[1].subject
    [event] = events(price_schedule.WITHDRAWN)
    assert (event["data"]["old_amount"], event["data"]["new_amount"], event["data"]["effective_on"]) == (
        19900, 29900, effective_on)
    assert 'data-notice="price-change"' not in my_apps_row(market, http, listing)
    assert "From " + effective_on not in dev.get(market.url + f"/developer/apps/{listing.slug}/plans",
                                                 timeout=10).text
    nothing = market.post(dev, f"/developer/apps/{listing.slug}/plans/{standard.id}/price-change/withdraw")
    assert nothing.status_code == 404

    # Past the date nothing moves: the plan and the subscriber stay at 199 kr.
    start = price_schedule.effective_start(change)
    while True:
        end, summary = renew(market, [sub])
        assert summary["plans_repriced"] == 0 and summary["price_changes_applied"] == 0
        assert last_invoice_net(market, sub) == 19900
        if end >= start:
            break
    assert Plan.get_by_id(standard.id).price_ore == 19900 and not notice_updates(market, sub)


def test_what_is_refused_and_a_cut_from_tomorrow(market):
    listing, standard, buyer = make_shop(market)
    dev = developer_login(market, listing)
    for price_kr, effective_on, words in [
            ("249", days_ahead(29), "30 days' notice"),
            ("249", today().isoformat(), "30 days' notice"),
            ("abc", days_ahead(40), "like 199 or 49,50"),
            ("199", days_ahead(40), "already costs"),
            ("249", "2027-02-30", "YYYY-MM-DD"),
            ("249", "next month", "YYYY-MM-DD"),
            ("249", days_ahead(800), "at most"),
            ("99", today().isoformat(), "from tomorrow"),
    ]:
        response = announce(market, dev, listing, standard, price_kr, effective_on)
        assert response.status_code == 422, (price_kr, effective_on)
        assert words in response.text, (price_kr, effective_on)
    assert not ScheduledPriceChange.select().exists()
    assert Plan.get_by_id(standard.id).price_ore == 19900
    # Another developer cannot touch the plan.
    factories.developer_user(email="other@example.test")
    other = market.login("other@example.test")
    assert announce(market, other, listing, standard, "99", days_ahead(1)).status_code == 404
    # A cut may apply from tomorrow, written as the plans form takes it.
    assert announce(market, dev, listing, standard, "49,50", days_ahead(1)).status_code == 303
    change = ScheduledPriceChange.get()
    assert (change.new_price_ore, change.effective_on.isoformat()) == (4950, days_ahead(1))
    assert OutboxMail.select().where(OutboxMail.to == buyer.email).count() == 0  # no subscribers yet


def test_a_waiting_downgrade_keeps_its_agreed_price_through_a_price_change(market):
    listing, standard, buyer, http, sub = bought(market)
    lite = Plan.create(app=listing, name="Lite", price_ore=4900, position=1)
    dev = developer_login(market, listing)
    assert market.post(http, f"/account/apps/{listing.slug}/plan", {"plan": str(lite.id)}).status_code == 303
    assert announce(market, dev, listing, standard, "249", days_ahead(30)).status_code == 303
    assert announce(market, dev, listing, lite, "99", days_ahead(30)).status_code == 303
    # The renewal is on Lite at the 49 kr chosen, whichever side of the date it falls.
    renew(market, [sub])
    assert last_invoice_net(market, sub) == 4900 and not notice_updates(market, sub)
    assert not PendingPlanChange.select().exists()
    assert Subscription.get_by_id(sub.id).price_ore == 4900
    # Both notices reached the company: its plan's, and the plan it is moving to.
    assert len(mails_to(buyer.email)) == 2
