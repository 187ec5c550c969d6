"""The numbers developers and the platform run on (issue J): one function per figure set, each a
fixed number of SQL aggregates whatever the data size, so a developer with 50 apps and 100,000
ledger rows gets its page as fast as one with a single app.

"Never two numbers for the same thing": the per-app rows and the total of `developer_figures`
come from the same queries (the total is the sum of the app rows), and the CSV exports reuse the
same period and the same ledger conditions as the page.

Definitions (shown on the page as help text):
- MRR: the sum of `price_ore` (per month, excluding moms) of subscriptions that are `active` or
  `past_due` right now. Trials count 0 until they are paid.
- MRR at a moment in the past (the charts): each subscription adds what it added after its last
  change before that moment (models.SubscriptionChange, written with every change of its status
  or price), so a month keeps the prices paid then; the running month ends now.
- MRR movement of a month, from those changes: *new* = a subscription starting to count (paid,
  or its trial converted) for a company that never had this app before; *reactivation* = the
  same for a company that had it before, or a subscription counting again; *churn* = one that
  stops counting (canceled, unpaid); *expansion* / *contraction* = a price going up / down (a
  plan change: one row at the new monthly price, whatever a prorated invoice charged).
  New + reactivation + expansion + contraction + churn of a month = MRR at its end − MRR at
  the previous month's end.

Money is öre until it is written: the page through the template filters, the CSV files through
market.core.money.format_plain. Which subscriptions count for MRR is market.billing.history's
rule; whether an app qualifies for Recommended is market.recommendations.ranking's.
"""
import datetime
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass

from peewee import JOIN, SQL, Case, Select, fn

from market.accounts import companies
from market.billing import history as subscription_history
from market.catalog.store import mean_rating
from market.core import money, words
from market.data import database, prepared
from market.recommendations import ranking as recommendations
from market.reviews import ratings
from models import (
    App,
    AppNotification,
    AppStats,
    CheckoutAttempt,
    Company,
    Connection,
    Developer,
    LedgerEntry,
    Plan,
    Review,
    ReviewReply,
    ReviewReport,
    StripeEvent,
    Subscription,
    SubscriptionChange,
    db,
    utcnow,
)

# Subscriptions that count for MRR, and those never paid for (Checkout abandoned or the first
# payment failed): the subscriptions' MRR history counts the same way.
MRR_STATUSES = subscription_history.MRR_STATUSES
NEVER_STARTED = subscription_history.NEVER_STARTED
# A trial in one of these states has ended with a charge (imported history has no ledger rows).
CONVERTED = Subscription.CONVERTED_STATUSES
MAX_RANGE_DAYS = 5 * 366
MONEY_FIELDS = ("gross_ore", "moms_ore", "net_ore", "developer_ore", "platform_ore", "refunds_ore",
                "disputes_ore")
COUNT_FIELDS = ("active_customers", "paying_customers", "mrr_ore", "dunning", "new_customers",
                "churned_customers", "trial_starts", "trial_conversions", "checkouts", "checkouts_completed",
                "payments", "rating_sum", "rating_count", "stars_1", "stars_2", "stars_3", "stars_4", "stars_5")


# ---------------------------------------------------------------------------------- the period
@dataclass(frozen=True)
class Period:
    """[since, until) in naive UTC; `first` and `last` are the dates people typed (inclusive)."""
    first: datetime.date
    last: datetime.date

    @property
    def since(self):
        return datetime.datetime.combine(self.first, datetime.time())

    @property
    def until(self):
        return datetime.datetime.combine(self.last + datetime.timedelta(days=1), datetime.time())

    def months(self):
        """First days of the months the period touches, oldest first."""
        months, year, month = [], self.first.year, self.first.month
        while (year, month) <= (self.last.year, self.last.month):
            months.append(datetime.date(year, month, 1))
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return months


def default_period(today):
    """The last 12 months: from the first day of the month 11 months back, to today."""
    year, month = today.year, today.month - 11
    if month < 1:
        year, month = year - 1, month + 12
    return Period(datetime.date(year, month, 1), today)


