"""A downgrade waits for the end of the paid period (issue H): the company keeps the plan it
paid for, can undo the change, and the sweep switches the Stripe price just before renewal so
the renewal invoice is at the lower price. Against the Stripe sandbox and its clock."""
import datetime
import logging

import pytest
import stripe

from market.billing import catalogue, gateway, subscriptions
from market.jobs import sweep
from models import LedgerEntry, PendingPlanChange, Plan, Subscription
from tests import factories
from tests.billing.conftest import sandbox_config
from tests.billing.test_lifecycle import bought, row_of
from tests.english import day


@pytest.fixture
def app_config(sandbox, live_port):
    return sandbox_config(sandbox, live_port)


def subscription_updates(market, sub):
    return market.sandbox.requests(path=f"/v1/subscriptions/{sub.stripe_subscription_id}", method="POST")


def advance_to(market, moment):
    """Move the sandbox clock to `moment` (naive UTC)."""
    target = moment.replace(tzinfo=datetime.UTC).timestamp()
    seconds = int(target - market.sandbox.now())
    assert seconds > 0
    market.sandbox.advance(seconds=seconds)


def test_downgrade_keeps_the_paid_plan_until_the_sweep_switches_it_before_renewal(market):
    listing, standard, buyer, http, sub = bought(market)
    lite = Plan.create(app=listing, name="Lite", price_ore=9900, position=1)
    client = gateway.stripe_client(market.app.config)
    updates_before = len(subscription_updates(market, sub))
    market.sandbox.advance(days=10)

    response = market.post(http, f"/account/apps/{listing.slug}/plan", {"plan": str(lite.id), "price_ore": "1"})
    assert response.status_code == 303
    market.settle()
    # Still on Standard at its price, here and at Stripe; Stripe was not asked to change anything.
    still = Subscription.get_by_id(sub.id)
    assert (still.plan_id, still.price_ore) == (standard.id, 19900)
    assert len(subscription_updates(market, sub)) == updates_before
    stripe_sub = client.v1.subscriptions.retrieve(sub.stripe_subscription_id)
    assert stripe_sub["items"]["data"][0]["price"]["id"] == Plan.get_by_id(standard.id).stripe_price_id
    pending = PendingPlanChange.get(PendingPlanChange.subscription == sub.id)
    assert (pending.plan_id, pending.effective_at) == (lite.id, still.current_period_end)
    row = row_of(http.get(market.url + "/account/apps", timeout=10).text, listing.slug)
    assert f"Changes to Lite on {day(still.current_period_end)}" in row
    assert "123.75 kr incl. VAT" in row  # the next charge is the renewal's, at the Lite price
    assert f'action="/account/apps/{listing.slug}/plan/undo"' in row
    assert "199 kr/month excl. VAT" in row
    assert LedgerEntry.select().count() == 1  # nothing charged or credited

    # Two hours before the period end the sweep leaves it alone.
    end = still.current_period_end
    early = sweep.run(market.app.config, now=end - datetime.timedelta(hours=2))
    assert early["plan_changes_applied"] == 0
    assert len(subscription_updates(market, sub)) == updates_before

    # Within the last hour it switches the price at Stripe, without proration, once.
    advance_to(market, end - datetime.timedelta(minutes=30))
    due = sweep.run(market.app.config, now=end - datetime.timedelta(minutes=30))
    assert due["plan_changes_applied"] == 1
    market.settle()
    assert not PendingPlanChange.select().where(PendingPlanChange.subscription == sub.id).exists()
    updates = subscription_updates(market, sub)
    assert len(updates) == updates_before + 1 and updates[-1]["idempotency_key"].endswith(
        f"{sub.stripe_subscription_id}:{end.isoformat()}")
    switched = Subscription.get_by_id(sub.id)
    assert (switched.plan_id, switched.price_ore) == (lite.id, 9900)  # the webhook recorded it
    assert LedgerEntry.select().count() == 1
    assert sweep.run(market.app.config, now=end - datetime.timedelta(minutes=20))["plan_changes_applied"] == 0

    # The renewal invoice is at the Lite price plus moms.
    market.sandbox.advance(hours=1)
    renewal = LedgerEntry.select().order_by(LedgerEntry.id.desc()).first()
    assert LedgerEntry.select().count() == 2 and (renewal.net_ore, renewal.gross_ore) == (9900, 12375)


