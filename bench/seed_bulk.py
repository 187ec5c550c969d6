"""The benchmark's data: the demo seed at `--scale N` (100·N apps, 1,000·N companies), topped up
to 10,000·N subscriptions and 3,000·N reviews (N=100: 1,000,000 and 300,000).

The demo seed gives each company the apps it uses now; the top-up adds what years of a market
leave behind: ended subscriptions (a company that tried an app and left) and reviews of apps in
use. Both go in with multi-row INSERTs in big batches inside one transaction, with durability
off for the load (SQLite `synchronous=off`, PostgreSQL `synchronous_commit=off`).

    .venv/bin/python bench/seed_bulk.py sqlite:////tmp/market-bench.db --scale 100
"""
import argparse
import datetime
import os
import random
import sys
import time

from peewee import fn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from market.catalog import store  # noqa: E402
from market.data import database  # noqa: E402
from market.jobs import seed  # noqa: E402
from market.stats import app_stats as stats  # noqa: E402
from models import (  # noqa: E402
    App,
    Company,
    Connection,
    Plan,
    Review,
    Subscription,
    SubscriptionChange,
    SubscriptionInvoice,
    User,
    db,
    utcnow,
)

SUBSCRIPTIONS_PER_SCALE = 10_000
REVIEWS_PER_SCALE = 3_000
BATCH = 2000
TOP_UP_SEED = 7
# The benchmark's customer (bench/run.py, myapps-customer): its live subscriptions, bought in the
# market (not imported), each with its monthly paid invoices in the market's records (issue R).
BENCH_CUSTOMER = "customer@demo.test"
CUSTOMER_SUBSCRIPTIONS = 10
CUSTOMER_INVOICES = 3
# The benchmark's developer (bench/run.py, dashboard-developer): developer@demo.test's paid app
# carries DASHBOARD_SUBSCRIPTIONS subscriptions at every scale (issue R: "an app with 10,000
# subscriptions"), a fifth of them live (one per company), the rest ended, each with its MRR
# history rows as imported subscriptions get them (market.billing.history._imported_rows).
BENCH_DEVELOPER = "developer@demo.test"
DASHBOARD_APP = "time-tracker-pro"
DASHBOARD_SUBSCRIPTIONS = 10_000
DASHBOARD_LIVE_SHARE = 0.2


def _insert(model, fields, rows):
    for start in range(0, len(rows), BATCH):
        model.insert_many(rows[start:start + BATCH], fields=fields).execute()


def _fast_load():
    """Inside the load's transaction (SQLite's connection was set before the seed began)."""
    if database.is_postgres(db):
        db.execute_sql("SET LOCAL synchronous_commit = off")


def top_up(subscriptions_wanted, reviews_wanted, now=None, echo=print):
    """Ended subscriptions and reviews until the totals are reached; returns what was added."""
    rng = random.Random(TOP_UP_SEED)
    now = now or utcnow().replace(microsecond=0)
    plans = {}
    for app_id, plan_id, price in Plan.select(Plan.app, Plan.id, Plan.price_ore).order_by(Plan.position).tuples():
        plans.setdefault(app_id, (plan_id, price))
    paid_apps = sorted(plans)
    companies = [c for (c,) in Company.select(Company.id).tuples()]
    added_subscriptions = max(0, subscriptions_wanted - Subscription.select().count())
    fields = [Subscription.company, Subscription.app, Subscription.plan, Subscription.status,
              Subscription.price_ore, Subscription.current_period_start, Subscription.current_period_end,
              Subscription.canceled_at, Subscription.ended_at, Subscription.imported, Subscription.created_at,
              Subscription.updated_at]
    rows = []
    for _ in range(added_subscriptions):
        app_id = rng.choice(paid_apps)
        plan_id, price = plans[app_id]
        started = now - datetime.timedelta(days=rng.randint(120, 2500))
        ended = started + datetime.timedelta(days=30 * rng.randint(1, 3))
        rows.append((rng.choice(companies), app_id, plan_id, "canceled", price, ended - datetime.timedelta(days=30),
                     ended, ended, ended, True, started, ended))
    with db.atomic():
        _fast_load()
        _insert(Subscription, fields, rows)
    echo(f"  topped up {added_subscriptions} ended subscriptions")
    rows = None

    reviewed = set(Review.select(Review.company, Review.app).tuples())
    unreviewed = [pair for pair in Connection.select(Connection.company, Connection.app).order_by(Connection.id)
                  .tuples() if pair not in reviewed]
    added_reviews = min(len(unreviewed), max(0, reviews_wanted - len(reviewed)))
    admins = dict(User.select(User.company, User.id).where(User.company.is_null(False)).tuples())
    fields = [Review.company, Review.app, Review.user, Review.stars, Review.text, Review.imported,
              Review.created_at, Review.updated_at]
    rows = []
    for company_id, app_id in rng.sample(unreviewed, added_reviews):
        stars = min(5, max(1, round(rng.gauss(3.9, 1.0))))
        when = now - datetime.timedelta(days=rng.randint(0, 700))
        rows.append((company_id, app_id, admins.get(company_id), stars, rng.choice(seed.REVIEW_TEXTS[stars]), True,
                     when, when))
    with db.atomic():
        _fast_load()
        _insert(Review, fields, rows)
    echo(f"  topped up {added_reviews} reviews")
    return added_subscriptions, added_reviews


