"""The developer dashboard's MRR history is kept per worker while the developer's
SubscriptionChange rows are unchanged (issue R): the charts must never show figures older than
the rows, whatever wrote or removed them."""
import datetime
import re

import pytest

from market.accounts import companies
from market.billing import history as subscription_history
from market.dashboards import figures as dashboard
from models import SubscriptionChange, utcnow
from tests import factories

TODAY = utcnow().date()
PERIOD = dashboard.default_period(TODAY)


def ago(days):
    return utcnow() - datetime.timedelta(days=days)


@pytest.fixture
def seller(app):
    owner = factories.developer_user(email="seller@example.test")
    listing = factories.app_listing(developer_obj=owner.developer, price_ore=10000, slug="seller-app")
    first = factories.subscription(factories.company(), listing, created_at=ago(40))
    subscription_history.record_imported()
    return {"owner": owner, "developer": owner.developer_id, "listing": listing, "first": first}


def history(seller, now=None, app=None):
    return dashboard.history(seller["developer"], PERIOD, now or utcnow(), app=app)


def new_subscription(seller, price_ore=5000, at=None):
    """A subscription starting to count, as webhooks.apply_subscription records it."""
    subscription = factories.subscription(factories.company(), seller["listing"], price_ore=price_ore,
                                          imported=False, created_at=at or utcnow())
    assert subscription_history.record(subscription, at or utcnow()) is not None
    return subscription


def count_reads(monkeypatch):
    """How often the SubscriptionChange rows themselves are read (not the version)."""
    calls = []
    original = dashboard._mrr_and_movement

    def counted(*args):
        calls.append(args)
        return original(*args)

    monkeypatch.setattr(dashboard, "_mrr_and_movement", counted)
    return calls


def test_the_history_is_read_once_while_the_rows_are_unchanged(seller, monkeypatch):
    reads = count_reads(monkeypatch)
    first = history(seller)
    assert first["mrr"][-1] == 10000
    assert history(seller) == first and history(seller) == first
    assert len(reads) == 1
    # What a caller does with its figures does not change the kept ones.
    first["mrr"][-1] = 1
    first["movement"][-1]["new"] = 1
    assert history(seller)["mrr"][-1] == 10000 and history(seller)["movement"][-1]["new"] != 1


def test_a_new_change_shows_at_once(seller, monkeypatch):
    reads = count_reads(monkeypatch)
    before = history(seller)
    new_subscription(seller, 5000)
    after = history(seller)
    assert len(reads) == 2
    assert after["mrr"][-1] == before["mrr"][-1] + 5000
    assert after["movement"][-1]["new"] == before["movement"][-1]["new"] + 5000
    # A price change of an existing subscription too, and a churn.
    factories.subscription_price_change(seller["first"], 20000, utcnow())
    assert history(seller)["mrr"][-1] == 25000
    assert history(seller)["movement"][-1]["expansion"] == 10000


def test_each_app_and_each_period_is_its_own_entry(seller):
    other = factories.app_listing(developer_obj=seller["owner"].developer, price_ore=7000, slug="seller-other")
    assert history(seller, app=seller["listing"].id)["mrr"][-1] == 10000
    assert history(seller, app=other.id)["mrr"][-1] == 0
    subscription = factories.subscription(factories.company(), other, created_at=utcnow())
    subscription_history.record(subscription, utcnow())
    assert history(seller, app=other.id)["mrr"][-1] == 7000
    assert history(seller)["mrr"][-1] == 17000
    short = dashboard.Period(TODAY - datetime.timedelta(days=10), TODAY)
    assert dashboard.history(seller["developer"], short, utcnow())["mrr"][-1] == 17000


def test_a_removed_change_shows_at_once(seller):
    """A company's erasure takes its subscriptions' history with it (cascade)."""
    leaving = new_subscription(seller, 5000)
    assert history(seller)["mrr"][-1] == 15000
    companies.erase_company(leaving.company_id)
    assert not SubscriptionChange.select().where(SubscriptionChange.subscription == leaving.id).exists()
    assert history(seller)["mrr"][-1] == 10000


def test_a_newest_row_removed_and_its_id_written_again_is_seen(seller):
    """SQLite hands the id of a deleted newest row out again: same count, same newest id."""
    newest = new_subscription(seller, 5000)
    assert history(seller)["mrr"][-1] == 15000
    row = SubscriptionChange.get(SubscriptionChange.subscription == newest.id)
    SubscriptionChange.delete().where(SubscriptionChange.id == row.id).execute()
    SubscriptionChange.create(id=row.id, subscription=newest.id, company=newest.company_id, app=newest.app_id,
                              developer=seller["developer"], at=row.at, kind="new", mrr_before_ore=0,
                              mrr_after_ore=8000)
    assert history(seller)["mrr"][-1] == 18000


def test_a_change_dated_after_the_kept_moment_counts_once_its_moment_passed(seller, monkeypatch):
    """The running month ends now: a row written with a moment still to come (Stripe's clock a
    little ahead) is not in it yet, and is once that moment passed."""
    now = utcnow()
    new_subscription(seller, 5000, at=now + datetime.timedelta(minutes=5))
    assert history(seller, now=now)["mrr"][-1] == 10000
    assert history(seller, now=now + datetime.timedelta(minutes=10))["mrr"][-1] == 15000
    # And an entry kept at a later moment is not used for an earlier one.
    assert history(seller, now=now)["mrr"][-1] == 10000


def test_the_cache_is_bounded(seller, monkeypatch):
    monkeypatch.setattr(dashboard, "HISTORY_CACHE_SIZE", 3)
    for days in range(10):
        dashboard.history(seller["developer"], dashboard.Period(TODAY - datetime.timedelta(days=days), TODAY),
                          utcnow())
    from models import db

    assert len(dashboard._history_caches[db.obj]) == 3


def page_mrr(client, month):
    html = client.get("/developer").get_data(as_text=True)
    row = re.search(rf'<tr data-month="{month}">.*?</tr>', html).group(0)
    return int(re.findall(r'data-ore="(-?\d+)"', row)[-1])


def mrr_chart(client):
    """The MRR chart's SVG (views.dashboard.line_chart keeps it per inputs and language)."""
    html = client.get("/developer").get_data(as_text=True)
    return html.split('data-chart="chart-mrr"', 1)[1].split("</figure>", 1)[0]


def test_the_page_shows_a_new_change_on_the_next_request(seller, auth, client):
    auth.login("seller@example.test")
    month = dashboard.month_label(PERIOD.months()[-1])
    assert page_mrr(client, month) == 10000
    assert page_mrr(client, month) == 10000
    new_subscription(seller, 5000)
    assert page_mrr(client, month) == 15000
    factories.subscription_price_change(seller["first"], 2500, utcnow())
    assert page_mrr(client, month) == 7500


def test_the_kept_chart_follows_its_figures_and_the_language(seller, auth, client):
    auth.login("seller@example.test")
    before = mrr_chart(client)
    assert mrr_chart(client) == before
    new_subscription(seller, 5000)
    after = mrr_chart(client)
    assert after != before and after.count("<circle") == before.count("<circle")
    client.set_cookie("lang", "sv")
    swedish = mrr_chart(client)
    client.set_cookie("lang", "en")
    assert mrr_chart(client) == after
    assert swedish != after
