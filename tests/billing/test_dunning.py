"""The grace rule has one owner (market.billing.dunning): its Python answer for one
subscription and its SQL answer for many agree, the entitlement check and the sweep both
follow it, and a grace that ran out revokes the company's grant through billing's signal."""
import datetime

import pytest

from market.billing import dunning, signals, subscriptions
from market.entitlement import rules as entitlements
from market.jobs import sweep
from models import SUBSCRIPTION_STATUSES, Connection, OAuthToken, Subscription, utcnow
from tests import factories

GRACE = 7
NOW = datetime.datetime(2026, 11, 15, 12, 0, 0)
# past_due_since: never failed, failed within the grace, on its last second, just past it, long ago.
SINCE = {
    "none": None,
    "yesterday": NOW - datetime.timedelta(days=1),
    "last second": NOW - datetime.timedelta(days=GRACE) + datetime.timedelta(seconds=1),
    "just ended": NOW - datetime.timedelta(days=GRACE),
    "long ago": NOW - datetime.timedelta(days=40),
}


@pytest.fixture
def every_case(app):
    """One subscription of its own company per status × past_due_since."""
    listing = factories.app_listing(price_ore=19900)
    rows = {}
    for status in SUBSCRIPTION_STATUSES:
        for name, since in SINCE.items():
            rows[(status, name)] = factories.subscription(factories.company(), listing, status=status,
                                                          past_due_since=since)
    return listing, rows


def test_entitles_and_entitling_condition_agree(every_case):
    listing, rows = every_case
    in_sql = {s.id for s in Subscription.select(Subscription.id)
              .where(Subscription.app == listing, dunning.entitling_condition(GRACE, NOW))}
    in_python = {row.id for row in rows.values() if dunning.entitles(row, GRACE, NOW)}
    assert in_sql == in_python
    # And the rule itself, spelled once here: trialing and active always, past_due within the grace.
    expected = {row.id for (status, since), row in rows.items()
                if status in ("trialing", "active")
                or (status == "past_due" and since in ("none", "yesterday", "last second"))}
    assert in_python == expected


def test_a_grace_either_entitles_or_has_expired(every_case):
    listing, rows = every_case
    expired = {s.id for s in Subscription.select(Subscription.id)
               .where(Subscription.app == listing, dunning.grace_expired_condition(GRACE, NOW))}
    in_dunning = {row.id for (status, _), row in rows.items() if status in Subscription.DUNNING_STATUSES}
    for row in rows.values():
        if row.id in in_dunning:
            assert (row.id in expired) != dunning.entitles(row, GRACE, NOW)
        else:
            assert row.id not in expired


def test_the_grace_deadline_counts_from_the_first_failure(app):
    listing = factories.app_listing(price_ore=19900)
    row = factories.subscription(factories.company(), listing, status="past_due",
                                 past_due_since=SINCE["yesterday"])
    deadline = dunning.grace_deadline(row, GRACE, NOW)
    assert deadline == SINCE["yesterday"] + datetime.timedelta(days=GRACE)
    assert dunning.in_grace(row, GRACE, deadline - datetime.timedelta(seconds=1))
    assert not dunning.in_grace(row, GRACE, deadline)
    assert dunning.payment_problems(row.company, GRACE) == [(listing, deadline)]


def test_the_entitlement_check_follows_the_grace_rule(every_case):
    listing, rows = every_case
    for row in rows.values():
        if subscriptions.current_subscription(row.company, listing) is None:
            assert not entitlements.is_entitled(row.company, listing, GRACE, NOW)
        else:
            assert entitlements.is_entitled(row.company, listing, GRACE, NOW) == dunning.entitles(row, GRACE, NOW)


def test_the_sweep_ends_an_expired_grace_and_the_grant_with_it(app):
    """The token revocation listens to billing's access_ended (market.wiring): whenever the
    sweep ends a grace, the company's tokens for the app stop working."""
    listing = factories.app_listing(price_ore=19900)
    company = factories.company()
    row = factories.subscription(company, listing, status="past_due", past_due_since=SINCE["long ago"])
    kept = factories.subscription(factories.company(), listing, status="past_due", past_due_since=SINCE["yesterday"])
    connection = factories.api_connection(company, listing)
    factories.issue_token(connection)
    heard = []

    def record(sender, app, config, now):
        heard.append((sender.id, app.id))

    with signals.access_ended.connected_to(record):
        assert sweep.run(app.config, now=NOW)["entitlements_ended"] == 1
        assert sweep.run(app.config, now=NOW)["entitlements_ended"] == 0  # once
    assert heard == [(company.id, listing.id)]
    assert Subscription.get_by_id(row.id).status == "unpaid"
    assert Subscription.get_by_id(kept.id).status == "past_due"
    assert Connection.get_by_id(connection.id).revoked_at is not None
    assert OAuthToken.select().where(OAuthToken.revoked_at.is_null()).count() == 0
    assert not entitlements.is_entitled(company, listing, GRACE, utcnow())
