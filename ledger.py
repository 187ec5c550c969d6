"""The market's own ledger of money (DESIGN.md §2, QUALITY.md 22): one row per paid invoice,
integers in öre. The developer share is computed once (round half up) and everything else
follows by subtraction, so every row adds up to the öre."""
from decimal import ROUND_HALF_UP, Decimal

from peewee import fn

from models import IntegrityError, LedgerEntry, db


def developer_share(net_ore, platform_fee_percent):
    """(100 − PLATFORM_FEE_PERCENT) % of the net, rounded half up to whole öre."""
    exact = Decimal(net_ore) * (100 - Decimal(platform_fee_percent)) / 100
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def split(gross_ore, moms_ore, platform_fee_percent):
    net = gross_ore - moms_ore
    developer = developer_share(net, platform_fee_percent)
    return {"gross_ore": gross_ore, "moms_ore": moms_ore, "net_ore": net,
            "developer_share_ore": developer, "platform_fee_ore": net - developer}


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
    amounts = split(int(invoice["total"]), invoice_moms(invoice), platform_fee_percent)
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