def _parse_date(text):
    text = (text or "").strip()
    if len(text) != 10 or not all(c.isdigit() or c == "-" for c in text):
        raise ValueError(text)
    value = datetime.date.fromisoformat(text)
    if not 2000 <= value.year <= 2100:
        raise ValueError(text)
    return value


def parse_period(from_text, to_text, today):
    """The period from the `from` and `to` query parameters (YYYY-MM-DD, both inclusive).
    Returns (period, problem): on bad input the default period and a sentence saying why."""
    default = default_period(today)
    if not (from_text or "").strip() and not (to_text or "").strip():
        return default, None
    try:
        first = _parse_date(from_text) if (from_text or "").strip() else default.first
        last = _parse_date(to_text) if (to_text or "").strip() else today
    except ValueError:
        return default, words.marked("Dates are written YYYY-MM-DD, for example 2026-01-31. Showing the last 12 months.")
    if first > last:
        return default, words.marked("The start date is after the end date. Showing the last 12 months.")
    if (last - first).days > MAX_RANGE_DAYS:
        return default, words.marked("A period can be at most five years. Showing the last 12 months.")
    return Period(first, last), None


# PostgreSQL sees two bound 'YYYY-MM' parameters as two expressions, so a month is grouped by
# its position in the select list.
BY_FIRST_COLUMN = SQL("1")


def _month_of(column):
    """'YYYY-MM' of a timestamp column, in the database's own dialect."""
    if database.is_postgres(db):
        return fn.to_char(column, "YYYY-MM")
    return fn.strftime("%Y-%m", column)


def _within(column, period):
    return (column >= period.since) & (column < period.until)


def _sum_if(condition, value=1):
    return fn.COALESCE(fn.SUM(Case(None, [(condition, value)], 0)), 0)


def month_label(month):
    return month.strftime("%Y-%m")


# ---------------------------------------------------------------------------------- developer
def _blank(app_row):
    figures = {name: 0 for name in COUNT_FIELDS + MONEY_FIELDS}
    figures.update(app_row)
    return figures


def _apps_with_stats(developer, app):
    query = (App.select(App.id.alias("app_id"), App.slug, App.name, App.is_free, App.status,
                        fn.COALESCE(AppStats.active_customers, 0).alias("active_customers"),
                        fn.COALESCE(AppStats.paying_customers, 0).alias("paying_customers"),
                        fn.COALESCE(AppStats.rating_sum, 0).alias("rating_sum"),
                        fn.COALESCE(AppStats.rating_count, 0).alias("rating_count"),
                        *[fn.COALESCE(getattr(AppStats, f"stars_{s}"), 0).alias(f"stars_{s}") for s in range(1, 6)])
             .join(AppStats, JOIN.LEFT_OUTER, on=(AppStats.app == App.id))
             .where(App.developer == developer)
             .order_by(App.name, App.id))
    if app is not None:
        query = query.where(App.id == app)
    return list(query.dicts())


def _by_app(query, developer, app, column):
    query = query.join(App, on=(column == App.id)).where(App.developer == developer).group_by(column)
    if app is not None:
        query = query.where(column == app)
    return {row.pop("app_id"): row for row in query.dicts()}


def _subscription_figures(developer, app, period):
    paid_once = (LedgerEntry.select(LedgerEntry.id)
                 .where(LedgerEntry.subscription == Subscription.id, LedgerEntry.kind == "payment",
                        LedgerEntry.gross_ore > 0))
    started = _within(Subscription.created_at, period) & Subscription.status.not_in(NEVER_STARTED)
    trial = _within(Subscription.created_at, period) & Subscription.trial_end.is_null(False)
    query = Subscription.select(
        Subscription.app.alias("app_id"),
        _sum_if(Subscription.status.in_(MRR_STATUSES), Subscription.price_ore).alias("mrr_ore"),
        _sum_if(Subscription.status.in_(Subscription.DUNNING_STATUSES)).alias("dunning"),
        fn.COUNT(fn.DISTINCT(Case(None, [(started, Subscription.company)], None))).alias("new_customers"),
        fn.COUNT(fn.DISTINCT(Case(None, [(_within(Subscription.ended_at, period), Subscription.company)],
                                  None))).alias("churned_customers"),
        _sum_if(trial).alias("trial_starts"),
        _sum_if(trial & (Subscription.status.in_(CONVERTED) | fn.EXISTS(paid_once))).alias("trial_conversions"),
    )
    return _by_app(query, developer, app, Subscription.app)


