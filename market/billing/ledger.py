"""The market's own ledger of money (DESIGN.md §2, QUALITY.md 22): one row per paid invoice,
integers in öre. The split is core/money's: the developer share is computed once (round half
up) and everything else follows by subtraction, so every row adds up to the öre."""
from peewee import fn

from market.billing import signals
from market.core import money
from market.data import prepared
from models import IntegrityError, LedgerEntry, db


def invoice_moms(invoice):
    """The invoice's tax: the sum of its total_taxes (current API), else total minus the total
    excluding tax."""
    taxes = invoice.get("total_taxes")
    if taxes is not None:
        return sum(int(t.get("amount") or 0) for t in taxes)
    excluding = invoice.get("total_excluding_tax")
    return int(invoice["total"]) - int(excluding) if excluding is not None else 0


def record_payment(invoice, subscription, stripe_fee_ore, charge_id, occurred_at, platform_fee_percent):
    """The ledger row of one paid invoice, made once (stripe_ref = invoice id)."""
    existing = LedgerEntry.get_or_none(LedgerEntry.stripe_ref == invoice["id"])
    if existing is not None:
        return existing
    amounts = money.split(int(invoice["total"]), invoice_moms(invoice), platform_fee_percent)
    expected_fee = amounts["platform_fee_ore"] + amounts["moms_ore"]
    app = subscription.app
    try:
        # A savepoint: invoice.paid and invoice.payment_succeeded of one invoice may race; the
        # loser keeps its transaction and finds the winner's row.
        with db.atomic():
            return LedgerEntry.create(
                kind="payment", company=subscription.company_id, app=app, developer=app.developer_id,
                subscription=subscription, stripe_invoice_id=invoice["id"], stripe_charge_id=charge_id,
                stripe_ref=invoice["id"], currency=invoice.get("currency") or "sek",
                stripe_fee_ore=stripe_fee_ore,
                fee_mismatch=stripe_fee_ore is None or stripe_fee_ore != expected_fee,
                occurred_at=occurred_at, **amounts)
    except IntegrityError:
        return LedgerEntry.get(LedgerEntry.stripe_ref == invoice["id"])


def _parts_up_to(payment, reversed_ore):
    """The payment's parts scaled to `reversed_ore` of its gross. The developer share and moms
    are rounded, the rest follows by subtraction, so each row adds up; scaling the running
    total (not each refund alone) makes a payment refunded in pieces end at exactly its
    negatives."""
    if reversed_ore == payment.gross_ore:
        moms, developer = payment.moms_ore, payment.developer_share_ore
    else:
        moms = money.proportion(payment.moms_ore, reversed_ore, payment.gross_ore)
        developer = money.proportion(payment.developer_share_ore, reversed_ore, payment.gross_ore)
    net = reversed_ore - moms
    return {"gross_ore": reversed_ore, "moms_ore": moms, "net_ore": net,
            "developer_share_ore": developer, "platform_fee_ore": net - developer}


def reversed_so_far(payment):
    """Öre of the payment's gross already given back (refunds and lost disputes), positive."""
    return reversed_by_payment([payment])[payment.id]


def reversed_by_payment(payments):
    """{payment id: reversed_so_far} for many payments in one query: the reversals (every row
    of their charge that is no payment) summed per charge."""
    payments = list(payments)
    if not payments:
        return {}
    charges = {p.stripe_charge_id for p in payments}
    known = sorted(c for c in charges if c is not None)
    def build(charge_ids):
        parts = [LedgerEntry.stripe_charge_id.in_(charge_ids)] if charge_ids else []
        if None in charges:  # a payment without a charge id meets the reversals without one
            parts.append(LedgerEntry.stripe_charge_id.is_null())
        matching = parts[0] if len(parts) == 1 else (parts[0] | parts[1])
        return (LedgerEntry.select(LedgerEntry.stripe_charge_id, fn.SUM(LedgerEntry.gross_ore).alias("total"))
                .where(matching, LedgerEntry.kind != "payment").group_by(LedgerEntry.stripe_charge_id))

    # On every My apps render: its SQL is built once per number of charges (prepared.py).
    totals = {row.stripe_charge_id: row.total for row in prepared.select_listed(
        "reversed_by_payment/" + ("null" if None in charges else "ids"), build, (), known)}
    return {p.id: -int(totals.get(p.stripe_charge_id) or 0) for p in payments}


def payment_of_charge(charge_id):
    if not charge_id:
        return None
    return LedgerEntry.get_or_none(LedgerEntry.stripe_charge_id == charge_id, LedgerEntry.kind == "payment")


def record_reversal(kind, payment, amount_ore, stripe_ref, occurred_at, refund_status=None):
    """A refund or lost dispute of `amount_ore` of the payment's gross: a negative row with
    proportional parts, made once per Stripe refund or dispute id. None when nothing is left
    to reverse (a second reversal of the same money, e.g. a refund after a lost dispute)."""
    existing = LedgerEntry.get_or_none(LedgerEntry.stripe_ref == stripe_ref)
    if existing is not None:
        return existing
    before = reversed_so_far(payment)
    amount_ore = min(int(amount_ore), payment.gross_ore - before)
    if amount_ore <= 0:
        return None
    after_parts = _parts_up_to(payment, before + amount_ore)
    before_parts = _parts_up_to(payment, before)
    amounts = {name: -(after_parts[name] - before_parts[name]) for name in after_parts}
    stripe_fee = None
    if payment.stripe_fee_ore is not None:
        stripe_fee = -(money.proportion(payment.stripe_fee_ore, before + amount_ore, payment.gross_ore)
                       - money.proportion(payment.stripe_fee_ore, before, payment.gross_ore))
    try:
        with db.atomic():
            reversal = LedgerEntry.create(
                kind=kind, company=payment.company_id, app=payment.app_id, developer=payment.developer_id,
                subscription=payment.subscription_id, stripe_invoice_id=payment.stripe_invoice_id,
                stripe_charge_id=payment.stripe_charge_id, stripe_ref=stripe_ref, currency=payment.currency,
                stripe_fee_ore=stripe_fee, fee_mismatch=False, occurred_at=occurred_at,
                refund_status=refund_status, **amounts)
            # A payment refunded in full takes its company's rating out of the app's totals.
            signals.payment_reversed.send(payment, config=None, now=occurred_at)
            return reversal
    except IntegrityError:
        return LedgerEntry.get(LedgerEntry.stripe_ref == stripe_ref)


