"""A developer's monthly statements (issue U item 4): what its accountant reconciles.

- A month is a calendar month in Europe/Stockholm. A ledger row belongs to the month in which
  the ledger recorded it: the month of its `occurred_at`, unless the row was written
  (`created_at`) after that month closed; then it is booked in the month it was written in, and
  its `invoice` column names the invoice it corrects.
- A month closes at 00:00 (Stockholm) on the 3rd of the next month. The first time a closed
  month is read, its statement is kept (models.StatementMonth) and served from then on: a month
  once closed never changes.
- Each statement lists every paid invoice (company, app, plan, net, moms, gross, the platform's
  share, the developer's share), refunds and lost disputes as reversals (negative), the Stripe
  lines of each charge (the transfer of the whole charge, the application fee taken back; their
  difference is the developer's share) and the payouts of the developer's connected account in
  the month, read from Stripe with `Stripe-Account`.
- The totals are sums of the ledger rows (payment, refund, dispute), so they equal
  market.billing.ledger.totals and the dashboard over the same rows, to the öre.

Amounts are öre. Stripe lines and payouts carry their amount in `gross_ore` only, signed as the
money moves on the developer's Stripe balance (a transfer +, the application fee −, a payout −).
"""
import datetime
import json
import re

from peewee import JOIN, fn

from market.billing import gateway
from market.core.clock import STOCKHOLM
from market.dashboards.figures import csv_safe
from models import (
    App,
    Company,
    Developer,
    IntegrityError,
    LedgerEntry,
    Plan,
    StatementMonth,
    Subscription,
    db,
)

CSV_HEADER = ["date", "kind", "company", "org_number", "app", "plan", "invoice", "net_ore", "moms_ore", "gross_ore",
              "platform_fee_ore", "developer_share_ore", "stripe_fee_ore"]
AMOUNTS = ("net_ore", "moms_ore", "gross_ore", "platform_fee_ore", "developer_share_ore", "stripe_fee_ore")
LEDGER_KINDS = ("payment", "refund", "dispute", "refund_undone")
CLOSING_DAY = 3  # a month closes at 00:00 on this day of the next month
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})", re.ASCII)
PAYOUT_PAGES = 20  # at most 2,000 payouts a month are read


class StatementUnavailable(Exception):
    """Stripe could not be asked for the month's payouts."""


# ---------------------------------------------------------------------------------- months
def parse_month(text):
    """'2026-12' → date(2026, 12, 1); anything else → None."""
    match = _MONTH.fullmatch(text or "")
    if not match:
        return None
    year, month = int(match.group(1)), int(match.group(2))
    if not (2000 <= year <= 2100 and 1 <= month <= 12):
        return None
    return datetime.date(year, month, 1)


def label(month):
    return f"{month.year:04d}-{month.month:02d}"


