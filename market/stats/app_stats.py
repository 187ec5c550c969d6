"""The store's aggregates per app (models.AppStats), so no page counts subscriptions per
request (DESIGN.md §7).

`stats_rebuild` recomputes every app's row from the data with SQL aggregates (one GROUP BY
query per figure); it is what the seed runs and what repairs drift. Keeping the rows current
on each event and ageing them is issue I's part.
"""
import datetime

from peewee import Case, fn

from models import App, AppStats, Connection, Review, Subscription, db, utcnow

ACTIVE_WINDOW = datetime.timedelta(days=30)


def _grace_ok(grace_days, now):
    """Subscriptions that entitle right now (entitlements.check, in SQL)."""
    grace_start = now - datetime.timedelta(days=grace_days)
    return (Subscription.status.in_(("trialing", "active"))
            | ((Subscription.status == "past_due")
               & (Subscription.past_due_since.is_null() | (Subscription.past_due_since > grace_start))))


def _active_customers(grace_days, now):
    """Companies with an entitlement and a connection used in the last 30 days, per app."""
    entitled_subscription = (Subscription.select(Subscription.id)
                             .where(Subscription.company == Connection.company,
                                    Subscription.app == Connection.app,
                                    _grace_ok(grace_days, now)))
    query = (Connection.select(Connection.app, fn.COUNT(fn.DISTINCT(Connection.company)).alias("n"))
             .join(App, on=(Connection.app == App.id))
             .where(Connection.revoked_at.is_null(),
                    Connection.last_used_at >= now - ACTIVE_WINDOW,
                    App.status != "suspended",
                    (App.is_free == True) | fn.EXISTS(entitled_subscription))  # noqa: E712
             .group_by(Connection.app))
    return {row["app"]: row["n"] for row in query.dicts()}


def _paying_customers(grace_days, now):
    query = (Subscription.select(Subscription.app, fn.COUNT(fn.DISTINCT(Subscription.company)).alias("n"))
             .where(_grace_ok(grace_days, now), Subscription.status != "trialing", Subscription.price_ore > 0)
             .group_by(Subscription.app))
    return {row["app"]: row["n"] for row in query.dicts()}


def _new_customers(now):
    query = (Connection.select(Connection.app, fn.COUNT(fn.DISTINCT(Connection.company)).alias("n"))
             .where(Connection.revoked_at.is_null(), Connection.created_at >= now - ACTIVE_WINDOW)
             .group_by(Connection.app))
    return {row["app"]: row["n"] for row in query.dicts()}


def _ratings():
    per_star = [fn.SUM(Case(None, [(Review.stars == s, 1)], 0)).alias(f"stars_{s}") for s in range(1, 6)]
    query = (Review.select(Review.app, fn.SUM(Review.stars).alias("rating_sum"),
                           fn.COUNT(Review.id).alias("rating_count"), *per_star)
             .where(Review.stars.between(1, 5))
             .group_by(Review.app))
    return {row["app"]: row for row in query.dicts()}


def stats_rebuild(grace_days=7, now=None):
    """Recompute AppStats for every app; returns the number of rows written."""
    now = now or utcnow()
    active = _active_customers(grace_days, now)
    paying = _paying_customers(grace_days, now)
    new = _new_customers(now)
    ratings = _ratings()
    rows = []
    for (app_id,) in App.select(App.id).order_by(App.id).tuples():
        rating = ratings.get(app_id) or {}
        rating_sum = int(rating.get("rating_sum") or 0)
        rating_count = int(rating.get("rating_count") or 0)
        rows.append({
            "app": app_id,
            "active_customers": active.get(app_id, 0),
            "paying_customers": paying.get(app_id, 0),
            "new_customers_30d": new.get(app_id, 0),
            "rating_sum": rating_sum,
            "rating_count": rating_count,
            **{f"stars_{s}": int(rating.get(f"stars_{s}") or 0) for s in range(1, 6)},
            "rating_centi": rating_sum * 100 // rating_count if rating_count else 0,
            "updated_at": now,
        })
    with db.atomic():
        AppStats.delete().execute()
        for start in range(0, len(rows), 1000):
            AppStats.insert_many(rows[start:start + 1000]).execute()
    return len(rows)



