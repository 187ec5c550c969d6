"""The spend view (issue T): what a company pays for its apps this month and over the next 30
days, excluding and including moms, per app and in total, computed from its live subscriptions'
agreed prices and period ends (not from invoices); apps whose connection has not been used in
30 days are flagged. Money in öre (market/core/money.py); each charge's moms is rounded as its
invoice's is, so a total is exactly the sum of its rows."""
import csv
import datetime
import io

from market.billing import subscriptions
from market.core import money
from market.core.clock import STOCKHOLM, utcnow
from market.data import prepared
from models import Connection, Subscription

UNUSED_AFTER = datetime.timedelta(days=30)
AHEAD = datetime.timedelta(days=30)
UNUSED_REASON = "Not used for 30 days"


def month_bounds(now):
    """[start, end) of the Stockholm calendar month of `now`, as naive UTC datetimes."""
    local = now.replace(tzinfo=datetime.UTC).astimezone(STOCKHOLM)
    start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = (start + datetime.timedelta(days=32)).replace(day=1)
    return (start.astimezone(datetime.UTC).replace(tzinfo=None),
            following.astimezone(datetime.UTC).replace(tzinfo=None))


def charges(subscription, until, pending=None):
    """(when, öre excluding moms) of the subscription's charges from its current period's start
    up to `until`: the charge that began the period (none in a trial), then each renewal at the
    agreed price (a pending downgrade's from its date) unless it is set to cancel."""
    s = subscription
    out = []
    price_after = subscriptions.agreed_price(pending)[1] if pending is not None else s.price_ore
    if s.status == "trialing":
        first = s.trial_end or s.current_period_end
        step = None
    else:
        if s.current_period_start and s.price_ore:
            out.append((s.current_period_start, s.price_ore))
        first = s.current_period_end
        step = (s.current_period_end - s.current_period_start
                if s.current_period_start and s.current_period_end else None)
    if s.cancel_at_period_end or first is None or not price_after:
        return out
    step = step if step and step >= datetime.timedelta(days=27) else datetime.timedelta(days=30)
    when = first
    while when < until:
        out.append((when, price_after))
        when += step
    return out


def last_used(company, app, subscription):
    """The last time the company's connection to the app was used (or, never used, made); a
    company that never connected counts from its subscription's start."""
    return last_used_of(company, [app]).get(getattr(app, "id", app)) or subscription.created_at


def last_used_of(company, apps):
    """{app id: the last use (or making) of the company's connections to it} for many apps in
    one query; an app it never connected is left out (`last_used` counts from the subscription)."""
    ids = sorted({getattr(a, "id", a) for a in apps})
    if not ids:
        return {}
    out = {}
    # On every My apps render: its SQL is built once per number of apps (prepared.py).
    for c in prepared.select_listed("connections_last_used", lambda company_id, app_ids: (
            Connection.select(Connection.app, Connection.last_used_at, Connection.created_at)
            .where(Connection.company == company_id, Connection.app.in_(app_ids))),
            (getattr(company, "id", company),), ids):
        moment = c.last_used_at or c.created_at
        out[c.app_id] = max(out[c.app_id], moment) if c.app_id in out else moment
    return out


def _sum(items, since, until, vat):
    chosen = [ore for when, ore in items if since <= when < until]
    return sum(chosen), sum(money.with_moms(ore, vat) for ore in chosen)


def company_spend(company, vat_percent, now=None, apps=None, changes=None):
    """{"rows": [...], "total": {...}} for the company's live subscriptions, by app name. Each row
    and the total have month_ore / month_inc_ore (this calendar month) and next_ore / next_inc_ore
    (the next 30 days), excluding and including moms. `apps` (subscriptions.company_apps) and
    `changes` (subscriptions.plan_changes_of) save their queries when the caller has them: My
    apps shows this beside the rows it loaded."""
    now = now or utcnow()
    month_start, month_end = month_bounds(now)
    live = [(app, sub) for app, sub in (subscriptions.company_apps(company) if apps is None else apps)
            if sub is not None and sub.status in Subscription.LIVE_STATUSES]
    if changes is None:
        changes = subscriptions.plan_changes_of([sub for _, sub in live])
    used_at = last_used_of(company, [app for app, _ in live])
    rows = []
    for app, sub in live:
        items = charges(sub, max(month_end, now + AHEAD), subscriptions.pending_plan_change(sub, changes))
        month, month_inc = _sum(items, month_start, month_end, vat_percent)
        ahead, ahead_inc = _sum(items, now, now + AHEAD, vat_percent)
        used = used_at.get(app.id) or sub.created_at
        rows.append({"app": app, "subscription": sub, "plan": sub.plan, "price_ore": sub.price_ore,
                     "month_ore": month, "month_inc_ore": month_inc, "next_ore": ahead, "next_inc_ore": ahead_inc,
                     "last_used": used, "unused": used < now - UNUSED_AFTER,
                     "can_cancel": not sub.cancel_at_period_end})
    total = {name: sum(r[name] for r in rows) for name in ("month_ore", "month_inc_ore", "next_ore", "next_inc_ore")}
    return {"rows": rows, "total": total, "month_start": month_start, "now": now}


def _cell(text):
    """A CSV cell a spreadsheet reads as text, never as a formula."""
    text = str(text)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def spend_csv(spend):
    """The spend view as CSV: `;`-separated, UTF-8, amounts in öre, a total row last."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(["app", "plan", "status", "price_ore_excl_moms", "this_month_ore_excl_moms",
                     "this_month_ore_incl_moms", "next_30_days_ore_excl_moms", "next_30_days_ore_incl_moms",
                     "unused_30_days"])
    for r in spend["rows"]:
        writer.writerow([_cell(r["app"].name), _cell(r["plan"].name if r["plan"] else ""), r["subscription"].status,
                         r["price_ore"], r["month_ore"], r["month_inc_ore"], r["next_ore"], r["next_inc_ore"],
                         "yes" if r["unused"] else "no"])
    t = spend["total"]
    writer.writerow(["Total", "", "", "", t["month_ore"], t["month_inc_ore"], t["next_ore"], t["next_inc_ore"], ""])
    return out.getvalue()


FIGURES = ("month_ore", "month_inc_ore", "next_ore", "next_inc_ore")


def clients_spend(companies, vat_percent, now=None):
    """For a bureau's /bureau (issue T): each client company's spend view (company_spend, the
    same figures as its My apps) and the sum of them all, to the öre."""
    now = now or utcnow()
    rows = [{"company": company, **company_spend(company, vat_percent, now)} for company in companies]
    total = {name: sum(row["total"][name] for row in rows) for name in FIGURES}
    return {"rows": rows, "total": total, "now": now}
