"""Renewals, trials, failed payments and retries, subscription changes, refunds and disputes, all on
the sandbox clock and checked to the öre through the `stripe` library."""

import pytest
import stripe

from stripe_sandbox.engine import DAY, pct_of

from .helpers import checkout, pay

GROSS, FEE = 24875, 9950  # 199,00 kr + 25 % moms; 40 % of it to the platform


def bought(client, plan, developer, browser, card="4242 4242 4242 4242", **kw):
    session = checkout(client, plan, developer, **kw)
    assert pay(browser, session.url, card=card).status_code == 303
    return client.v1.subscriptions.retrieve(client.v1.checkout.sessions.retrieve(session.id).subscription)


def period_end(client, sub_id):
    return client.v1.subscriptions.retrieve(sub_id)["items"].data[0].current_period_end


def to_renewal(client, sandbox, sub_id, extra=60):
    sandbox.advance(seconds=period_end(client, sub_id) - sandbox.now() + extra)


def balances(client, developer):
    platform = client.v1.balance.retrieve().available[0].amount
    dev = client.v1.balance.retrieve(options={"stripe_account": developer.id}).available[0].amount
    return platform, dev


def test_a_year_of_monthly_renewals(client, plan, developer, browser, sandbox, hooks, receiver):
    sub = bought(client, plan, developer, browser)
    ends = []
    for _ in range(12):
        ends.append(period_end(client, sub.id))
        to_renewal(client, sandbox, sub.id)
    invoices = list(client.v1.invoices.list(params={"subscription": sub.id, "limit": 100}).auto_paging_iter())
    assert len(invoices) == 13 and all(i.status == "paid" and i.total == GROSS for i in invoices)
    assert sorted(i.billing_reason for i in invoices).count("subscription_cycle") == 12
    # each renewal starts where the last period ended: same day of month, no gaps
    cycles = sorted((i for i in invoices if i.billing_reason == "subscription_cycle"), key=lambda i: i.created)
    assert [i.lines.data[0].period.start for i in cycles] == ends
    # an invoice's own period is the one that just ended
    assert [i.period_end for i in cycles] == ends and cycles[1].period_start == ends[0]
    charges = list(client.v1.charges.list(params={"customer": sub.customer, "limit": 100}).auto_paging_iter())
    assert len(charges) == 13 and all(c.application_fee_amount == FEE for c in charges)
    fees = list(client.v1.application_fees.list(params={"limit": 100}).auto_paging_iter())
    transfers = list(client.v1.transfers.list(params={"destination": developer.id, "limit": 100}).auto_paging_iter())
    assert sum(f.amount for f in fees) == 13 * FEE and sum(t.amount for t in transfers) == 13 * GROSS
    assert balances(client, developer) == (13 * FEE, 13 * (GROSS - FEE))
    sandbox.wait_for_deliveries()
    assert len(receiver.of_type("invoice.paid")) == 13


def test_failed_renewal_recovers_on_a_retry(client, plan, developer, browser, sandbox, hooks, receiver):
    sub = bought(client, plan, developer, browser)
    sandbox.set_card_behavior(sub.customer, "fail")
    to_renewal(client, sandbox, sub.id)
    sub = client.v1.subscriptions.retrieve(sub.id)
    invoice = client.v1.invoices.retrieve(sub.latest_invoice)
    assert sub.status == "past_due" and invoice.status == "open" and invoice.attempt_count == 1
    first_failure = invoice.created
    assert invoice.next_payment_attempt == first_failure + 3 * DAY
    sandbox.advance(days=3)
    invoice = client.v1.invoices.retrieve(invoice.id)
    assert invoice.attempt_count == 2 and invoice.next_payment_attempt == first_failure + 5 * DAY
    sandbox.set_card_behavior(sub.customer, "succeed")
    sandbox.advance(days=2)
    invoice = client.v1.invoices.retrieve(invoice.id)
    assert invoice.status == "paid" and invoice.attempt_count == 3
    assert client.v1.subscriptions.retrieve(sub.id).status == "active"
    sandbox.wait_for_deliveries()
    assert len(receiver.of_type("invoice.payment_failed")) == 2
    statuses = [e.data.object.status for e in receiver.of_type("customer.subscription.updated")]
    assert statuses[-2:] == ["past_due", "active"]
    assert balances(client, developer) == (2 * FEE, 2 * (GROSS - FEE))


