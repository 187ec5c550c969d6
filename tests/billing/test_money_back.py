"""Money back (issue T, deliverable 3) against the Stripe sandbox: within REFUND_WINDOW_DAYS of
the first paid invoice a company admin ends a subscription with a full refund from My apps; both
shares are reversed at Stripe and in the ledger to the öre; once per company and app; outside
the window, after an admin's full refund, or for a trial that never paid it is refused."""
import datetime
import json

import pytest

from market.billing import gateway, ledger
from market.billing import refunds as admin_refunds
from market.reviews import ratings
from models import (
    AppNotification,
    AppStats,
    Connection,
    LedgerEntry,
    MoneyBack,
    OutboxMail,
    Plan,
    Review,
    Subscription,
)
from tests import factories
from tests.billing.conftest import event, post_event, sandbox_config
from tests.billing.test_lifecycle import bought
from tests.billing.test_purchase import buy, make_shop, pay


@pytest.fixture
def app_config(sandbox, live_port):
    return sandbox_config(sandbox, live_port)


def stripe_posts(market, path):
    return market.sandbox.requests(path=path, method="POST")


def test_money_back_inside_the_window_reverses_both_shares_exactly_and_only_once(market):
    listing, plan, buyer, http, sub = bought(market)
    connection = factories.connection(buyer.company, listing)
    Review.create(company=buyer.company_id, app=listing, user=buyer, stars=5, text="Good")
    ratings.recount_app_ratings(listing.id)
    assert AppStats.get(AppStats.app == listing).rating_count == 1
    payment = LedgerEntry.get(LedgerEntry.kind == "payment")
    assert (payment.gross_ore, payment.developer_share_ore, payment.platform_fee_ore, payment.moms_ore) == (
        24875, 14925, 4975, 4975)

    # A member may neither ask nor act.
    member = factories.user(email="member@example.test", company=buyer.company_id, company_role="member")
    member_http = market.login(member.email)
    assert member_http.get(market.url + f"/account/apps/{listing.slug}/refund", timeout=10).status_code == 403
    assert market.post(member_http, f"/account/apps/{listing.slug}/refund").status_code == 403

    # My apps offers it to the admin; the confirmation says the amount.
    page = http.get(market.url + "/account/apps", timeout=10).text
    assert f'href="/account/apps/{listing.slug}/refund"' in page
    question = http.get(market.url + f"/account/apps/{listing.slug}/refund", timeout=10)
    assert question.status_code == 200
    assert "248.75 kr" in question.text and f'action="/account/apps/{listing.slug}/refund"' in question.text
    assert market.sandbox.requests(path="/v1/refunds", method="POST") == []

    response = market.post(http, f"/account/apps/{listing.slug}/refund")
    assert response.status_code == 303 and response.headers["Location"].endswith("/account/apps")
    market.settle()

    # Canceled at once at Stripe, without proration; the entitlement and the grant are gone.
    cancels = market.sandbox.requests(path=f"/v1/subscriptions/{sub.stripe_subscription_id}", method="DELETE")
    assert len(cancels) == 1
    row = Subscription.get_by_id(sub.id)
    assert row.status == "canceled"
    assert Connection.get_by_id(connection.id).revoked_at is not None
    # Refunded in full with both shares taken back at Stripe.
    refunds = stripe_posts(market, "/v1/refunds")
    assert len(refunds) == 1
    client = gateway.stripe_client(market.app.config)
    reversal = LedgerEntry.get(LedgerEntry.kind == "refund")
    refund = client.v1.refunds.retrieve(reversal.stripe_ref)
    assert refund.amount == 24875 and refund.status == "succeeded" and refund.transfer_reversal
    charge = client.v1.charges.retrieve(payment.stripe_charge_id)
    assert charge.amount_refunded == 24875
    transfer = client.v1.transfers.retrieve(charge.transfer)
    assert transfer.amount_reversed == transfer.amount == 24875  # a destination charge moves it all
    fee = client.v1.application_fees.list({"limit": 10}).data[0]
    assert fee.amount_refunded == fee.amount == charge.application_fee_amount == 9950  # platform's 25 % + moms
    # What the developer kept (transfer less the fee) is exactly what was taken back from it.
    assert transfer.amount - fee.amount == transfer.amount_reversed - fee.amount_refunded == payment.developer_share_ore
    # The ledger after the refund webhooks: exactly the negative, once, succeeded.
    assert LedgerEntry.select().where(LedgerEntry.kind == "refund").count() == 1
    reversal = LedgerEntry.get(LedgerEntry.kind == "refund")
    assert reversal.refund_status == "succeeded"
    for name in ("gross_ore", "moms_ore", "net_ore", "developer_share_ore", "platform_fee_ore"):
        assert getattr(reversal, name) == -getattr(payment, name)
    assert ledger.totals() == {"gross": 0, "moms": 0, "net": 0, "developer": 0, "platform": 0}
    assert ledger.developer_earnings(listing.developer_id) == 0
    # The app hears it was refunded, the developer gets a mail, the rating leaves the totals.
    canceled = [json.loads(n.payload) for n in AppNotification.select().where(
        AppNotification.type == "subscription.canceled")]
    assert len(canceled) == 1 and canceled[0]["data"]["reason"] == "refunded"
    assert OutboxMail.select().where(OutboxMail.to == "dev@example.test",
                                     OutboxMail.subject.contains("money back")).count() == 1
    assert AppStats.get(AppStats.app == listing).rating_count == 0

    # Once per company and app, ever: a second request is refused and changes nothing.
    again = market.post(http, f"/account/apps/{listing.slug}/refund")
    assert again.status_code == 409 and "once per company and app" in again.text
    assert http.get(market.url + f"/account/apps/{listing.slug}/refund", timeout=10).status_code == 409
    assert len(stripe_posts(market, "/v1/refunds")) == 1
    assert MoneyBack.select().count() == 1
    page = http.get(market.url + "/account/apps", timeout=10).text
    assert f'href="/account/apps/{listing.slug}/refund"' not in page


