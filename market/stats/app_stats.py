"""The store's aggregates per app (models.AppStats), so no page counts subscriptions per
request (DESIGN.md §7).

`stats_rebuild` recomputes every app's row from the data with SQL aggregates (one GROUP BY
query per figure); it is what the seed runs and what repairs drift. Keeping the rows current
on each event and ageing them is issue I's part. Who entitles is market.billing.dunning's rule
(`entitling_condition`); the rating figures are market.reviews.ratings' (`RatingTotals`).
Rebuilding these figures together with the recommendations' is market.jobs.rebuild's job.
"""
import datetime

from peewee import fn

from market.accounts import companies
from market.billing import dunning
from market.catalog import store
from market.reviews import customers, ratings
from models import App, AppStats, Connection, Subscription, db, utcnow

ACTIVE_WINDOW = datetime.timedelta(days=30)


def _active_customers(grace_days, now):
    """Verified customers (market.reviews.customers) with an entitlement and a connection used
    in the last 30 days, per app."""
    entitled_subscription = (Subscription.select(Subscription.id)
                             .where(Subscription.company == Connection.company,
                                    Subscription.app == Connection.app,
                                    dunning.entitling_condition(grace_days, now)))
    query = (Connection.select(Connection.app, fn.COUNT(fn.DISTINCT(Connection.company)).alias("n"))
             .join(App, on=(Connection.app == App.id))
             .where(Connection.revoked_at.is_null(),
                    Connection.last_used_at >= now - ACTIVE_WINDOW,
                    App.status != "suspended",
                    (App.is_free == True) | fn.EXISTS(entitled_subscription),  # noqa: E712
                    customers.verified_condition(Connection.company, Connection.app))
             .group_by(Connection.app))
    return {row["app"]: row["n"] for row in query.dicts()}


def _paying_customers(grace_days, now):
    query = (Subscription.select(Subscription.app, fn.COUNT(fn.DISTINCT(Subscription.company)).alias("n"))
             .where(dunning.entitling_condition(grace_days, now), Subscription.status != "trialing",
                    Subscription.price_ore > 0, companies.counts_as_customer(Subscription.company))
             .group_by(Subscription.app))
    return {row["app"]: row["n"] for row in query.dicts()}


def _new_customers(now):
    query = (Connection.select(Connection.app, fn.COUNT(fn.DISTINCT(Connection.company)).alias("n"))
             .where(Connection.revoked_at.is_null(), Connection.created_at >= now - ACTIVE_WINDOW,
                    companies.counts_as_customer(Connection.company))
             .group_by(Connection.app))
    return {row["app"]: row["n"] for row in query.dicts()}


def stats_rebuild(grace_days, now=None):
    """Recompute AppStats for every app; returns the number of rows written."""
    now = now or utcnow()
    active = _active_customers(grace_days, now)
    paying = _paying_customers(grace_days, now)
    new = _new_customers(now)
    totals = ratings.app_rating_totals()
    no_ratings = ratings.RatingTotals()
    rows = []
    for (app_id,) in App.select(App.id).order_by(App.id).tuples():
        rows.append({
            "app": app_id,
            "active_customers": active.get(app_id, 0),
            "paying_customers": paying.get(app_id, 0),
            "new_customers_30d": new.get(app_id, 0),
            **totals.get(app_id, no_ratings).columns(),
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
# time alone ends activity (30 days) and grace periods. The rating figures are kept by
# market.reviews.ratings in the review's own transaction. Same definitions as stats_rebuild above, as correlated
# subqueries, so one UPDATE serves one app or all of them.

def _count_expressions(app_column, grace_days, now):
    entitled_subscription = (Subscription.select(Subscription.id)
                             .where(Subscription.company == Connection.company,
                                    Subscription.app == Connection.app,
                                    dunning.entitling_condition(grace_days, now)))
    active = (Connection.select(fn.COUNT(fn.DISTINCT(Connection.company)))
              .join(App, on=(Connection.app == App.id))
              .where(Connection.app == app_column,
                     Connection.revoked_at.is_null(),
                     Connection.last_used_at >= now - ACTIVE_WINDOW,
                     App.status != "suspended",
                     (App.is_free == True) | fn.EXISTS(entitled_subscription),  # noqa: E712
                     customers.verified_condition(Connection.company, Connection.app)))
    paying = (Subscription.select(fn.COUNT(fn.DISTINCT(Subscription.company)))
              .where(Subscription.app == app_column, dunning.entitling_condition(grace_days, now),
                     Subscription.status != "trialing", Subscription.price_ore > 0,
                     companies.counts_as_customer(Subscription.company)))
    new = (Connection.select(fn.COUNT(fn.DISTINCT(Connection.company)))
           .where(Connection.app == app_column, Connection.revoked_at.is_null(),
                  Connection.created_at >= now - ACTIVE_WINDOW, companies.counts_as_customer(Connection.company)))
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


def refresh_app(app_id, grace_days, now=None):
    """Recompute ONE app's customer counts (active, paying, new in 30 days) after a subscription
    change or a connection used or revoked: indexed aggregates over that app's rows only. Bumps
    the store generation when a count changed; returns whether one did."""
    now = now or utcnow()
    with db.atomic():
        _ensure_row(app_id)
        changed = _update_counts(AppStats.app == app_id, grace_days, now)
        if changed:
            store.bump_store_generation()
    return bool(changed)


def age_all(now, grace_days):
    """The sweep's ageing: the counts time alone changes (activity older than 30 days, grace
    periods ended, new customers no longer new), for all apps in one UPDATE that writes only
    the rows that changed. Returns their number. `now` None is the present."""
    now = now or utcnow()
    with db.atomic():
        changed = _update_counts(None, grace_days, now)
        if changed:
            store.bump_store_generation()
    return changed