def test_undo_and_upgrade_forget_a_pending_downgrade_and_a_cancel_drops_it(market):
    listing, standard, buyer, http, sub = bought(market)
    lite = Plan.create(app=listing, name="Lite", price_ore=9900, position=1)
    pro = Plan.create(app=listing, name="Pro", price_ore=39900, position=2)
    end = sub.current_period_end

    # Undo: a member cannot, the admin can, and a second undo finds nothing.
    assert market.post(http, f"/account/apps/{listing.slug}/plan", {"plan": str(lite.id)}).status_code == 303
    member = factories.user(email="member@example.test", company=buyer.company_id, company_role="member")
    member_http = market.login(member.email)
    assert "/plan/undo" not in row_of(member_http.get(market.url + "/account/apps", timeout=10).text, listing.slug)
    assert market.post(member_http, f"/account/apps/{listing.slug}/plan/undo").status_code == 403
    assert PendingPlanChange.select().count() == 1
    assert market.post(http, f"/account/apps/{listing.slug}/plan/undo").status_code == 303
    assert PendingPlanChange.select().count() == 0
    assert "Changes to" not in row_of(http.get(market.url + "/account/apps", timeout=10).text, listing.slug)
    assert market.post(http, f"/account/apps/{listing.slug}/plan/undo").status_code == 404
    # Without the CSRF token nothing is undone.
    assert market.post(http, f"/account/apps/{listing.slug}/plan", {"plan": str(lite.id)}).status_code == 303
    refused = http.post(market.url + f"/account/apps/{listing.slug}/plan/undo", timeout=10, allow_redirects=False)
    assert refused.status_code in (400, 403)
    assert PendingPlanChange.select().count() == 1

    # An upgrade after a pending downgrade clears it and applies at once.
    assert market.post(http, f"/account/apps/{listing.slug}/plan", {"plan": str(pro.id)}).status_code == 303
    market.settle()
    assert PendingPlanChange.select().count() == 0
    assert (Subscription.get_by_id(sub.id).plan_id, Subscription.get_by_id(sub.id).price_ore) == (pro.id, 39900)

    # A downgrade, then a cancel: the sweep drops the change and Stripe is not asked.
    assert market.post(http, f"/account/apps/{listing.slug}/plan", {"plan": str(standard.id)}).status_code == 303
    assert market.post(http, f"/account/apps/{listing.slug}/cancel").status_code == 303
    market.settle()
    updates = len(subscription_updates(market, sub))
    summary = sweep.run(market.app.config, now=end - datetime.timedelta(minutes=30))
    assert summary["plan_changes_applied"] == 0 and PendingPlanChange.select().count() == 0
    assert len(subscription_updates(market, sub)) == updates
    assert Subscription.get_by_id(sub.id).plan_id == pro.id


def test_a_stripe_failure_keeps_the_pending_change_for_the_next_sweep(app, monkeypatch, caplog):
    listing = factories.app_listing(price_ore=19900)
    standard = Plan.get(Plan.app == listing)
    lite = Plan.create(app=listing, name="Lite", price_ore=9900, position=1)
    end = datetime.datetime(2026, 12, 1, 12, 0)
    sub = factories.subscription(factories.company(), listing, plan=standard, imported=False,
                                 stripe_subscription_id="sub_down_1", current_period_end=end)
    PendingPlanChange.create(subscription=sub, plan=lite, effective_at=end)

    def unreachable(config):
        raise stripe.APIConnectionError("Stripe cannot be reached")

    monkeypatch.setattr(gateway, "stripe_client", unreachable)
    monkeypatch.setattr(catalogue, "ensure_tax_rate", lambda config: None)
    monkeypatch.setattr(catalogue, "ensure_price", lambda config, plan, app: None)
    with caplog.at_level(logging.WARNING):
        assert subscriptions.apply_due_plan_changes(app.config, now=end - datetime.timedelta(minutes=30)) == (0, 0, 1)
    assert "stays for the next sweep" in caplog.text
    assert PendingPlanChange.get(PendingPlanChange.subscription == sub).plan_id == lite.id
    assert Subscription.get_by_id(sub.id).plan_id == standard.id