def _connection_figures(developer, app, period):
    """For free apps a customer is a connection (there is no subscription)."""
    query = Connection.select(
        Connection.app.alias("app_id"),
        fn.COUNT(fn.DISTINCT(Case(None, [(_within(Connection.created_at, period), Connection.company)],
                                  None))).alias("new_customers"),
        fn.COUNT(fn.DISTINCT(Case(None, [(_within(Connection.revoked_at, period), Connection.company)],
                                  None))).alias("churned_customers"),
    ).where(companies.counts_as_customer(Connection.company))
    return _by_app(query, developer, app, Connection.app)


def _checkout_figures(developer, app, period):
    query = (CheckoutAttempt.select(
        CheckoutAttempt.app.alias("app_id"),
        fn.COUNT(CheckoutAttempt.id).alias("checkouts"),
        _sum_if(CheckoutAttempt.status == "complete").alias("checkouts_completed"))
        .where(_within(CheckoutAttempt.created_at, period)))
    return _by_app(query, developer, app, CheckoutAttempt.app)


def _ledger_sums(period):
    """The ledger's columns summed, as the page and the CSV total show them."""
    return [
        fn.COALESCE(fn.SUM(LedgerEntry.gross_ore), 0).alias("gross_ore"),
        fn.COALESCE(fn.SUM(LedgerEntry.moms_ore), 0).alias("moms_ore"),
        fn.COALESCE(fn.SUM(LedgerEntry.net_ore), 0).alias("net_ore"),
        fn.COALESCE(fn.SUM(LedgerEntry.developer_share_ore), 0).alias("developer_ore"),
        fn.COALESCE(fn.SUM(LedgerEntry.platform_fee_ore), 0).alias("platform_ore"),
        _sum_if(LedgerEntry.kind == "refund", LedgerEntry.gross_ore).alias("refunds_ore"),
        _sum_if(LedgerEntry.kind == "dispute", LedgerEntry.gross_ore).alias("disputes_ore"),
        _sum_if(LedgerEntry.kind == "payment").alias("payments"),
    ]


def _ledger_figures(developer, app, period):
    query = (LedgerEntry.select(LedgerEntry.app.alias("app_id"), *_ledger_sums(period))
             .where(LedgerEntry.developer == developer, _within(LedgerEntry.occurred_at, period),
                    companies.counts_as_customer(LedgerEntry.company)))
    return _by_app(query, developer, app, LedgerEntry.app)


def _add_rates(figures):
    figures["rating"] = mean_rating(figures["rating_sum"], figures["rating_count"])
    figures["trial_conversion"] = _percent(figures["trial_conversions"], figures["trial_starts"])
    figures["checkout_conversion"] = _percent(figures["checkouts_completed"], figures["checkouts"])
    return figures


def _percent(part, whole):
    return f"{part * 100 / whole:.1f} %" if whole else "–"


def developer_figures(developer, period, app=None):
    """Per app and in total: {"apps": [figures], "total": figures}. Six queries whatever the
    number of apps, subscriptions or ledger rows; `app` (an id of the developer's) narrows it to
    one app."""
    rows = [_blank(row) for row in _apps_with_stats(developer, app)]
    subscriptions = _subscription_figures(developer, app, period)
    connections = _connection_figures(developer, app, period)
    checkouts = _checkout_figures(developer, app, period)
    ledger = _ledger_figures(developer, app, period)
    for row in rows:
        app_id = row["app_id"]
        customers = connections if row["is_free"] else subscriptions
        row.update(subscriptions.get(app_id, {}))
        for name in ("new_customers", "churned_customers"):
            row[name] = (customers.get(app_id) or {}).get(name, 0)
        row.update(checkouts.get(app_id, {}))
        row.update(ledger.get(app_id, {}))
        for name in COUNT_FIELDS + MONEY_FIELDS:
            row[name] = int(row[name] or 0)
        _add_rates(row)
    total = {name: sum(row[name] for row in rows) for name in COUNT_FIELDS + MONEY_FIELDS}
    return {"apps": rows, "total": _add_rates(total)}