def test_money_back_outside_the_window_off_or_after_an_admins_full_refund_is_refused(market):
    listing, plan, buyer, http, sub = bought(market)
    payment = LedgerEntry.get(LedgerEntry.kind == "payment")
    paid_at = payment.occurred_at
    # 14 × 24 h and a minute after the first paid invoice was paid: refused, nothing asked of Stripe.
    LedgerEntry.update(occurred_at=paid_at - datetime.timedelta(days=14, minutes=1)).where(
        LedgerEntry.id == payment.id).execute()
    response = market.post(http, f"/account/apps/{listing.slug}/refund")
    assert response.status_code == 409 and "Money back is possible for 14 days" in response.text
    assert f'href="/account/apps/{listing.slug}/refund"' not in http.get(market.url + "/account/apps", timeout=10).text
    # Turned off with 0.
    LedgerEntry.update(occurred_at=paid_at).where(LedgerEntry.id == payment.id).execute()
    market.app.config["REFUND_WINDOW_DAYS"] = 0
    try:
        assert market.post(http, f"/account/apps/{listing.slug}/refund").status_code == 409
    finally:
        market.app.config["REFUND_WINDOW_DAYS"] = 14
    # After the platform admin refunded the payment in full: refused.
    admin_refunds.refund(market.app.config, str(payment.id), "", "Refunded by support")
    market.settle()
    response = market.post(http, f"/account/apps/{listing.slug}/refund")
    assert response.status_code == 409 and "already refunded in full" in response.text
    assert market.sandbox.requests(path=f"/v1/subscriptions/{sub.stripe_subscription_id}", method="DELETE") == []
    assert len(stripe_posts(market, "/v1/refunds")) == 1  # the admin's only
    assert Subscription.get_by_id(sub.id).status == "active"
    assert MoneyBack.select().count() == 0


def test_a_trial_that_never_paid_has_nothing_to_refund(market):
    listing, plan, buyer = make_shop(market)
    Plan.update(trial_days=14).where(Plan.id == plan.id).execute()
    http = market.login(buyer.email)
    pay(market, buy(market, http, listing.slug).headers["Location"])
    market.settle()
    sub = Subscription.get(Subscription.company == buyer.company_id)
    assert sub.status == "trialing"
    response = market.post(http, f"/account/apps/{listing.slug}/refund")
    assert response.status_code == 409 and "nothing to refund" in response.text
    assert market.sandbox.requests(path=f"/v1/subscriptions/{sub.stripe_subscription_id}", method="DELETE") == []
    assert Subscription.get_by_id(sub.id).status == "trialing"
    assert MoneyBack.select().count() == 0


def test_a_failed_refund_is_shown_to_the_customer_and_the_admin_and_access_stays_ended(market):
    listing, plan, buyer, http, sub = bought(market)
    connection = factories.connection(buyer.company, listing)
    payment = LedgerEntry.get(LedgerEntry.kind == "payment")
    assert market.post(http, f"/account/apps/{listing.slug}/refund").status_code == 303
    market.settle()
    reversal = LedgerEntry.get(LedgerEntry.kind == "refund")
    assert "data-notice=\"refund-failed\"" not in http.get(market.url + "/account/apps", timeout=10).text
    # The bank gives the refund back: Stripe says refund.failed.
    refund = gateway.plain(gateway.stripe_client(market.app.config).v1.refunds.retrieve(reversal.stripe_ref))
    failed = dict(refund, status="failed", failure_reason="expired_or_canceled_card")
    response = post_event(market.app.test_client(), event("refund.failed", failed),
                          secret=market.app.config["STRIPE_WEBHOOK_SECRET"])
    assert response.status_code == 200
    assert ledger.reversed_so_far(payment) == 0 and ledger.totals()["gross"] == payment.gross_ore
    # The customer is told; the subscription and the grant stay ended.
    page = http.get(market.url + "/account/apps", timeout=10).text
    row = page.split(f'<tr data-app="{listing.slug}">', 1)[1].split("</tr>", 1)[0]
    assert 'data-notice="refund-failed"' in row and "248.75 kr could not be refunded" in row
    assert Subscription.get_by_id(sub.id).status == "canceled"
    assert Connection.get_by_id(connection.id).revoked_at is not None
    assert 'href="/account/apps/' + listing.slug + '/refund"' not in page
    # The platform admin sees it and can refund the payment again from the refunds page.
    factories.user(email="root@example.test", is_platform_admin=True)
    admin = market.login("root@example.test")
    admin_page = admin.get(market.url + "/admin/refunds", timeout=10).text
    unfinished = admin_page.split('class="money-back-unfinished"', 1)[1].split("</ul>", 1)[0]
    assert listing.name in unfinished and "248.75 kr left to refund" in unfinished
    payment_row = admin_page.split(f'data-payment="{payment.id}"', 1)[1].split("</tr>", 1)[0]
    assert "Refund…" in payment_row
    # A second money back is still refused: the retry is the admin's.
    assert market.post(http, f"/account/apps/{listing.slug}/refund").status_code == 409
