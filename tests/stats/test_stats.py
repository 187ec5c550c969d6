"""AppStats kept current on events and aged by the sweep (issue I, DESIGN.md §3, §7): whatever
happens, the incremental figures equal a rebuild from the data."""
import datetime
import random

import pytest
import time_machine

from market.billing import dunning
from market.catalog import store
from market.jobs import rebuild
from market.reviews import ratings
from market.stats import app_stats as stats
from models import AppStats, Connection, Subscription, utcnow
from tests import factories

START = datetime.datetime(2026, 3, 2, 9, 0, 0)
FIGURES = ("active_customers", "paying_customers", "new_customers_30d", "rating_sum", "rating_count",
           "stars_1", "stars_2", "stars_3", "stars_4", "stars_5", "rating_centi")


def snapshot():
    return {row.app_id: tuple(getattr(row, f) for f in FIGURES)
            for row in AppStats.select().order_by(AppStats.app)}


def active(app):
    return AppStats.get(AppStats.app == app).active_customers


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


def test_tokens_last_used_31_days_ago_are_not_active(app, clock):
    listing = factories.app_listing()
    recent, old, revoked = (factories.company() for _ in range(3))
    factories.connection(recent, listing, last_used_at=utcnow() - datetime.timedelta(days=29, hours=23))
    factories.connection(old, listing, last_used_at=utcnow() - datetime.timedelta(days=31))
    factories.connection(revoked, listing, last_used_at=utcnow(), revoked_at=utcnow())
    stats.refresh_app(listing.id, grace_days=7)
    assert active(listing) == 1
    # A day later the recent one is 30 days old plus change: the sweep ages it out.
    clock.shift(datetime.timedelta(days=1))
    assert stats.age_all(utcnow(), grace_days=7) == 1
    assert active(listing) == 0
    assert stats.age_all(utcnow(), grace_days=7) == 0  # nothing left to change, nothing written


def test_paid_app_counts_entitled_companies_only(app, clock):
    listing = factories.app_listing(price_ore=19900)
    paying, late, lapsed, unpaid = (factories.company() for _ in range(4))
    for company in (paying, late, lapsed, unpaid):
        factories.connection(company, listing, last_used_at=utcnow())
    factories.subscription(paying, listing, status="active", price_ore=19900)
    factories.subscription(late, listing, status="past_due", price_ore=19900,
                           past_due_since=utcnow() - datetime.timedelta(days=6))
    factories.subscription(lapsed, listing, status="past_due", price_ore=19900,
                           past_due_since=utcnow() - datetime.timedelta(days=8))
    factories.subscription(unpaid, listing, status="incomplete", price_ore=19900)
    stats.refresh_app(listing.id, grace_days=7)
    row = AppStats.get(AppStats.app == listing)
    assert (row.active_customers, row.paying_customers, row.new_customers_30d) == (2, 2, 4)
    # The grace period of `late` ends with time alone.
    clock.shift(datetime.timedelta(days=1, seconds=1))
    stats.age_all(utcnow(), grace_days=7)
    row = AppStats.get(AppStats.app == listing)
    assert (row.active_customers, row.paying_customers) == (1, 1)


def test_a_change_bumps_the_store_generation(app, clock):
    listing = factories.app_listing()
    before = store.store_generation()
    assert stats.refresh_app(listing.id, grace_days=7) is False
    assert store.store_generation() == before
    factories.connection(factories.company(), listing, last_used_at=utcnow())
    assert stats.refresh_app(listing.id, grace_days=7) is True
    assert store.store_generation() == before + 1


def test_stats_rebuild_command(app, runner, clock):
    listing = factories.app_listing()
    other = factories.app_listing()
    for _ in range(3):
        company = factories.company()
        factories.connection(company, listing, last_used_at=utcnow())
        factories.connection(company, other, last_used_at=utcnow())
    result = runner.invoke(args=["stats-rebuild"])
    assert result.exit_code == 0, result.output
    assert active(listing) == 3
    from models import CoUsage

    assert {(c.app_id, c.neighbour_id, c.score) for c in CoUsage.select()} == {
        (listing.id, other.id, 3), (other.id, listing.id, 3)}