def test_failed_renewal_ends_canceled_after_the_last_retry(client, plan, developer, browser, sandbox, hooks,
                                                            receiver):
    sub = bought(client, plan, developer, browser)
    sandbox.set_card_behavior(sub.customer, "fail")
    to_renewal(client, sandbox, sub.id)
    invoice_id = client.v1.subscriptions.retrieve(sub.id).latest_invoice
    for day, attempts in ((3, 2), (5, 3)):
        sandbox.advance(days=2 if day == 5 else 3)
        assert client.v1.invoices.retrieve(invoice_id).attempt_count == attempts
        assert client.v1.subscriptions.retrieve(sub.id).status == "past_due"
    sandbox.advance(days=2)  # day 7: the last retry fails
    sub = client.v1.subscriptions.retrieve(sub.id)
    assert sub.status == "canceled" and sub.ended_at and client.v1.invoices.retrieve(invoice_id).attempt_count == 4
    sandbox.wait_for_deliveries()
    assert len(receiver.of_type("invoice.payment_failed")) == 4
    assert receiver.of_type("customer.subscription.deleted")[0].data.object.id == sub.id
    # nothing renews after that
    sandbox.advance(days=40)
    assert len(client.v1.invoices.list(params={"subscription": sub.id}).data) == 2


def test_card_switched_to_failing_makes_invoice_pay_a_card_error(client, plan, developer, browser, sandbox):
    sub = bought(client, plan, developer, browser)
    sandbox.set_card_behavior(sub.customer, "fail")
    to_renewal(client, sandbox, sub.id)
    invoice_id = client.v1.subscriptions.retrieve(sub.id).latest_invoice
    with pytest.raises(stripe.CardError) as err:
        client.v1.invoices.pay(invoice_id)
    assert err.value.code == "card_declined"
    pm = client.v1.payment_methods.attach("pm_card_visa", params={"customer": sub.customer})
    assert client.v1.invoices.pay(invoice_id, params={"payment_method": pm.id}).status == "paid"
    assert client.v1.subscriptions.retrieve(sub.id).status == "active"


def test_trial_into_its_first_charge(client, plan, developer, browser, sandbox, hooks, receiver):
    sub = bought(client, plan, developer, browser, trial_days=14)
    assert sub.status == "trialing" and sub.trial_end - sub.trial_start == 14 * DAY
    first = client.v1.invoices.retrieve(sub.latest_invoice)
    assert first.total == 0 and first.status == "paid" and client.v1.charges.list().data == []
    sandbox.advance(days=11, seconds=60)
    sandbox.wait_for_deliveries()
    assert [e.data.object.id for e in receiver.of_type("customer.subscription.trial_will_end")] == [sub.id]
    assert client.v1.subscriptions.retrieve(sub.id).status == "trialing"
    sandbox.advance(days=3)
    sub = client.v1.subscriptions.retrieve(sub.id)
    invoice = client.v1.invoices.retrieve(sub.latest_invoice)
    assert sub.status == "active" and invoice.total == GROSS and invoice.status == "paid"
    assert invoice.billing_reason == "subscription_cycle" and invoice.lines.data[0].period.start == sub.trial_end
    assert (invoice.period_start, invoice.period_end) == (sub.trial_start, sub.trial_end)
    assert sub["items"].data[0].current_period_start == sub.trial_end
    assert balances(client, developer) == (FEE, GROSS - FEE)


def test_cancel_at_period_end_on_off_and_taking_effect(client, plan, developer, browser, sandbox, hooks,
                                                       receiver):
    sub = bought(client, plan, developer, browser)
    end = period_end(client, sub.id)
    sub = client.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": True})
    assert sub.cancel_at_period_end and sub.cancel_at == end and sub.status == "active"
    sub = client.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": False})
    assert not sub.cancel_at_period_end and sub.cancel_at is None
    client.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": True})
    to_renewal(client, sandbox, sub.id)
    sub = client.v1.subscriptions.retrieve(sub.id)
    assert sub.status == "canceled" and sub.ended_at == end
    assert len(client.v1.invoices.list(params={"subscription": sub.id}).data) == 1
    sandbox.wait_for_deliveries()
    assert receiver.of_type("customer.subscription.deleted")


