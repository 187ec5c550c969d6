"""The life of a subscription against the Stripe sandbox and its clock (issue H; QUALITY.md
22, 23, 35, 36): a year of renewals, a failed renewal with its grace and recovery, the grace
passing with no event, cancel and undo, plan changes, refunds and a lost dispute, suspension,
and replaying Stripe's events."""
import datetime
import re

import pytest

from market.billing import checkout, gateway, ledger, refusals, suspension
from market.billing import refunds as money_back
from market.billing.dunning import customers_in_dunning
from market.catalog import listings
from market.core.clock import format_day
from market.jobs import sweep
from models import (
    App,
    AppNotification,
    Company,
    Connection,
    LedgerEntry,
    OAuthToken,
    OutboxMail,
    Plan,
    StripeEvent,
    Subscription,
    utcnow,
)
from tests import factories
from tests.billing.conftest import sandbox_config
from tests.billing.test_purchase import buy, make_shop, pay
from tests.english import day
from views.billing import refusal_status


@pytest.fixture
def app_config(sandbox, live_port):
    return sandbox_config(sandbox, live_port)


def bought(market, card="4242 4242 4242 4242"):
    """A paid app with a webhook URL, bought by a company through checkout."""
    listing, plan, buyer = make_shop(market)
    App.update(webhook_url="http://127.0.0.1:9/notifications").where(App.id == listing.id).execute()
    factories.oauth_client(listing)
    http = market.login(buyer.email)
    pay(market, buy(market, http, listing.slug).headers["Location"], card=card)
    market.settle()
    sub = Subscription.get(Subscription.company == buyer.company_id)
    return listing, plan, buyer, http, sub


def stripe_invoices(market, sub):
    client = gateway.stripe_client(market.app.config)
    return [i for i in client.v1.invoices.list({"subscription": sub.stripe_subscription_id, "limit": 100}).data]


def row_of(page, slug):
    match = re.search(rf'<tr data-app="{slug}">(.*?)</tr>', page, re.S)
    assert match, page
    return match.group(1)


def test_a_year_of_renewals_one_ledger_row_per_paid_invoice(market):
    listing, plan, buyer, http, sub = bought(market)
    first_end = sub.current_period_end
    market.sandbox.advance(days=365)
    paid = [i for i in stripe_invoices(market, sub) if i.status == "paid"]
    assert len(paid) == 13  # the purchase and twelve renewals
    entries = list(LedgerEntry.select().where(LedgerEntry.kind == "payment"))
    assert sorted(e.stripe_invoice_id for e in entries) == sorted(i.id for i in paid)
    assert {(e.gross_ore, e.net_ore, e.moms_ore, e.developer_share_ore, e.platform_fee_ore) for e in entries} == {
        (24875, 19900, 4975, 14925, 4975)}
    assert not any(e.fee_mismatch for e in entries)
    assert ledger.developer_earnings(listing.developer_id) == 13 * 14925
    now = Subscription.get_by_id(sub.id)
    assert now.status == "active" and now.current_period_end > first_end + datetime.timedelta(days=360)
    row = row_of(http.get(market.url + "/account/apps", timeout=10).text, listing.slug)
    assert f"Renews on {day(now.current_period_end)}" in row
    assert f"248.75 kr incl. VAT on {day(now.current_period_end)}" in row
    assert "199 kr/month excl. VAT" in row
    # Invoices link to Stripe's hosted pages.
    links = re.findall(r'<a href="(http[^"]+/i/[^"]+)"', row)
    assert len(links) == 12  # the newest twelve
    # The app heard of the purchase once (renewals move the period: updates).
    assert AppNotification.select().where(AppNotification.type == "subscription.created").count() == 1


