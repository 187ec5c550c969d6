"""Refunds and lost disputes as ledger reversals (QUALITY.md 22): proportional parts that add
up to the öre, a full reversal exactly the negatives of the payment, pieces that end there too,
once per Stripe id; and the webhook paths that write them."""
import time

from market.billing import ledger
from market.core import money
from models import LedgerEntry, utcnow
from tests.billing.conftest import event, invoice_object, post_event, subscription_object


def _payment(sub_row, gross, moms, ref="in_rev", charge="ch_rev", fee=None):
    amounts = money.split(gross, moms, 25)
    return LedgerEntry.create(kind="payment", company=sub_row.company_id, app=sub_row.app_id,
                              developer=sub_row.app.developer_id, subscription=sub_row, stripe_invoice_id=ref,
                              stripe_charge_id=charge, stripe_ref=ref, stripe_fee_ore=fee, occurred_at=utcnow(),
                              **amounts)


def _adds_up(row):
    return (row.net_ore + row.moms_ore == row.gross_ore
            and row.developer_share_ore + row.platform_fee_ore + row.moms_ore == row.gross_ore)


def test_full_partial_and_piecewise_reversals(app, paid_app, customer):
    from tests import factories

    listing, plan, _ = paid_app
    _, company = customer
    sub = factories.subscription(company, listing, plan=plan)
    payment = _payment(sub, 24875, 4975, fee=9950)
    assert (payment.developer_share_ore, payment.platform_fee_ore) == (14925, 4975)

    # Partial: a third of the gross, rounded half up, still adding up.
    part = ledger.record_reversal("refund", payment, 8292, "re_1", utcnow())
    assert part.kind == "refund" and part.gross_ore == -8292
    assert part.moms_ore == -1658  # 4975 × 8292 / 24875 = 1658.4
    assert part.developer_share_ore == -4975  # 14925 × 8292 / 24875 = 4975.2
    assert _adds_up(part) and part.stripe_charge_id == "ch_rev"
    assert part.stripe_fee_ore == -3317  # 9950 × 8292 / 24875 = 3316.8
    # The same refund id again: the same row, nothing added.
    assert ledger.record_reversal("refund", payment, 8292, "re_1", utcnow()).id == part.id
    # Two more pieces: the payment ends exactly at zero in every column.
    ledger.record_reversal("refund", payment, 8292, "re_2", utcnow())
    last = ledger.record_reversal("refund", payment, 8291, "re_3", utcnow())
    assert _adds_up(last)
    totals = ledger.totals()
    assert totals == {"gross": 0, "moms": 0, "net": 0, "developer": 0, "platform": 0}
    assert all(_adds_up(row) for row in LedgerEntry.select())
    # Nothing left: a later dispute of the same charge reverses nothing.
    assert ledger.record_reversal("dispute", payment, 24875, "dp_1", utcnow()) is None
    assert ledger.reversed_so_far(payment) == 24875


def test_full_reversal_is_exactly_the_negative_with_odd_amounts(app, paid_app, customer):
    from tests import factories

    listing, plan, _ = paid_app
    _, company = customer
    sub = factories.subscription(company, listing, plan=plan)
    for i, (gross, moms) in enumerate([(1, 0), (3, 1), (24875, 4975), (12346, 2469), (99999, 20000)]):
        payment = _payment(sub, gross, moms, ref=f"in_odd{i}", charge=f"ch_odd{i}")
        row = ledger.record_reversal("dispute", payment, gross, f"dp_odd{i}", utcnow())
        for name in ("gross_ore", "moms_ore", "net_ore", "developer_share_ore", "platform_fee_ore"):
            assert getattr(row, name) == -getattr(payment, name), (gross, name)
    assert ledger.totals() == {"gross": 0, "moms": 0, "net": 0, "developer": 0, "platform": 0}
    # Asking for more than is left reverses only what is left.
    payment = _payment(sub, 1000, 200, ref="in_more", charge="ch_more")
    ledger.record_reversal("refund", payment, 600, "re_more1", utcnow())
    rest = ledger.record_reversal("refund", payment, 600, "re_more2", utcnow())
    assert rest.gross_ore == -400


def test_charge_refunded_and_lost_dispute_webhooks(client, fake_stripe, paid_app, customer, monkeypatch):
    from market.billing import webhooks

    listing, plan, _ = paid_app
    _, company = customer
    sub = subscription_object("sub_rf", "active", company, listing, plan)
    fake_stripe.subscriptions["sub_rf"] = sub
    invoice = invoice_object("in_rf", sub, 19900)
    fake_stripe.payments["in_rf"] = {"charge": "ch_rf", "fee": 9950}
    assert post_event(client, event("invoice.paid", invoice)).status_code == 200
    refunds = [{"id": "re_a", "amount": 10000, "status": "succeeded", "created": int(time.time())}]
    monkeypatch.setattr(webhooks, "fetch_refunds", lambda config, charge_id: list(refunds))
    charge = {"id": "ch_rf", "object": "charge", "amount": 24875, "amount_refunded": 10000}
    assert post_event(client, event("charge.refunded", charge)).status_code == 200
    refunds.append({"id": "re_b", "amount": 4875, "status": "succeeded", "created": int(time.time())})
    assert post_event(client, event("charge.refunded", dict(charge, amount_refunded=14875))).status_code == 200
    rows = list(LedgerEntry.select().where(LedgerEntry.kind == "refund").order_by(LedgerEntry.id))
    assert [r.gross_ore for r in rows] == [-10000, -4875]
    # A charge the ledger does not know (another installation's) is acknowledged, nothing written.
    assert post_event(client, event("charge.refunded", {"id": "ch_other", "object": "charge"})).status_code == 200
    dispute = {"id": "dp_rf", "object": "dispute", "charge": "ch_rf", "amount": 24875, "status": "needs_response",
               "reason": "fraudulent", "created": int(time.time())}
    assert post_event(client, event("charge.dispute.created", dispute)).status_code == 200
    assert LedgerEntry.select().where(LedgerEntry.kind == "dispute").count() == 0
    reversed_at_stripe = []
    from market.billing import after_events

    monkeypatch.setattr(after_events, "reverse_developer_share_of_lost_dispute",
                        lambda config, d: reversed_at_stripe.append(d["id"]))
    lost = dict(dispute, status="lost")
    closed = event("charge.dispute.closed", lost)
    assert post_event(client, closed).status_code == 200
    assert post_event(client, closed).status_code == 200  # redelivered: nothing twice
    assert reversed_at_stripe == ["dp_rf"]
    reversal = LedgerEntry.get(LedgerEntry.kind == "dispute")
    assert reversal.gross_ore == -(24875 - 14875)  # only what the refunds left
    assert ledger.totals()["gross"] == 0 and ledger.totals()["developer"] == 0
    from market.billing import refunds

    listed = refunds.disputes()
    assert [(d["id"], d["status"], d["amount_ore"]) for d in listed] == [("dp_rf", "lost", 24875)]
    assert refunds.disputes(listing.developer)[0]["payment"].stripe_ref == "in_rf"
    from tests import factories

    assert refunds.disputes(factories.developer()) == []  # another developer sees none
