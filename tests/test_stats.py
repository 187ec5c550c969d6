"""AppStats kept current on events and aged by the sweep (issue I, DESIGN.md §3, §7): whatever
happens, the incremental figures equal a rebuild from the data."""
import datetime
import random

import pytest
import time_machine

from market.catalog import store
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