def test_failed_renewal_grace_and_recovery_then_grace_passing_ends_access(market, runner):
    listing, plan, buyer, http, sub = bought(market)
    company = Company.get_by_id(buyer.company_id)
    connection = factories.api_connection(company, listing)
    token = factories.issue_token(connection)
    assert token
    market.sandbox.set_card_behavior(company.stripe_customer_id, "fail")
    market.sandbox.advance(days=31)
    due = Subscription.get_by_id(sub.id)
    assert due.status == "past_due" and due.past_due_since is not None
    deadline = due.past_due_since + datetime.timedelta(days=7)
    # The customer is told: on My apps, in a banner on every page, by mail; the developer sees it.
    page = http.get(market.url + "/apps", timeout=10).text
    assert f"Payment for {listing.name} failed — update your card by {day(deadline)}" in page
    assert f"Update your card by {day(deadline)}" in row_of(
        http.get(market.url + "/account/apps", timeout=10).text, listing.slug)
    mails = list(OutboxMail.select().where(OutboxMail.to == buyer.email, OutboxMail.subject.contains("failed")))
    assert len(mails) == 1 and format_day(deadline, "en") in mails[0].subject  # the buyer reads English
    dunning = customers_in_dunning(listing.developer, 7)
    assert [(d["company"].id, d["status"]) for d in dunning] == [(company.id, "past_due")]
    developer_http = login_at(market, "dev@example.test", f"/developer/apps/{listing.slug}")
    section = developer_http.get(f"{market.url}/developer/apps/{listing.slug}", timeout=10).text
    assert re.search(rf'data-company="{company.public_id}">[^<]*payment failed.*?access until {day(deadline)}',
                     section, re.S)
    # Still entitled within the grace, even when the sweep runs.
    assert sweep.run(market.app.config, now=deadline - datetime.timedelta(minutes=1))["entitlements_ended"] == 0
    assert Connection.get_by_id(connection.id).revoked_at is None
    # The card works again; Stripe's retry three days later pays: everything is back.
    market.sandbox.set_card_behavior(company.stripe_customer_id, "succeed")
    market.sandbox.advance(days=3)
    back = Subscription.get_by_id(sub.id)
    assert back.status == "active" and back.past_due_since is None
    assert LedgerEntry.select().where(LedgerEntry.kind == "payment").count() == 2
    assert "update your card" not in http.get(market.url + "/apps", timeout=10).text
    assert customers_in_dunning(listing.developer, 7) == []

    # The next renewal fails and nobody pays: the sweep ends the access when the grace passes,
    # with no event from Stripe.
    market.sandbox.set_card_behavior(company.stripe_customer_id, "fail")
    market.sandbox.advance(days=31)
    due = Subscription.get_by_id(sub.id)
    assert due.status == "past_due"
    events_before = StripeEvent.select().count()
    later = due.past_due_since + datetime.timedelta(days=7, minutes=1)
    summary = sweep.run(market.app.config, now=later)
    assert summary["entitlements_ended"] == 1
    assert StripeEvent.select().count() == events_before
    assert Subscription.get_by_id(sub.id).status == "unpaid"
    assert Connection.get_by_id(connection.id).revoked_at is not None
    assert OAuthToken.select().where(OAuthToken.connection == connection, OAuthToken.revoked_at.is_null()).count() == 0
    told = [n.type for n in AppNotification.select().order_by(AppNotification.id)]
    assert told[-2:] == ["connection.revoked", "subscription.updated"]
    assert sweep.run(market.app.config, now=later)["entitlements_ended"] == 0  # once
    assert customers_in_dunning(listing.developer, 7)[0]["status"] == "unpaid"
    # A later successful payment (Stripe's next retry with a working card) restores it.
    market.sandbox.set_card_behavior(company.stripe_customer_id, "succeed")
    market.sandbox.advance(days=3)
    assert Subscription.get_by_id(sub.id).status == "active"