def with_eligibility(figures, min_active, min_rating):
    """`developer_figures` with where each app stands against the Recommended rules (the
    settings RECOMMEND_MIN_ACTIVE and RECOMMEND_MIN_RATING), as `progress` of each app row."""
    for row in figures["apps"]:
        row["progress"] = recommendations.eligibility_progress(
            _Stats(row["active_customers"], row["rating_sum"], row["rating_count"]), min_active, min_rating)
    return figures


@dataclass(frozen=True)
class _Stats:
    active_customers: int
    rating_sum: int
    rating_count: int


def _month_columns(months, now, condition_at):
    """One SUM/COUNT column per month end (now for the running month)."""
    columns = []
    for index, month in enumerate(months):
        following = datetime.date(month.year + month.month // 12, month.month % 12 + 1, 1)
        moment = min(datetime.datetime.combine(following, datetime.time()), now)
        columns.append(condition_at(moment).alias(f"m{index}"))
    return columns


def history(developer, period, now, app=None):
    """MRR and connected customers at each month's end, and MRR movement per month, for the
    charts: {"months": [...], "mrr": [...], "customers": [...], "movement": [{...}]}. Read from
    the subscriptions' MRR history (models.SubscriptionChange), whose two queries are kept per
    worker while that history is unchanged (`_changes_history`), and the connections (one
    query, read every time: a connection is revoked in place)."""
    months = period.months()
    own_connections = (Connection.app.in_(App.select(App.id).where(App.developer == developer))
                       & companies.counts_as_customer(Connection.company))
    if app is not None:
        own_connections = own_connections & (Connection.app == app)

    def customers_at(moment):
        live = (Connection.created_at < moment) & (Connection.revoked_at.is_null() | (Connection.revoked_at >= moment))
        return fn.COUNT(fn.DISTINCT(Case(None, [(live, Connection.company)], None)))

    mrr, movement = _changes_history(developer, period, now, app)
    customers = Connection.select(*_month_columns(months, now, customers_at)).where(own_connections).dicts().get()
    return {"months": [month_label(m) for m in months],
            "mrr": mrr,
            "customers": [int(customers[f"m{i}"] or 0) for i in range(len(months))],
            "movement": movement}


def _mrr_and_movement(developer, period, now, app):
    """MRR at each month's end and the movement per month, from the SubscriptionChange rows
    (two queries over all of the developer's rows)."""
    months = period.months()
    own_changes = SubscriptionChange.developer == developer
    if app is not None:
        own_changes = own_changes & (SubscriptionChange.app == app)

    # Each change with the moment of the subscription's next change: at a moment, the change
    # that is live is the last one before it, and its mrr_after is what the subscription adds.
    following = fn.LEAD(SubscriptionChange.at).over(partition_by=[SubscriptionChange.subscription],
                                                    order_by=[SubscriptionChange.at, SubscriptionChange.id])
    changes = (SubscriptionChange.select(SubscriptionChange.at, SubscriptionChange.mrr_after_ore,
                                         following.alias("next_at"))
               .where(own_changes).alias("changes"))

    def mrr_at(moment):
        live = (changes.c.at < moment) & (changes.c.next_at.is_null() | (changes.c.next_at >= moment))
        return _sum_if(live, changes.c.mrr_after_ore)

    mrr = SubscriptionChange.select(*_month_columns(months, now, mrr_at)).from_(changes).dicts().get()

    delta = SubscriptionChange.mrr_after_ore - SubscriptionChange.mrr_before_ore
    kind = SubscriptionChange.kind
    moved = (SubscriptionChange.select(_month_of(SubscriptionChange.at).alias("month"),
                                       _sum_if(kind.in_(("new", "trial_conversion")), delta).alias("new"),
                                       _sum_if(kind == "reactivation", delta).alias("reactivation"),
                                       _sum_if(kind == "expansion", delta).alias("expansion"),
                                       _sum_if(kind == "contraction", delta).alias("contraction"),
                                       _sum_if(kind == "churn", delta).alias("churn"))
             .where(own_changes, _within(SubscriptionChange.at, period))
             .group_by(BY_FIRST_COLUMN))
    movement = {month_label(m): {"month": month_label(m), "new": 0, "expansion": 0, "contraction": 0,
                                 "churn": 0, "reactivation": 0} for m in months}
    for row in moved.dicts():
        if row["month"] in movement:
            movement[row["month"]].update({name: int(row[name] or 0) for name in
                                           ("new", "reactivation", "expansion", "contraction", "churn")})
    return ([int(mrr[f"m{i}"] or 0) for i in range(len(months))],
            [movement[month_label(m)] for m in months])


# The MRR history of a developer, kept per worker (issue R: its two queries read every
# SubscriptionChange row of the developer, 50-60 ms for 19,000 rows). An entry is keyed by the
# developer, the app, the period and the version of the rows (`_changes_version`): a new,
# changed or deleted row gives another version, so the next request reads the rows again and
# the figures are never older than the data. Bounded: the least recently used entry goes.
HISTORY_CACHE_SIZE = 256
_history_caches = weakref.WeakKeyDictionary()  # database -> OrderedDict (tests open many)
_history_lock = threading.Lock()


def forget_kept_history():
    """Empty this worker's kept MRR histories (a test that counts the queries of a first read)."""
    with _history_lock:
        _history_caches.clear()


def _as_moment(value):
    if isinstance(value, str):  # SQLite hands aggregates of timestamps back as text
        return datetime.datetime.fromisoformat(value)
    return value


def _changes_version(developer):
    """(version, newest moment) of the SubscriptionChange rows that `_mrr_and_movement` reads,
    in one statement of index look-ups: the number of the developer's rows (on the index on
    developer, at: its cost follows the developer's rows, not the whole table's), the newest row's id and what
    it holds (SQLite may hand a deleted newest id out again), and the developer's latest `at`
    (the index on developer, at). The rows are only ever inserted or deleted (a company's
    erasure cascades), so any write changes the version."""
    row = prepared.select("dashboard_changes_version", _version_query, developer)[0]
    return tuple(str(value) for value in row[:-1]), _as_moment(row[-1])


def _version_query(developer):
    changes = SubscriptionChange
    count = changes.select(fn.COUNT(SQL("*"))).where(changes.developer == developer)
    newest = [changes.select(column).order_by(changes.id.desc()).limit(1)
              for column in (changes.id, changes.subscription, changes.at, changes.mrr_after_ore)]
    latest = changes.select(fn.MAX(changes.at)).where(changes.developer == developer)
    return Select(columns=[count, *newest, latest]).bind(db).tuples()


def _changes_history(developer, period, now, app):
    """`_mrr_and_movement`, from the worker's cache while the rows are unchanged. The running
    month ends `now`; an entry made at an earlier (or later) moment is the same figures only
    when every row of the developer is older than both moments, so with a row at or after
    either one (a clock behind Stripe's) the rows are read again."""
    version, latest = _changes_version(developer)
    key = (developer, app, period.first, period.last, version)
    database_now = db.obj
    with _history_lock:
        cache = _history_caches.get(database_now)
        if cache is None:
            cache = _history_caches[database_now] = OrderedDict()
        entry = cache.get(key)
        if entry is not None:
            cache.move_to_end(key)
    if entry is not None:
        made_at, mrr, movement = entry
        if latest is None or latest < min(made_at, now):
            return list(mrr), [dict(row) for row in movement]
    mrr, movement = _mrr_and_movement(developer, period, now, app)
    if latest is not None and latest >= now:
        return mrr, movement  # a row not yet live: such an entry could never be used
    with _history_lock:
        cache[key] = (now, tuple(mrr), tuple(dict(row) for row in movement))
        cache.move_to_end(key)
        while len(cache) > HISTORY_CACHE_SIZE:
            cache.popitem(last=False)
    return mrr, movement


# ---------------------------------------------------------------------------------- CSV
CSV_DANGEROUS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value):
    """A spreadsheet must never run a cell as a formula: text starting with = + - @ gets a '.
    Numbers are written by the market and stay numbers."""
    if isinstance(value, str) and value.startswith(CSV_DANGEROUS):
        return "'" + value
    return value