def test_cancel_now(client, plan, developer, browser):
    sub = bought(client, plan, developer, browser)
    sub = client.v1.subscriptions.cancel(sub.id)
    assert sub.status == "canceled" and sub.canceled_at
    assert client.v1.subscriptions.list(params={"customer": sub.customer}).data == []
    assert client.v1.subscriptions.list(params={"customer": sub.customer, "status": "all"}).data[0].id == sub.id
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": True})


def upgrade(client, plan, sub, behavior, when):
    bigger = client.v1.prices.create(params={"product": plan["product"].id, "unit_amount": 29900,
                                             "currency": "sek", "recurring": {"interval": "month"}})
    item = sub["items"].data[0]
    return client.v1.subscriptions.update(sub.id, params={
        "items": [{"id": item.id, "price": bigger.id}], "proration_behavior": behavior, "proration_date": when})


def test_price_change_prorates_to_the_ore(client, plan, developer, browser, sandbox):
    sub = bought(client, plan, developer, browser)
    item = sub["items"].data[0]
    start, end = item.current_period_start, item.current_period_end
    when = start + (end - start) // 3
    sandbox.advance(seconds=when - sandbox.now() + 1)
    left, length = end - when, end - start
    upgrade(client, plan, sub, "create_prorations", when)
    pending = client.v1.invoice_items.list(params={"customer": sub.customer, "pending": True}).data
    credit = -int((19900 * left * 2 + length) // (2 * length))  # round half up
    debit = int((29900 * left * 2 + length) // (2 * length))
    assert sorted(i.amount for i in pending) == [credit, debit]
    to_renewal(client, sandbox, sub.id)
    invoice = client.v1.invoices.retrieve(client.v1.subscriptions.retrieve(sub.id).latest_invoice)
    net = 29900 + credit + debit
    tax = sum(pct_of(x, 25) for x in (29900, credit, debit))  # tax per line, as Stripe computes it
    assert invoice.subtotal == net and invoice.total == net + tax and invoice.status == "paid"
    charge = client.v1.charges.list(params={"customer": sub.customer}).data[0]
    assert charge.amount == net + tax and charge.application_fee_amount == pct_of(net + tax, 40)


def test_price_change_invoiced_now(client, plan, developer, browser, sandbox):
    sub = bought(client, plan, developer, browser)
    item = sub["items"].data[0]
    start, end = item.current_period_start, item.current_period_end
    when = start + (end - start) // 2
    sandbox.advance(seconds=when - sandbox.now() + 1)
    sub = upgrade(client, plan, sub, "always_invoice", when)
    invoice = client.v1.invoices.retrieve(sub.latest_invoice)
    left, length = end - when, end - start
    credit = -int((19900 * left * 2 + length) // (2 * length))
    debit = int((29900 * left * 2 + length) // (2 * length))
    assert invoice.billing_reason == "subscription_update" and invoice.subtotal == credit + debit
    assert invoice.total == credit + debit + pct_of(credit, 25) + pct_of(debit, 25) and invoice.status == "paid"
    assert client.v1.subscriptions.retrieve(sub.id)["items"].data[0].price.unit_amount == 29900


def test_refund_moves_developer_and_platform_parts_back(client, plan, developer, browser, sandbox, hooks,
                                                        receiver):
    sub = bought(client, plan, developer, browser)
    charge = client.v1.charges.list(params={"customer": sub.customer}).data[0]
    refund = client.v1.refunds.create(params={"charge": charge.id, "amount": 10000, "reverse_transfer": True,
                                              "refund_application_fee": True})
    assert refund.status == "succeeded" and refund.transfer_reversal
    fee_back = (FEE * 10000 * 2 + GROSS) // (2 * GROSS)  # 4000, round half up
    assert client.v1.application_fees.retrieve(charge.application_fee).amount_refunded == fee_back
    assert client.v1.transfers.retrieve(charge.transfer).amount_reversed == 10000
    platform, dev = balances(client, developer)
    assert (platform, dev) == (FEE - fee_back, GROSS - FEE - 10000 + fee_back)
    assert platform + dev == GROSS - 10000
    # the rest: the parts add up exactly to the whole
    client.v1.refunds.create(params={"charge": charge.id, "reverse_transfer": True, "refund_application_fee": True})
    assert balances(client, developer) == (0, 0)
    charge = client.v1.charges.retrieve(charge.id)
    assert charge.refunded and charge.amount_refunded == GROSS and len(charge.refunds.data) == 2
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.refunds.create(params={"charge": charge.id, "amount": 1})
    sandbox.wait_for_deliveries()
    assert len(receiver.of_type("charge.refunded")) == 2


def test_refund_without_reversals_is_borne_by_the_platform(client, plan, developer, browser):
    sub = bought(client, plan, developer, browser)
    charge = client.v1.charges.list(params={"customer": sub.customer}).data[0]
    client.v1.refunds.create(params={"charge": charge.id})
    assert balances(client, developer) == (FEE - GROSS, GROSS - FEE)


@pytest.mark.parametrize("outcome", ["lose", "win"])
def test_dispute_moves_funds_as_stripe_does(client, plan, developer, browser, sandbox, hooks, receiver, outcome):
    sub = bought(client, plan, developer, browser, card="4000 0000 0000 0259")
    charge = client.v1.charges.list(params={"customer": sub.customer}).data[0]
    [dispute] = client.v1.disputes.list(params={"charge": charge.id}).data
    assert dispute.status == "needs_response" and dispute.amount == GROSS and dispute.reason == "fraudulent"
    assert client.v1.charges.retrieve(charge.id).disputed
    # Stripe takes a destination charge's disputed amount from the platform at once
    assert balances(client, developer) == (FEE - GROSS, GROSS - FEE)
    (sandbox.lose_dispute if outcome == "lose" else sandbox.win_dispute)(dispute.id)
    dispute = client.v1.disputes.retrieve(dispute.id)
    assert dispute.status == ("lost" if outcome == "lose" else "won")
    expected = (FEE - GROSS, GROSS - FEE) if outcome == "lose" else (FEE, GROSS - FEE)
    assert balances(client, developer) == expected
    if outcome == "lose":
        # the market recovers the developer's share by reversing the transfer, as it does for refunds
        client.v1.transfers.reversals.create(charge.transfer, params={"amount": GROSS - FEE})
        assert balances(client, developer) == (FEE - GROSS + GROSS - FEE, 0)
    sandbox.wait_for_deliveries()
    assert receiver.of_type("charge.dispute.created") and receiver.of_type("charge.dispute.closed")


def test_dispute_closed_through_the_api_is_lost(client, plan, developer, browser):
    sub = bought(client, plan, developer, browser, card="4000 0000 0000 0259")
    dispute = client.v1.disputes.list().data[0]
    assert client.v1.disputes.close(dispute.id).status == "lost"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.disputes.close(dispute.id)
    assert sub.status == "active"


def test_test_clock_advances_its_own_customers(client, plan, sandbox):
    start = sandbox.now()
    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": start, "name": "renewals"})
    customer = client.v1.customers.create(params={"email": "clock@example.com", "test_clock": clock.id,
                                                  "payment_method": "pm_card_visa"})
    pm = client.v1.payment_methods.list(params={"customer": customer.id}).data[0]
    sub = client.v1.subscriptions.create(params={"customer": customer.id, "default_payment_method": pm.id,
                                                 "items": [{"price": plan["price"].id,
                                                            "tax_rates": [plan["tax"].id]}]})
    assert sub.test_clock == clock.id and sub.start_date == start
    end = sub["items"].data[0].current_period_end
    clock = client.v1.test_helpers.test_clocks.advance(clock.id, params={"frozen_time": end + 3600})
    assert clock.status == "ready" and clock.frozen_time == end + 3600
    invoices = client.v1.invoices.list(params={"subscription": sub.id}).data
    assert len(invoices) == 2 and invoices[0].created == end and invoices[0].total == GROSS
    # the sandbox-wide clock did not move
    assert sandbox.now() < end
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.test_helpers.test_clocks.advance(clock.id, params={"frozen_time": start})
    assert client.v1.test_helpers.test_clocks.retrieve(clock.id).name == "renewals"


def test_first_payment_failing_leaves_incomplete_then_incomplete_expired(client, plan, sandbox):
    customer = client.v1.customers.create(params={"email": "inc@example.com",
                                                  "payment_method": "pm_card_chargeCustomerFail"})
    pm = client.v1.payment_methods.list(params={"customer": customer.id}).data[0]
    sub = client.v1.subscriptions.create(params={"customer": customer.id, "default_payment_method": pm.id,
                                                 "items": [{"price": plan["price"].id}]})
    assert sub.status == "incomplete"
    invoice = client.v1.invoices.retrieve(sub.latest_invoice)
    assert invoice.status == "open" and invoice.next_payment_attempt is None
    with pytest.raises(stripe.CardError):
        client.v1.subscriptions.create(params={"customer": customer.id, "default_payment_method": pm.id,
                                               "items": [{"price": plan["price"].id}],
                                               "payment_behavior": "error_if_incomplete"})
    sandbox.advance(hours=24)
    assert client.v1.subscriptions.retrieve(sub.id).status == "incomplete_expired"
    assert client.v1.invoices.retrieve(invoice.id).status == "void"


def test_retries_are_charges_on_one_payment_intent(client, plan, developer, browser, sandbox):
    sub = bought(client, plan, developer, browser)
    sandbox.set_card_behavior(sub.customer, "fail")
    to_renewal(client, sandbox, sub.id)
    sandbox.advance(days=3)
    sandbox.set_card_behavior(sub.customer, "succeed")
    sandbox.advance(days=2)
    invoice = client.v1.invoices.retrieve(client.v1.subscriptions.retrieve(sub.id).latest_invoice,
                                          params={"expand": ["payments"]})
    [payment] = invoice.payments.data
    assert payment.status == "paid" and payment.amount_paid == GROSS
    charges = client.v1.charges.list(params={"payment_intent": payment.payment.payment_intent}).data
    assert [c.status for c in charges] == ["succeeded", "failed", "failed"]
    pi = client.v1.payment_intents.retrieve(payment.payment.payment_intent)
    assert pi.status == "succeeded" and pi.latest_charge == charges[0].id


def test_dispute_won_with_stripes_test_evidence(client, plan, developer, browser):
    bought(client, plan, developer, browser, card="4000 0000 0000 0259")
    dispute = client.v1.disputes.list().data[0]
    dispute = client.v1.disputes.update(dispute.id, params={
        "evidence": {"uncategorized_text": "winning_evidence"}, "submit": True})
    assert dispute.status == "won"
    assert balances(client, developer) == (FEE, GROSS - FEE)


def test_cancel_at_a_given_time(client, plan, developer, browser, sandbox):
    sub = bought(client, plan, developer, browser)
    at = sandbox.now() + 10 * DAY
    sub = client.v1.subscriptions.update(sub.id, params={"cancel_at": at})
    assert sub.cancel_at == at and sub.status == "active"
    sandbox.advance(days=11)
    sub = client.v1.subscriptions.retrieve(sub.id)
    assert sub.status == "canceled" and sub.ended_at == at


def test_renewal_without_a_card_fails_without_a_charge(client, plan, developer, browser, sandbox):
    sub = bought(client, plan, developer, browser)
    customer = client.v1.customers.retrieve(sub.customer)
    client.v1.payment_methods.detach(customer.invoice_settings.default_payment_method)
    client.v1.subscriptions.update(sub.id, params={"default_payment_method": ""})
    to_renewal(client, sandbox, sub.id)
    sub = client.v1.subscriptions.retrieve(sub.id)
    assert sub.status == "past_due"
    assert len(client.v1.charges.list(params={"customer": sub.customer}).data) == 1


def test_new_default_card_through_the_api_pays_the_overdue_invoice(client, plan, developer, browser, sandbox):
    sub = bought(client, plan, developer, browser)
    sandbox.set_card_behavior(sub.customer, "fail")
    to_renewal(client, sandbox, sub.id)
    assert client.v1.subscriptions.retrieve(sub.id).status == "past_due"
    pm = client.v1.payment_methods.attach("pm_card_mastercard", params={"customer": sub.customer})
    client.v1.customers.update(sub.customer, params={"invoice_settings": {"default_payment_method": pm.id}})
    sub = client.v1.subscriptions.retrieve(sub.id)
    # the subscription's own default card (the failing one) still wins over the customer's
    assert sub.status == "past_due"
    client.v1.subscriptions.update(sub.id, params={"default_payment_method": pm.id})
    sub = client.v1.subscriptions.retrieve(sub.id)
    assert sub.status == "active" and client.v1.invoices.retrieve(sub.latest_invoice).status == "paid"