def test_cancel_undo_upgrade_and_downgrade(market):
    listing, standard, buyer, http, sub = bought(market)
    client = gateway.stripe_client(market.app.config)
    assert market.post(http, f"/account/apps/{listing.slug}/cancel").status_code == 303
    assert client.v1.subscriptions.retrieve(sub.stripe_subscription_id).cancel_at_period_end is True
    row = row_of(http.get(market.url + "/account/apps", timeout=10).text, listing.slug)
    assert f"Cancels on {day(sub.current_period_end)}" in row and "Keep subscription" in row
    assert "incl. VAT on" not in row  # no next charge once it is canceling
    assert market.post(http, f"/account/apps/{listing.slug}/resume").status_code == 303
    assert client.v1.subscriptions.retrieve(sub.stripe_subscription_id).cancel_at_period_end is False
    assert Subscription.get_by_id(sub.id).cancel_at_period_end is False
    # Cancel again after the undo reaches Stripe (a new key, not the first cancel's answer).
    assert market.post(http, f"/account/apps/{listing.slug}/cancel").status_code == 303
    assert client.v1.subscriptions.retrieve(sub.stripe_subscription_id).cancel_at_period_end is True
    assert market.post(http, f"/account/apps/{listing.slug}/resume").status_code == 303
    market.settle()

    pro = Plan.create(app=listing, name="Pro", price_ore=39900, position=1)
    market.sandbox.advance(days=15)  # halfway through the period
    response = market.post(http, f"/account/apps/{listing.slug}/plan", {"plan": str(pro.id), "developer_id": "1"})
    assert response.status_code == 303
    market.settle()
    upgraded = Subscription.get_by_id(sub.id)
    assert (upgraded.plan_id, upgraded.price_ore, upgraded.status) == (pro.id, 39900, "active")
    stripe_sub = client.v1.subscriptions.retrieve(sub.stripe_subscription_id)
    assert stripe_sub["items"]["data"][0]["price"]["id"] == Pro_price(pro)
    proration = LedgerEntry.select().where(LedgerEntry.kind == "payment").order_by(LedgerEntry.id.desc()).first()
    # About half a month of the 200 kr difference, plus moms, charged now.
    assert 20000 * 0.4 < proration.net_ore < 20000 * 0.6
    assert proration.net_ore + proration.moms_ore == proration.gross_ore
    assert LedgerEntry.select().count() == 2
    # Downgrade: nothing charged or credited now; Pro until the period ends (test_downgrade.py),
    # the sweep switches it just before, and the renewal is at the Standard price.
    response = market.post(http, f"/account/apps/{listing.slug}/plan", {"plan": str(standard.id)})
    assert response.status_code == 303
    market.settle()
    assert LedgerEntry.select().count() == 2
    down = Subscription.get_by_id(sub.id)
    assert (down.plan_id, down.price_ore) == (pro.id, 39900)
    switch_at = down.current_period_end - datetime.timedelta(minutes=30)
    market.sandbox.advance(seconds=int(switch_at.replace(tzinfo=datetime.UTC).timestamp() - market.sandbox.now()))
    assert sweep.run(market.app.config, now=switch_at)["plan_changes_applied"] == 1
    market.settle()
    down = Subscription.get_by_id(sub.id)
    assert (down.plan_id, down.price_ore) == (standard.id, 19900)
    market.sandbox.advance(days=5)
    renewal = LedgerEntry.select().order_by(LedgerEntry.id.desc()).first()
    assert LedgerEntry.select().count() == 3 and renewal.gross_ore == 24875
    # Bad plan ids and the current plan are refused, changing nothing.
    for bad in ("", "abc", "999999", str(standard.id)):
        refused = market.post(http, f"/account/apps/{listing.slug}/plan", {"plan": bad})
        assert refused.status_code in (400, 409), bad
    assert Subscription.get_by_id(sub.id).plan_id == standard.id
    # A member sees My apps but cannot change anything.
    member = factories.user(email="member@example.test", company=buyer.company_id, company_role="member")
    member_http = market.login(member.email)
    page = member_http.get(market.url + "/account/apps", timeout=10).text
    assert listing.slug in page and f"/account/apps/{listing.slug}/cancel" not in page
    assert market.post(member_http, f"/account/apps/{listing.slug}/cancel").status_code == 403
    assert market.post(member_http, "/account/billing-portal").status_code == 403
    # The admin's billing portal: a Stripe portal session that returns to My apps.
    portal = market.post(http, "/account/billing-portal")
    assert portal.status_code == 303 and portal.headers["Location"].startswith(market.sandbox.url + "/p/session/")
    sessions = market.sandbox.requests(path="/v1/billing_portal/sessions", method="POST")
    assert len(sessions) == 1


def Pro_price(plan):  # noqa: N802 - reads as "the Pro plan's price"
    return Plan.get_by_id(plan.id).stripe_price_id


def login_at(market, email, path):
    """A logged-in browser for users without a company (My apps is not theirs)."""
    http = market.browser()
    page = http.get(market.url + "/login", timeout=10)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    http.post(market.url + "/login", data={"email": email, "password": factories.PASSWORD,
                                           "csrf_token": token}, timeout=10, allow_redirects=False)
    page = http.get(market.url + path, timeout=10)
    assert page.status_code == 200
    http.csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return http


def admin_login(market):
    factories.user(email="root@example.test", is_platform_admin=True)
    return login_at(market, "root@example.test", "/admin/refunds")