def undone_ref(reversal):
    return reversal.stripe_ref + ":failed"


def follow_refund(reversal, status):
    """A refund's row moves pending → succeeded (never back: a late `pending` is stale)."""
    if reversal.refund_status == status or reversal.refund_status in ("succeeded", "failed", "canceled"):
        return reversal
    LedgerEntry.update(refund_status=status).where(LedgerEntry.id == reversal.id).execute()
    reversal.refund_status = status
    return reversal


def undo_reversal(reversal, status, occurred_at):
    """A refund that failed (or was canceled) gave nothing back: the ledger books the exact
    opposite of its row (a positive row under `<refund id>:failed`), made once, so every total
    and what is left to refund are as before the refund."""
    ref = undone_ref(reversal)
    existing = LedgerEntry.get_or_none(LedgerEntry.stripe_ref == ref)
    if existing is None:
        try:
            with db.atomic():
                existing = LedgerEntry.create(
                    kind=reversal.kind, company=reversal.company_id, app=reversal.app_id,
                    developer=reversal.developer_id, subscription=reversal.subscription_id,
                    stripe_invoice_id=reversal.stripe_invoice_id, stripe_charge_id=reversal.stripe_charge_id,
                    stripe_ref=ref, currency=reversal.currency,
                    stripe_fee_ore=None if reversal.stripe_fee_ore is None else -reversal.stripe_fee_ore,
                    fee_mismatch=False, occurred_at=occurred_at, refund_status=status,
                    net_ore=-reversal.net_ore, moms_ore=-reversal.moms_ore, gross_ore=-reversal.gross_ore,
                    developer_share_ore=-reversal.developer_share_ore,
                    platform_fee_ore=-reversal.platform_fee_ore)
        except IntegrityError:
            existing = LedgerEntry.get(LedgerEntry.stripe_ref == ref)
        else:
            # The payment is paid again: its company's rating counts again.
            signals.payment_reversed.send(reversal, config=None, now=occurred_at)
    LedgerEntry.update(refund_status=status).where(LedgerEntry.id == reversal.id).execute()
    return existing


def refunds_by_invoice(invoice_ids):
    """{invoice id: [refund rows, oldest first]} for My apps: each refund of those invoices with
    its amount (positive öre, `gross_ore` negated), date and state (`refund_status`). The
    opposite row that undoes a failed refund is not a refund of its own."""
    out = {}
    ids = [i for i in invoice_ids if i]
    if not ids:
        return out
    # On every My apps render: its SQL is built once per number of invoices (prepared.py).
    rows = prepared.select_listed("refunds_by_invoice", lambda invoice_ids: (
        LedgerEntry.select().where(LedgerEntry.kind == "refund", LedgerEntry.stripe_invoice_id.in_(invoice_ids),
                                   ~LedgerEntry.stripe_ref.endswith(":failed"))
        .order_by(LedgerEntry.occurred_at, LedgerEntry.id)), (), ids)
    for row in rows:
        out.setdefault(row.stripe_invoice_id, []).append(row)
    return out


def recent_payments(limit=50):
    """For the admin's refunds page: the newest payments with what is left to refund."""
    payments = list(LedgerEntry.select().where(LedgerEntry.kind == "payment")
                    .order_by(LedgerEntry.occurred_at.desc(), LedgerEntry.id.desc()).limit(limit))
    given_back = reversed_by_payment(payments)
    return [(p, p.gross_ore - given_back[p.id]) for p in payments]


def _between(query, since, until):
    if since is not None:
        query = query.where(LedgerEntry.occurred_at >= since)
    if until is not None:
        query = query.where(LedgerEntry.occurred_at < until)
    return query


def totals(since=None, until=None, developer=None, app=None):
    """Sums over the ledger, in öre: gross, moms, net, developer share, platform fee."""
    query = LedgerEntry.select(
        fn.COALESCE(fn.SUM(LedgerEntry.gross_ore), 0).alias("gross"),
        fn.COALESCE(fn.SUM(LedgerEntry.moms_ore), 0).alias("moms"),
        fn.COALESCE(fn.SUM(LedgerEntry.net_ore), 0).alias("net"),
        fn.COALESCE(fn.SUM(LedgerEntry.developer_share_ore), 0).alias("developer"),
        fn.COALESCE(fn.SUM(LedgerEntry.platform_fee_ore), 0).alias("platform"),
    )
    if developer is not None:
        query = query.where(LedgerEntry.developer == developer)
    if app is not None:
        query = query.where(LedgerEntry.app == app)
    row = _between(query, since, until).dicts().get()
    return {name: int(value or 0) for name, value in row.items()}


def developer_earnings(developer, since=None, until=None):
    """What the developer received (its 75 % of the net), in öre, over [since, until)."""
    return totals(since, until, developer=developer)["developer"]


def platform_revenue(since=None, until=None):
    """The platform's share of the net (its 25 %), in öre, over [since, until); moms excluded."""
    return totals(since, until)["platform"]