LEDGER_CSV_HEADER = ["date", "kind", "app", "customer", "stripe_ref", "gross_kr", "moms_kr", "net_kr",
                     "developer_share_kr", "platform_fee_kr"]


def ledger_rows(developer, period, app=None):
    """The developer's ledger rows of the period, then the total row (the page's figures)."""
    # Both names are selected under their own aliases and read flat (objects()): selected as
    # two columns called `name`, the company's was lost and the customer column came out empty.
    query = (LedgerEntry.select(LedgerEntry, App.name.alias("app_name"), Company.name.alias("customer_name"))
             .join(App, on=(LedgerEntry.app == App.id))
             .switch(LedgerEntry).join(Company, JOIN.LEFT_OUTER, on=(LedgerEntry.company == Company.id))
             .where(LedgerEntry.developer == developer, _within(LedgerEntry.occurred_at, period),
                    companies.counts_as_customer(LedgerEntry.company))
             .order_by(LedgerEntry.occurred_at, LedgerEntry.id))
    if app is not None:
        query = query.where(LedgerEntry.app == app)
    for entry in query.objects().iterator():
        company = entry.customer_name or ""
        amounts = (entry.gross_ore, entry.moms_ore, entry.net_ore, entry.developer_share_ore, entry.platform_fee_ore)
        yield [entry.occurred_at.strftime("%Y-%m-%d %H:%M:%S"), entry.kind, csv_safe(entry.app_name),
               csv_safe(company), csv_safe(entry.stripe_ref), *map(money.format_plain, amounts)]