def test_refunds_from_admin_and_a_lost_dispute(market):
    listing, plan, buyer, http, sub = bought(market)
    payment = LedgerEntry.get(LedgerEntry.kind == "payment")
    admin = admin_login(market)
    # Bad input changes nothing.
    for form in ({"payment": str(payment.id), "amount": "-5", "reason": "x"},
                 {"payment": str(payment.id), "amount": "300", "reason": "too much"},
                 {"payment": str(payment.id), "amount": "10", "reason": ""},
                 {"payment": "nope", "amount": "10", "reason": "x"}):
        assert market.post(admin, "/admin/refunds", form).status_code == 400
    assert market.post(http, "/admin/refunds", {"payment": str(payment.id), "amount": "10",
                                                "reason": "customer"}).status_code == 403
    assert market.sandbox.requests(path="/v1/refunds", method="POST") == []
    response = market.post(admin, "/admin/refunds", {"payment": str(payment.id), "amount": "100,00",
                                                     "reason": "Did not work for them"})
    assert response.status_code == 303
    market.settle()
    refunds = LedgerEntry.select().where(LedgerEntry.kind == "refund")
    assert [r.gross_ore for r in refunds] == [-10000]
    first = refunds[0]
    assert first.net_ore + first.moms_ore == first.gross_ore
    assert first.developer_share_ore + first.platform_fee_ore + first.moms_ore == first.gross_ore
    assert first.developer_share_ore == -round(14925 * 10000 / 24875)
    # Stripe was asked to take both shares back.
    client = gateway.stripe_client(market.app.config)
    refund = client.v1.refunds.retrieve(first.stripe_ref)
    assert refund.amount == 10000 and refund.transfer_reversal
    fee = client.v1.application_fees.list({"limit": 10}).data[0]
    assert fee.amount_refunded > 0
    # The rest: empty amount means what is left; the payment ends at zero in every column.
    assert market.post(admin, "/admin/refunds", {"payment": str(payment.id), "amount": "",
                                                 "reason": "Full refund"}).status_code == 303
    market.settle()
    assert ledger.totals() == {"gross": 0, "moms": 0, "net": 0, "developer": 0, "platform": 0}
    assert LedgerEntry.select().count() == 3  # the webhooks added nothing twice
    # Issue P 7: the customer is told of each refund once, though the page and the webhooks both saw it.
    told = [m.subject for m in OutboxMail.select().where(OutboxMail.to == buyer.email,
                                                         OutboxMail.subject.startswith("Refund"))
            .order_by(OutboxMail.id)]
    assert told == [f"Refund of 100 kr for {listing.name}", f"Refund of 148.75 kr for {listing.name}"]
    # My apps lists both under the invoice, from the ledger.
    row = http.get(market.url + "/account/apps", timeout=10).text.split(f'<tr data-app="{listing.slug}"')[1]
    refunds = row.split('class="refund-list"')[1].split("</ul>")[0]
    assert "Refund 100 kr" in refunds and "Refund 148.75 kr" in refunds

    # Another company pays with a card that is disputed; the dispute is lost.
    other = factories.customer_admin(email="other@example.test")
    other_http = market.login(other.email)
    pay(market, buy(market, other_http, listing.slug).headers["Location"], card="4000 0000 0000 0259")
    market.settle()
    disputes = money_back.disputes()
    assert len(disputes) == 1 and disputes[0]["status"] == "needs_response"
    page = admin.get(market.url + "/admin/refunds", timeout=10).text
    assert disputes[0]["id"] in page
    market.sandbox.lose_dispute(disputes[0]["id"])
    market.settle()
    reversal = LedgerEntry.get(LedgerEntry.kind == "dispute")
    paid = ledger.payment_of_charge(reversal.stripe_charge_id)
    for name in ("gross_ore", "moms_ore", "net_ore", "developer_share_ore", "platform_fee_ore"):
        assert getattr(reversal, name) == -getattr(paid, name)
    assert money_back.disputes(listing.developer)[0]["status"] == "lost"
    # At Stripe the developer gave back what it kept of the disputed payment (all but the fee).
    charge = client.v1.charges.retrieve(reversal.stripe_charge_id)
    transfer = client.v1.transfers.retrieve(charge.transfer)
    assert transfer.amount_reversed == charge.amount - charge.application_fee_amount == 24875 - 9950