# ---------------------------------------------------------------------------------------------
# Keeping the counts current (issue I). Billing, OAuth and the API call refresh_app(app_id) when
# a subscription changes or a connection is used or revoked; the sweep calls age_all(now), since
# time alone ends activity (30 days) and grace periods. The rating figures are kept by ratings.py
# in the review's own transaction. Same definitions as stats_rebuild above, as correlated
# subqueries, so one UPDATE serves one app or all of them.

def _count_expressions(app_column, grace_days, now):
    entitled_subscription = (Subscription.select(Subscription.id)
                             .where(Subscription.company == Connection.company,
                                    Subscription.app == Connection.app,
                                    _grace_ok(grace_days, now)))
    active = (Connection.select(fn.COUNT(fn.DISTINCT(Connection.company)))
              .join(App, on=(Connection.app == App.id))
              .where(Connection.app == app_column,
                     Connection.revoked_at.is_null(),
                     Connection.last_used_at >= now - ACTIVE_WINDOW,
                     App.status != "suspended",
                     (App.is_free == True) | fn.EXISTS(entitled_subscription)))  # noqa: E712
    paying = (Subscription.select(fn.COUNT(fn.DISTINCT(Subscription.company)))
              .where(Subscription.app == app_column, _grace_ok(grace_days, now),
                     Subscription.status != "trialing", Subscription.price_ore > 0))
    new = (Connection.select(fn.COUNT(fn.DISTINCT(Connection.company)))
           .where(Connection.app == app_column, Connection.revoked_at.is_null(),
                  Connection.created_at >= now - ACTIVE_WINDOW))
    return {AppStats.active_customers: active, AppStats.paying_customers: paying,
            AppStats.new_customers_30d: new}


def _update_counts(condition, grace_days, now):
    """One UPDATE that touches only the rows whose counts differ; returns how many did."""
    counts = _count_expressions(AppStats.app, grace_days, now)
    differs = None
    for column, expression in counts.items():
        differs = (column != expression) if differs is None else differs | (column != expression)
    if condition is not None:
        differs = condition & differs
    return AppStats.update({**counts, AppStats.updated_at: now}).where(differs).execute()


def _ensure_row(app_id):
    AppStats.insert(app=app_id).on_conflict_ignore().execute()


def refresh_app(app_id, grace_days=7, now=None):
    """Recompute ONE app's customer counts (active, paying, new in 30 days) after a subscription
    change or a connection used or revoked: indexed aggregates over that app's rows only. Bumps
    the store generation when a count changed; returns whether one did."""
    from market.catalog import store

    now = now or utcnow()
    with db.atomic():
        _ensure_row(app_id)
        changed = _update_counts(AppStats.app == app_id, grace_days, now)
        if changed:
            store.bump_store_generation()
    return bool(changed)


def age_all(now=None, grace_days=7):
    """The sweep's ageing: the counts time alone changes (activity older than 30 days, grace
    periods ended, new customers no longer new), for all apps in one UPDATE that writes only
    the rows that changed. Returns their number."""
    from market.catalog import store

    now = now or utcnow()
    with db.atomic():
        changed = _update_counts(None, grace_days, now)
        if changed:
            store.bump_store_generation()
    return changed


def rebuild_everything(grace_days=7, now=None):
    """`flask --app app stats-rebuild`: every app's figures from the data, then co-usage."""
    from market.catalog import store
    from market.recommendations import ranking as recommendations

    with db.atomic():
        count = stats_rebuild(grace_days=grace_days, now=now)
    pairs = recommendations.rebuild_co_usage()
    # After both: a page cached between the two would keep the old co-usage until the next bump.
    store.bump_store_generation()
    return count, pairs