@pytest.mark.parametrize("seed", [7, 2026])
def test_random_events_and_time_agree_with_a_rebuild(app, clock, seed):
    rnd = random.Random(seed)
    apps = [factories.app_listing(), factories.app_listing(price_ore=9900), factories.app_listing(price_ore=29900)]
    companies = [factories.company() for _ in range(7)]
    users = {c.id: factories.customer_admin(company_obj=c) for c in companies}

    def refreshed(app_id):
        stats.refresh_app(app_id, grace_days=7)

    for step in range(70):
        company, listing = rnd.choice(companies), rnd.choice(apps)
        kind = rnd.choice(["connect", "use", "use", "revoke", "subscribe", "status", "review", "review",
                           "unreview", "time", "time"])
        conn = Connection.get_or_none(Connection.company == company, Connection.app == listing)
        if kind == "connect" and conn is None:
            factories.connection(company, listing, last_used_at=rnd.choice([None, utcnow()]))
            refreshed(listing.id)
        elif kind == "use" and conn is not None:
            Connection.update(last_used_at=utcnow(), revoked_at=None).where(Connection.id == conn.id).execute()
            refreshed(listing.id)
        elif kind == "revoke" and conn is not None:
            Connection.update(revoked_at=utcnow()).where(Connection.id == conn.id).execute()
            refreshed(listing.id)
        elif kind == "subscribe" and not listing.is_free:
            factories.subscription(company, listing, status=rnd.choice(["trialing", "active"]),
                                   price_ore=listing.min_price_ore)
            refreshed(listing.id)
        elif kind == "status":
            sub = Subscription.get_or_none(Subscription.company == company, Subscription.app == listing)
            if sub is not None:
                status = rnd.choice(["active", "past_due", "canceled", "trialing"])
                Subscription.update(status=status, past_due_since=utcnow() if status == "past_due" else None
                                    ).where(Subscription.id == sub.id).execute()
                refreshed(listing.id)
        elif kind == "review":
            try:
                ratings.save_review(company, users[company.id], listing, rnd.randint(1, 5), "")
            except ratings.NotACustomer:
                pass
        elif kind == "unreview":
            try:
                ratings.delete_review(company, users[company.id], listing)
            except ratings.NotYours:
                pass
        elif kind == "time":
            clock.shift(datetime.timedelta(days=rnd.choice([1, 3, 8, 12]), hours=rnd.randint(0, 23)))
            stats.age_all(utcnow(), grace_days=7)
        if step % 10 == 9:
            incremental = snapshot()
            stats.stats_rebuild(grace_days=7)
            assert snapshot() == incremental, f"step {step}"
    assert any(row[0] for row in snapshot().values()) or any(row[4] for row in snapshot().values())


def test_rating_totals_of_a_hand_counted_set():
    totals = ratings.rating_totals([5, 5, 4, 1, 7, 0])  # 7 and 0 stars are no ratings
    assert totals.stars == (1, 0, 0, 1, 2)
    assert (totals.count, totals.sum, totals.centi) == (4, 15, 375)
    # Hundredths rounded down, never to the nearest: 14 / 3 = 4.666… is 466, not 467.
    assert ratings.rating_totals([5, 5, 4]).centi == 466
    assert ratings.rating_totals([]) == ratings.RatingTotals()
    assert ratings.RatingTotals().columns() == {"rating_sum": 0, "rating_count": 0, "rating_centi": 0,
                                                "stars_1": 0, "stars_2": 0, "stars_3": 0, "stars_4": 0,
                                                "stars_5": 0}


def test_the_kept_rating_figures_are_the_totals_of_the_reviews(app, clock):
    written = {}
    for stars_given in ([5, 5, 4], [2], [3, 1]):
        listing = factories.app_listing()
        for stars in stars_given:
            company = factories.company()
            factories.connection(company, listing, last_used_at=utcnow())
            ratings.save_review(company, factories.customer_admin(company_obj=company), listing, stars, "")
        written[listing.id] = ratings.rating_totals(stars_given)
    assert ratings.app_rating_totals() == written
    for row in AppStats.select():
        totals = written[row.app_id]
        assert (row.rating_count, row.rating_sum, row.rating_centi) == (totals.count, totals.sum, totals.centi)
        assert (row.stars_1, row.stars_2, row.stars_3, row.stars_4, row.stars_5) == totals.stars
    kept = {app_id: figures[FIGURES.index("rating_sum"):] for app_id, figures in snapshot().items()}
    stats.stats_rebuild(grace_days=7)
    assert {app_id: figures[FIGURES.index("rating_sum"):] for app_id, figures in snapshot().items()} == kept


def test_entitled_counts_are_billings_grace_rule_in_sql(app, clock):
    # stats counts with dunning.entitling_condition; here each subscription asks dunning.entitles.
    listing = factories.app_listing(price_ore=19900)
    now, grace = utcnow(), datetime.timedelta(days=7)
    cases = [("active", None), ("trialing", None), ("past_due", None), ("past_due", now - grace + datetime.timedelta(seconds=1)),
             ("past_due", now - grace), ("past_due", now - grace - datetime.timedelta(days=1)),
             ("unpaid", now - datetime.timedelta(days=1)), ("canceled", None), ("incomplete", None)]
    subscriptions = []
    for status, since in cases:
        company = factories.company()
        factories.connection(company, listing, last_used_at=now)
        subscriptions.append(factories.subscription(company, listing, status=status, past_due_since=since))
    entitled = [s for s in subscriptions if dunning.entitles(s, 7, now)]
    paying = [s for s in entitled if s.status != "trialing"]
    assert [s.status for s in entitled] == ["active", "trialing", "past_due", "past_due"]
    # An active customer is a verified one (issue 17, DESIGN.md §3): the trial never paid.
    active = [s for s in entitled if s.status != "trialing"]
    stats.refresh_app(listing.id, grace_days=7)
    row = AppStats.get(AppStats.app == listing)
    assert (row.active_customers, row.paying_customers) == (len(active), len(paying))
    stats.stats_rebuild(grace_days=7)
    row = AppStats.get(AppStats.app == listing)
    assert (row.active_customers, row.paying_customers) == (len(active), len(paying))


def test_rebuilding_everything_bumps_the_store_generation_once_after_both(app, clock):
    listing, other = factories.app_listing(), factories.app_listing()
    company = factories.company()
    factories.connection(company, listing, last_used_at=utcnow())
    factories.connection(company, other, last_used_at=utcnow())
    before = store.store_generation()
    assert rebuild.rebuild_everything(7) == (2, 2)
    assert store.store_generation() == before + 1
    assert active(listing) == 1