def ledger_total_row(total):
    amounts = (total["gross_ore"], total["moms_ore"], total["net_ore"], total["developer_ore"], total["platform_ore"])
    return ["total", "", "", "", "", *map(money.format_plain, amounts)]


CUSTOMERS_CSV_HEADER = ["company", "industry", "size", "org_number", "app", "plan", "status", "since"]


def customer_rows(developer, app=None):
    """The developer's customers: a row per subscription of a paid app and per connection to a
    free app. The org number only where the company agreed to share it."""
    subscriptions = (Subscription.select(Subscription, Company, App, Plan)
                     .join(Company, on=(Subscription.company == Company.id))
                     .switch(Subscription).join(App, on=(Subscription.app == App.id))
                     .switch(Subscription).join(Plan, JOIN.LEFT_OUTER, on=(Subscription.plan == Plan.id))
                     .where(App.developer == developer, Subscription.status.not_in(NEVER_STARTED),
                            companies.counts_as_customer(Subscription.company))
                     .order_by(App.name, Company.name, Subscription.id))
    connections = (Connection.select(Connection, Company, App)
                   .join(Company, on=(Connection.company == Company.id))
                   .switch(Connection).join(App, on=(Connection.app == App.id))
                   .where(App.developer == developer, App.is_free == True,  # noqa: E712
                          companies.counts_as_customer(Connection.company))
                   .order_by(App.name, Company.name, Connection.id))
    if app is not None:
        subscriptions = subscriptions.where(Subscription.app == app)
        connections = connections.where(Connection.app == app)

    def row(company, listing, plan, status, since):
        return [csv_safe(company.name), csv_safe(company.industry), csv_safe(company.size),
                csv_safe(company.org_number) if company.share_org_number else "", csv_safe(listing.name),
                csv_safe(plan), status, since.strftime("%Y-%m-%d") if since else ""]

    for sub in subscriptions.iterator():
        plan = sub.plan.name if sub.plan_id and sub.plan else ""
        yield row(sub.company, sub.app, plan, sub.status, sub.created_at)
    for connection in connections.iterator():
        status = "revoked" if connection.revoked_at else "connected"
        yield row(connection.company, connection.app, "Free", status, connection.created_at)