def next_month(month):
    return datetime.date(month.year + month.month // 12, month.month % 12 + 1, 1)


def _utc(local_date, day=None):
    """00:00 in Stockholm of the date, as the naive UTC datetime the tables store."""
    if day is not None:
        local_date = local_date.replace(day=day)
    moment = datetime.datetime.combine(local_date, datetime.time(), tzinfo=STOCKHOLM)
    return moment.astimezone(datetime.UTC).replace(tzinfo=None)


def bounds(month):
    """[since, until) of the Stockholm calendar month, in naive UTC."""
    return _utc(month), _utc(next_month(month))


def closes_at(month):
    """00:00 Stockholm on the 3rd of the next month, in naive UTC."""
    return _utc(next_month(month), day=CLOSING_DAY)


def closing_text(month):
    """When the month closes, as people in Stockholm read it."""
    return f"{next_month(month).replace(day=CLOSING_DAY).isoformat()} 00:00"


def is_closed(month, now):
    return now >= closes_at(month)


def month_of(moment):
    """The Stockholm calendar month of a stored (naive UTC) datetime."""
    local = moment.replace(tzinfo=datetime.UTC).astimezone(STOCKHOLM)
    return datetime.date(local.year, local.month, 1)


def booked_month(occurred_at, created_at):
    """The month a ledger row belongs to: its own, or, written after that one closed, the month
    it was written in."""
    own = month_of(occurred_at)
    if created_at is not None and created_at >= closes_at(own):
        return month_of(created_at)
    return own


def months(developer, now):
    """The developer's statement months, newest first: from its first ledger row to now."""
    row = (LedgerEntry.select(fn.MIN(LedgerEntry.occurred_at).alias("first_occurred"),
                              fn.MIN(LedgerEntry.created_at).alias("first_created"))
           .where(LedgerEntry.developer == developer).dicts().get())
    current = month_of(now)
    starts = [_as_datetime(value) for value in row.values() if value is not None]
    first = min([month_of(value) for value in starts] + [current])
    found, month = [], first
    while month <= current:
        found.append(month)
        month = next_month(month)
    return list(reversed(found))


def _as_datetime(value):
    if isinstance(value, str):  # SQLite hands aggregates of timestamps back as text
        return datetime.datetime.fromisoformat(value)
    return value


# ---------------------------------------------------------------------------------- rows
def _local_date(moment):
    return moment.replace(tzinfo=datetime.UTC).astimezone(STOCKHOLM).date().isoformat()


def _ledger_entries(developer, month):
    """The developer's ledger rows booked in the month, oldest first."""
    since, until = bounds(month)
    own = (LedgerEntry.occurred_at >= since) & (LedgerEntry.occurred_at < until) & (
        LedgerEntry.created_at < closes_at(month))
    # Written in this month about an earlier one: booked here if that month had closed.
    late = (LedgerEntry.created_at >= since) & (LedgerEntry.created_at < until) & (LedgerEntry.occurred_at < since)
    query = (LedgerEntry.select(LedgerEntry, App.name.alias("app_name"), App.slug.alias("app_slug"),
                                Company.name.alias("company_name"), Company.org_number.alias("company_org"),
                                Company.share_org_number.alias("company_shares_org"),
                                Plan.name.alias("plan_name"))
             .join(App, on=(LedgerEntry.app == App.id))
             .switch(LedgerEntry).join(Company, JOIN.LEFT_OUTER, on=(LedgerEntry.company == Company.id))
             .switch(LedgerEntry).join(Subscription, JOIN.LEFT_OUTER, on=(LedgerEntry.subscription == Subscription.id))
             .join(Plan, JOIN.LEFT_OUTER, on=(Subscription.plan == Plan.id))
             .where(LedgerEntry.developer == developer, own | late)
             .order_by(LedgerEntry.occurred_at, LedgerEntry.id))
    entries = []
    for entry in query.objects():
        if booked_month(entry.occurred_at, entry.created_at) == month:
            entries.append(entry)
    entries.sort(key=lambda e: (e.created_at if month_of(e.occurred_at) != month else e.occurred_at, e.id))
    return entries


def _row(date, kind, entry, **amounts):
    row = {"date": date, "kind": kind, "company": "", "org_number": "", "app": entry.app_name,
           "app_slug": entry.app_slug, "plan": entry.plan_name or "", "invoice": entry.stripe_invoice_id or "",
           "ref": entry.stripe_ref, "late_from": None}
    row["company"] = entry.company_name or ""
    if entry.company_shares_org:
        row["org_number"] = entry.company_org or ""
    row.update({name: amounts.get(name) for name in AMOUNTS})
    return row


def _kind(entry):
    if entry.kind == "refund" and entry.stripe_ref.endswith(":failed"):
        return "refund_undone"
    return entry.kind


def _stripe_lines(entry, date):
    """The Stripe lines of one ledger row: what moved on the developer's Stripe balance."""
    kind, fee = _kind(entry), entry.stripe_fee_ore
    if kind == "payment":
        lines = [("transfer", entry.gross_ore)]
        if fee is not None:
            lines.append(("application_fee", -fee))
    elif kind == "dispute":
        # A lost dispute takes back what the developer kept (the platform keeps its fee).
        lines = [("transfer_reversal", entry.gross_ore - (fee or 0))]
    elif kind == "refund":
        lines = [("transfer_reversal", entry.gross_ore)]
        if fee is not None:
            lines.append(("application_fee_refund", -fee))
    else:  # a failed refund gave it all back
        lines = [("transfer_reversal_undone", entry.gross_ore)]
        if fee is not None:
            lines.append(("application_fee_refund_undone", -fee))
    return [_row(date, name, entry, gross_ore=amount) for name, amount in lines]


def ledger_rows(developer, month):
    """(ledger rows, Stripe lines) of the month, as plain dicts."""
    rows, stripe_lines = [], []
    for entry in _ledger_entries(developer, month):
        late = month_of(entry.occurred_at) != month
        date = _local_date(entry.created_at if late else entry.occurred_at)
        row = _row(date, _kind(entry), entry, net_ore=entry.net_ore, moms_ore=entry.moms_ore,
                   gross_ore=entry.gross_ore, platform_fee_ore=entry.platform_fee_ore,
                   developer_share_ore=entry.developer_share_ore, stripe_fee_ore=entry.stripe_fee_ore)
        if late:
            row["late_from"] = _local_date(entry.occurred_at)
        rows.append(row)
        stripe_lines.extend(_stripe_lines(entry, date))
    return rows, stripe_lines


def fetch_payouts(config, account_id, month):
    """The connected account's payouts created in the month, read with Stripe-Account."""
    if not account_id:
        return []
    since, until = bounds(month)
    created = {"gte": int(since.replace(tzinfo=datetime.UTC).timestamp()),
               "lt": int(until.replace(tzinfo=datetime.UTC).timestamp())}
    client = gateway.stripe_client(config)
    found, after = [], None
    try:
        for _ in range(PAYOUT_PAGES):
            params = {"limit": 100, "created": created}
            if after:
                params["starting_after"] = after
            page = client.v1.payouts.list(params=params, options={"stripe_account": account_id})
            found.extend(page.data)
            if not page.has_more or not page.data:
                break
            after = page.data[-1].id
    except gateway.StripeError as problem:
        raise StatementUnavailable(str(problem)) from problem
    rows = []
    for payout in sorted(found, key=lambda p: (p.created, p.id)):
        moment = gateway.from_timestamp(payout.created)
        rows.append({"date": _local_date(moment), "kind": "payout", "company": "", "org_number": "", "app": "",
                     "app_slug": "", "plan": "", "invoice": payout.id, "ref": payout.id, "late_from": None,
                     "status": payout.status, **{name: None for name in AMOUNTS},
                     "gross_ore": -int(payout.amount)})
    return rows


# ---------------------------------------------------------------------------------- the statement
def totals(rows):
    """Sums of the ledger rows, in öre."""
    return {name: sum(int(row[name] or 0) for row in rows if row["kind"] in LEDGER_KINDS) for name in AMOUNTS}


def _build(config, developer, month, now):
    rows, stripe_lines = ledger_rows(developer.id, month)
    payouts = fetch_payouts(config, developer.stripe_account_id, month)
    return {"month": label(month), "closed": is_closed(month, now), "rows": rows, "stripe": stripe_lines,
            "payouts": payouts}


def statement(config, developer_id, month, now, app_slug=None):
    """The developer's statement of the month (optionally of one of its apps). A closed month is
    kept the first time it is read and served from then on. Raises StatementUnavailable when
    Stripe cannot list the payouts (nothing is kept then)."""
    developer = Developer.get_by_id(developer_id)
    kept = StatementMonth.get_or_none(StatementMonth.developer == developer, StatementMonth.month == label(month))
    if kept is not None:
        body = json.loads(kept.body)
    else:
        # No transaction is open while Stripe answers; the statement is written after.
        body = _build(config, developer, month, now)
        if body["closed"]:
            try:
                with db.atomic():
                    StatementMonth.create(developer=developer, month=label(month), body=json.dumps(body))
            except IntegrityError:  # another request kept it first: serve that one
                kept = StatementMonth.get(StatementMonth.developer == developer, StatementMonth.month == label(month))
                body = json.loads(kept.body)
    body["closed"] = is_closed(month, now)
    body["closes_at"] = closing_text(month)
    if app_slug is not None:
        for part in ("rows", "stripe"):
            body[part] = [row for row in body[part] if row["app_slug"] == app_slug]
        body["payouts"] = []  # a payout is of the whole account, not of one app
    body["totals"] = totals(body["rows"])
    body["stripe_total"] = sum(int(row["gross_ore"] or 0) for row in body["stripe"])
    body["payouts_total"] = sum(int(row["gross_ore"] or 0) for row in body["payouts"])
    return body


def csv_rows(body):
    """The statement's CSV rows (after the header): ledger rows, Stripe lines, payouts."""
    for row in body["rows"] + body["stripe"] + body["payouts"]:
        yield [row["date"], row["kind"], csv_safe(row["company"]), csv_safe(row["org_number"]), csv_safe(row["app"]),
               csv_safe(row["plan"]), csv_safe(row["invoice"]),
               *("" if row[name] is None else int(row[name]) for name in AMOUNTS)]