def customer_subscriptions(now=None, echo=print):
    """The benchmark customer's My apps (issue R): CUSTOMER_SUBSCRIPTIONS live subscriptions as
    the market's own purchases, each with CUSTOMER_INVOICES paid invoices recorded as the
    `invoice.*` events would. Its seeded live ones are taken first, other published paid apps
    make up the rest. Idempotent (a --reuse'd database gets them once)."""
    now = now or utcnow().replace(microsecond=0)
    company_id = User.get(User.email == BENCH_CUSTOMER).company_id
    with db.atomic():
        live = list(Subscription.select().where(Subscription.company == company_id,
                                                Subscription.status.in_(Subscription.LIVE_STATUSES))
                    .order_by(Subscription.id))
        used = {a for (a,) in Subscription.select(Subscription.app).where(Subscription.company == company_id).tuples()}
        plans = (Plan.select(Plan.app, Plan.id, Plan.price_ore).join(App)
                 .where(App.status == "published", App.is_free == False, Plan.price_ore > 0)  # noqa: E712
                 .order_by(Plan.app, Plan.position).tuples())
        for app_id, plan_id, price in plans:
            if len(live) >= CUSTOMER_SUBSCRIPTIONS:
                break
            if app_id in used:
                continue
            used.add(app_id)
            started = now - datetime.timedelta(days=30 * CUSTOMER_INVOICES - 5)
            live.append(Subscription.create(
                company=company_id, app=app_id, plan=plan_id, status="active", price_ore=price,
                current_period_start=now - datetime.timedelta(days=25), current_period_end=now + datetime.timedelta(days=5),
                imported=False, created_at=started, updated_at=now))
        kept = SubscriptionInvoice.select().where(SubscriptionInvoice.company == company_id)
        before = kept.count()
        for sub in live[:CUSTOMER_SUBSCRIPTIONS]:
            if sub.imported or not sub.stripe_subscription_id:
                Subscription.update(imported=False, stripe_subscription_id=f"sub_bench_{sub.id}").where(
                    Subscription.id == sub.id).execute()
            gross = sub.price_ore * 125 // 100
            for n in range(CUSTOMER_INVOICES):
                SubscriptionInvoice.insert(
                    subscription=sub.id, company=company_id, stripe_invoice_id=f"in_bench_{sub.id}_{n}",
                    number=f"BENCH{sub.id}-{n + 1:04d}", status="paid", total_ore=gross,
                    created=now - datetime.timedelta(days=30 * (CUSTOMER_INVOICES - n) - 5),
                    hosted_invoice_url=f"https://invoice.stripe.test/i/in_bench_{sub.id}_{n}",
                    updated_at=now).on_conflict_ignore().execute()
        added = kept.count() - before
    echo(f"  benchmark customer: {min(len(live), CUSTOMER_SUBSCRIPTIONS)} live subscriptions, {added} invoices added")
    return len(live)