def test_suspension_cancels_at_period_end_and_restore_leaves_it_to_each_customer(market):
    listing, plan, buyer, http, sub = bought(market)
    imported_company = factories.company()
    imported_admin = factories.user(email="imp@example.test", company=imported_company, company_role="admin")
    imported = factories.subscription(imported_company, listing, plan=plan,
                                      current_period_end=utcnow() + datetime.timedelta(days=10))
    chose_to_leave = factories.subscription(factories.company(), listing, plan=plan, cancel_at_period_end=True,
                                            current_period_end=utcnow() + datetime.timedelta(days=10))
    client = gateway.stripe_client(market.app.config)
    with market.app.app_context():
        listings.suspend_app(App.get_by_id(listing.id))
        suspension.on_app_suspended(market.app.config, App.get_by_id(listing.id))  # as the admin's view does
    assert client.v1.subscriptions.retrieve(sub.stripe_subscription_id).cancel_at_period_end is True
    market.settle()
    assert Subscription.get_by_id(sub.id).cancel_at_period_end is True
    assert Subscription.get_by_id(imported.id).cancel_at_period_end is True
    told = {m.to for m in OutboxMail.select().where(OutboxMail.subject.contains("suspended"))}
    assert told == {buyer.email, imported_admin.email}
    with pytest.raises(refusals.BuyRefused) as refused:
        checkout.start_checkout(market.app.config, Company.get_by_id(buyer.company_id), buyer,
                                App.get_by_id(listing.id))
    assert refusal_status(refused.value) == 409
    with market.app.app_context():
        listings.restore_app(App.get_by_id(listing.id))
        suspension.on_app_restored(market.app.config, App.get_by_id(listing.id))
    # Issue O (replaces issue H's restore rule): the restore leaves every subscription set to
    # cancel, and tells each customer the suspension stopped how to keep theirs.
    assert client.v1.subscriptions.retrieve(sub.stripe_subscription_id).cancel_at_period_end is True
    assert Subscription.get_by_id(sub.id).cancel_at_period_end is True
    assert Subscription.get_by_id(imported.id).cancel_at_period_end is True
    told = {m.to for m in OutboxMail.select().where(OutboxMail.subject.contains("available again"))}
    assert told == {buyer.email, imported_admin.email}
    back = OutboxMail.get(OutboxMail.to == buyer.email, OutboxMail.subject.contains("available again"))
    assert "/account/apps" in back.body and "Keep" in back.body
    # The customer who had canceled before the suspension stays canceled and is not told.
    assert Subscription.get_by_id(chose_to_leave.id).cancel_at_period_end is True
    # Each customer keeps theirs with My apps' Keep (resume).
    assert market.post(http, f"/account/apps/{listing.slug}/resume").status_code in (302, 303)
    market.settle()
    assert client.v1.subscriptions.retrieve(sub.stripe_subscription_id).cancel_at_period_end is False
    assert Subscription.get_by_id(sub.id).cancel_at_period_end is False
    assert Subscription.get_by_id(imported.id).cancel_at_period_end is True  # not theirs to keep


def test_remove_app_and_stripe_replay(market, runner):
    listing, plan, buyer, http, sub = bought(market)
    company = Company.get_by_id(buyer.company_id)
    connection = factories.api_connection(company, listing)
    factories.issue_token(connection)
    assert market.post(http, f"/account/apps/{listing.slug}/remove", {"company_id": "1"}).status_code == 303
    assert Connection.get_by_id(connection.id).revoked_at is not None
    assert Subscription.get_by_id(sub.id).cancel_at_period_end is True
    assert OAuthToken.select().where(OAuthToken.revoked_at.is_null()).count() == 0
    assert AppNotification.select().where(AppNotification.type == "connection.revoked").count() == 1
    # Again (a double click): nothing new happens, the app is not told twice.
    assert market.post(http, f"/account/apps/{listing.slug}/remove").status_code == 303
    assert AppNotification.select().where(AppNotification.type == "connection.revoked").count() == 1
    # An app the company does not have, or no app at all: 404.
    other = factories.app_listing(developer_obj=listing.developer, price_ore=9900)
    assert market.post(http, f"/account/apps/{other.slug}/remove").status_code == 404
    assert market.post(http, "/account/apps/no-such-app/remove").status_code == 404
    market.settle()

    # Replay: events the market missed are processed; a second run changes nothing.
    since = (utcnow() - datetime.timedelta(hours=1)).strftime("%Y-%m-%d")
    paid_event = StripeEvent.get(StripeEvent.type == "invoice.paid")
    LedgerEntry.delete().execute()
    StripeEvent.delete().where(StripeEvent.id == paid_event.id).execute()
    result = runner.invoke(args=["stripe-replay", "--since", since])
    assert result.exit_code == 0, result.output
    assert "handled 1" in result.output
    assert LedgerEntry.select().count() == 1
    snapshot = (list(Subscription.select().dicts()), list(LedgerEntry.select().dicts()), StripeEvent.select().count())
    again = runner.invoke(args=["stripe-replay", "--since", since])
    assert again.exit_code == 0 and "handled 0" in again.output and "failed 0" in again.output
    assert (list(Subscription.select().dicts()), list(LedgerEntry.select().dicts()),
            StripeEvent.select().count()) == snapshot
    bad = runner.invoke(args=["stripe-replay", "--since", "yesterday-ish"])
    assert bad.exit_code != 0 and "ISO date" in bad.output