# ---------------------------------------------------------------------------------- reviews inbox
def review_inbox(developer, unanswered_only=False, limit=100):
    """Reviews of the developer's apps, newest first, with its reply and open reports (one
    query). A company's name only where it agreed to show it."""
    open_reports = (ReviewReport.select(fn.COUNT(ReviewReport.id))
                    .where(ReviewReport.review == Review.id, ReviewReport.resolved_at.is_null()))
    query = (Review.select(Review, App, Company, ReviewReply, open_reports.alias("open_reports"))
             .join(App, on=(Review.app == App.id))
             .switch(Review).join(Company, on=(Review.company == Company.id))
             .switch(Review).join(ReviewReply, JOIN.LEFT_OUTER, on=(ReviewReply.review == Review.id))
             .where(App.developer == developer)
             .order_by(Review.updated_at.desc(), Review.id.desc())
             .limit(limit))
    if unanswered_only:
        query = query.where(ReviewReply.id.is_null())
    shown = []
    for review in query:
        company = review.company
        reply = getattr(review, "reviewreply", None)
        shown.append({
            "id": review.id, "app": review.app, "stars": review.stars, "text": review.text,
            "author": company.name if company.show_name_in_reviews else ratings.industry_phrase(company.industry),
            "written_at": review.updated_at, "reply": reply.text if reply is not None and reply.id else None,
            "open_reports": int(review.open_reports or 0)})
    return shown


def replied_review(developer, review_id):
    """{"id", "app"} of a review of the developer's apps that has its reply, else None (the
    inbox's "your reply was published" after a reply; anyone else's review id says nothing)."""
    review = (Review.select(Review, App).join(App, on=(Review.app == App.id))
              .join(ReviewReply, on=(ReviewReply.review == Review.id), src=Review)
              .where(Review.id == review_id, App.developer == developer).first())
    return {"id": review.id, "app": review.app} if review is not None else None


# ---------------------------------------------------------------------------------- platform
def platform_by_month(period):
    """The platform's part and the moms per month, from the ledger (one query)."""
    month = _month_of(LedgerEntry.occurred_at)
    query = (LedgerEntry.select(month.alias("month"), *_ledger_sums(period))
             .where(_within(LedgerEntry.occurred_at, period)).group_by(BY_FIRST_COLUMN))
    found = {row["month"]: row for row in query.dicts()}
    empty = {name: 0 for name in MONEY_FIELDS + ("payments",)}
    rows = [{"month": month_label(m), **{k: int(v) for k, v in {**empty, **found.get(month_label(m), {})}.items()
                                         if k != "month"}}
            for m in period.months()]
    for row in rows:
        # The money that went back to customers, one column on the page.
        row["refunds_and_disputes_ore"] = row["refunds_ore"] + row["disputes_ore"]
    return rows


def platform_by_app(period, limit=200):
    """The platform's part and the moms per app, largest first (one query)."""
    query = (LedgerEntry.select(App.slug, App.name, *_ledger_sums(period))
             .join(App, on=(LedgerEntry.app == App.id))
             .where(_within(LedgerEntry.occurred_at, period))
             .group_by(App.id, App.slug, App.name)
             .order_by(fn.SUM(LedgerEntry.platform_fee_ore).desc(), App.slug)
             .limit(limit))
    return [{**row, **{name: int(row[name] or 0) for name in MONEY_FIELDS + ("payments",)}}
            for row in query.dicts()]


def platform_total(period):
    row = LedgerEntry.select(*_ledger_sums(period)).where(_within(LedgerEntry.occurred_at, period)).dicts().get()
    return {name: int(value or 0) for name, value in row.items()}


def webhook_health(now):
    """Per event type: how many, how many in the last 24 h, the newest received and its age
    (now − the newest event's `created` at Stripe)."""
    day_ago = now - datetime.timedelta(hours=24)
    query = (StripeEvent.select(StripeEvent.type, fn.COUNT(StripeEvent.id).alias("events"),
                                _sum_if(StripeEvent.received_at >= day_ago).alias("last_24h"),
                                fn.MAX(StripeEvent.received_at).alias("newest_received"),
                                fn.MAX(StripeEvent.created).alias("newest_created"))
             .group_by(StripeEvent.type).order_by(StripeEvent.type))
    rows = []
    for row in query.dicts():
        created = datetime.datetime.fromtimestamp(int(row["newest_created"] or 0), datetime.UTC).replace(tzinfo=None)
        received = row["newest_received"]
        if isinstance(received, str):  # SQLite hands aggregates of timestamps back as text
            received = datetime.datetime.fromisoformat(received)
        rows.append({"type": row["type"], "events": int(row["events"]), "last_24h": int(row["last_24h"] or 0),
                     "newest_received": received, "newest_created": created,
                     "age": _duration(now - created)})
    return rows