def developer_subscriptions(now=None, echo=print):
    """Top DASHBOARD_APP up to DASHBOARD_SUBSCRIPTIONS subscriptions (idempotent: a --reuse'd
    database gets them once); returns how many were added."""
    now = now or utcnow().replace(microsecond=0)
    app = App.get(App.slug == DASHBOARD_APP)
    wanted = DASHBOARD_SUBSCRIPTIONS - Subscription.select().where(Subscription.app == app.id).count()
    if wanted <= 0:
        echo(f"  dashboard app {DASHBOARD_APP}: {DASHBOARD_SUBSCRIPTIONS}+ subscriptions already")
        return 0
    rng = random.Random(TOP_UP_SEED + 1)
    plan_id, price = (Plan.select(Plan.id, Plan.price_ore).where(Plan.app == app.id).order_by(Plan.position)
                      .tuples().first())
    companies = [c for (c,) in Company.select(Company.id).order_by(Company.id).tuples()]
    live_now = {c for (c,) in Subscription.select(Subscription.company).where(
        Subscription.app == app.id, Subscription.status.in_(Subscription.LIVE_STATUSES)).tuples()}
    free = [c for c in companies if c not in live_now]
    rng.shuffle(free)
    live = min(int(wanted * DASHBOARD_LIVE_SHARE), len(free))
    fields = [Subscription.company, Subscription.app, Subscription.plan, Subscription.status,
              Subscription.price_ore, Subscription.current_period_start, Subscription.current_period_end,
              Subscription.canceled_at, Subscription.ended_at, Subscription.imported, Subscription.created_at,
              Subscription.updated_at]
    rows = []
    for n in range(wanted):
        started = now - datetime.timedelta(days=rng.randint(40, 1500), seconds=rng.randint(0, 86399))
        if n < live:
            period_start = now - datetime.timedelta(days=rng.randint(0, 29))
            rows.append((free[n], app.id, plan_id, "active", price, period_start,
                         period_start + datetime.timedelta(days=30), None, None, True, started, now))
        else:
            ended = started + datetime.timedelta(days=30 * rng.randint(1, 12))
            ended = min(ended, now - datetime.timedelta(days=1))
            rows.append((rng.choice(companies), app.id, plan_id, "canceled", price,
                         ended - datetime.timedelta(days=30), ended, ended, ended, True, started, ended))
    with db.atomic():
        _fast_load()
        last_id = Subscription.select(fn.MAX(Subscription.id)).scalar() or 0
        _insert(Subscription, fields, rows)
        changes = []
        base = {"app": app.id, "developer": app.developer_id, "imported": True}
        for sub_id, company_id, status, created, ended in (
                Subscription.select(Subscription.id, Subscription.company, Subscription.status,
                                    Subscription.created_at, Subscription.ended_at)
                .where(Subscription.app == app.id, Subscription.id > last_id).tuples()):
            changes.append({**base, "subscription": sub_id, "company": company_id, "at": created, "kind": "new",
                            "mrr_before_ore": 0, "mrr_after_ore": price})
            if status == "canceled":
                changes.append({**base, "subscription": sub_id, "company": company_id, "at": ended,
                                "kind": "churn", "mrr_before_ore": price, "mrr_after_ore": 0})
        for start in range(0, len(changes), BATCH):
            SubscriptionChange.insert_many(changes[start:start + BATCH]).execute()
    echo(f"  dashboard app {DASHBOARD_APP}: {wanted} subscriptions added ({live} live), {len(changes)} history rows")
    return wanted


def seed_bench(config, scale, echo=print):
    """Migrations, the demo seed at `scale`, the top-up, then the kept aggregates again."""
    started = time.monotonic()
    database.migrate(db)
    if not database.is_postgres(db):
        db.execute_sql("PRAGMA synchronous = off")  # this connection, for the whole load
    echo(seed.seed_demo(config, scale=scale, echo=echo))
    echo(f"  demo seed done in {time.monotonic() - started:.0f} s")
    developer_subscriptions(echo=echo)  # before the top-up, which fills the total to 10,000·N
    top_up(SUBSCRIPTIONS_PER_SCALE * scale, REVIEWS_PER_SCALE * scale, echo=echo)
    customer_subscriptions(echo=echo)
    stats.stats_rebuild(grace_days=config.get("BILLING_GRACE_DAYS", 7))
    store.bump_store_generation()
    db.execute_sql("ANALYZE")  # the planner's statistics for the data just loaded
    if not database.is_postgres(db):
        db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    totals = {"subscriptions": Subscription.select().count(), "reviews": Review.select().count(),
              "companies": Company.select().count(), "seconds": round(time.monotonic() - started)}
    echo(f"  bench data: {totals}")
    return totals


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="an empty database: sqlite:////path.db or postgresql://...")
    parser.add_argument("--scale", type=int, default=100)
    parser.add_argument("--secret-key", default="bench-secret-key")
    args = parser.parse_args(argv)
    db.initialize(database.open_database(args.url))
    config = {"SECRET_KEY": args.secret_key, "DEMO_CLIENT_SECRET": "demo-secret", "BILLING_GRACE_DAYS": 7}
    with db.connection_context():
        seed_bench(config, args.scale)


if __name__ == "__main__":
    main()