@dataclass
class Duration:
    """How long ago, as a message with its number (the page writes it in the reader's language)."""
    unit: str
    n: int

    def __str__(self):
        return self.unit % {"n": self.n}


def _duration(delta):
    seconds = max(int(delta.total_seconds()), 0)
    if seconds < 120:
        return Duration(words.marked("%(n)s s"), seconds)
    if seconds < 7200:
        return Duration(words.marked("%(n)s min"), seconds // 60)
    if seconds < 2 * 86400:
        return Duration(words.marked("%(n)s h"), seconds // 3600)
    return Duration(words.marked("%(n)s days"), seconds // 86400)


def notification_health(now, max_attempts):
    """The app-notification outbox: waiting, failing (tried and not yet delivered), given up,
    delivered in the last 24 h (one query)."""
    undelivered = AppNotification.delivered_at.is_null()
    row = AppNotification.select(
        _sum_if(undelivered & (AppNotification.attempts < max_attempts)).alias("pending"),
        _sum_if(undelivered & (AppNotification.attempts > 0) & (AppNotification.attempts < max_attempts))
        .alias("failing"),
        _sum_if(undelivered & (AppNotification.attempts >= max_attempts)).alias("given_up"),
        _sum_if(AppNotification.delivered_at >= now - datetime.timedelta(hours=24)).alias("delivered_24h"),
    ).dicts().get()
    return {name: int(value or 0) for name, value in row.items()}


def recent_notification_failures(limit=10):
    return list(AppNotification.select(AppNotification, App).join(App)
                .where(AppNotification.delivered_at.is_null(), AppNotification.attempts > 0)
                .order_by(AppNotification.id.desc()).limit(limit))


def now_and_today():
    now = utcnow()
    return now, now.date()


# ---------------------------------------------------------------------------- first run
@dataclass
class Step:
    key: str
    title: str
    done: bool
    url: str
    hint: str


LISTED_STATUSES = ("in_review", "published", "suspended")


def first_run_checklist(developer_id):
    """The developer's path to a first sale (create app → plans → payouts → submit), each step
    ticked from what the market holds, with a link to where it is done. The step to take next
    is the first not done."""
    developer = Developer.get_by_id(developer_id)
    apps = list(App.select().where(App.developer == developer_id).order_by(App.created_at, App.id))
    first = apps[0] if apps else None
    with_plans = {row.app_id for row in Plan.select(Plan.app).where(
        Plan.app.in_([app.id for app in apps] or [0]), Plan.active == True).distinct()}  # noqa: E712
    priced = [app for app in apps if app.is_free or app.id in with_plans]
    needs_payouts = any(not app.is_free for app in apps)
    listed = [app for app in apps if app.status in LISTED_STATUSES]
    plan_app = next((app for app in apps if app not in priced), first)
    submit_app = next((app for app in apps if app.status in ("draft", "rejected")), first)
    return [
        # Titles and hints are messages: the page writes them in the reader's language.
        Step("app", words.marked("Create an app"), first is not None, "/developer/apps/new" if first is None
             else f"/developer/apps/{first.slug}", words.marked("Its name, description and where customers land.")),
        Step("plans", words.marked("Add plans"), bool(apps) and len(priced) == len(apps),
             f"/developer/apps/{plan_app.slug}/plans" if plan_app else "/developer/apps/new",
             words.marked("What customers pay each month, excluding VAT; or make the app free.")),
        Step("payouts", words.marked("Set up payouts"),
             bool(developer.payouts_enabled) or (bool(apps) and not needs_payouts), "/developer/payouts",
             words.marked("A Stripe account, so customers can buy your paid apps and you are paid.")),
        Step("submit", words.marked("Submit for review"), bool(listed),
             f"/developer/apps/{submit_app.slug}" if submit_app else "/developer/apps/new",
             words.marked("The App Market checks the listing and publishes it in the store.")),
    ]


def all_zero(total):
    """Every figure of a period's total is 0 (a new developer, a quiet period): the page folds
    the tiles away and says so in a sentence."""
    return not any(total.get(name) for name in COUNT_FIELDS + MONEY_FIELDS)
