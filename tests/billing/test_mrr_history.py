"""The subscriptions' MRR history (models.SubscriptionChange) and the dashboard's charts read
from it: MRR at each month's end uses the price paid then, a plan change is one expansion or
contraction whatever its prorated invoice charged, churn and reactivation, trials, and the
history the seed derives for imported subscriptions."""
import datetime

import pytest

from market.billing import dunning, transactions, webhooks
from market.billing import history as subscription_history
from market.dashboards import figures as dashboard
from models import Plan, Subscription, SubscriptionChange, utcnow
from tests import factories
from tests.billing.conftest import subscription_object

TODAY = utcnow().date()


@pytest.fixture
def shop(app):
    owner = factories.developer_user(email="owner@example.test")
    listing = factories.app_listing(developer_obj=owner.developer, price_ore=19900, slug="paid-app")
    standard = Plan.get(Plan.app == listing)
    Plan.update(stripe_price_id="price_standard").where(Plan.id == standard.id).execute()
    pro = Plan.create(app=listing, name="Pro", price_ore=39900, stripe_price_id="price_pro", position=1)
    return owner, listing, Plan.get_by_id(standard.id), pro


def months():
    return dashboard.default_period(TODAY).months()


def moment(index, day=3):
    """A moment inside the index-th month of the default period (0 = eleven months ago)."""
    return datetime.datetime.combine(months()[index], datetime.time(12)) + datetime.timedelta(days=day - 1)


def stripe_sub(sub_id, status, company, listing, plan, **fields):
    sub = subscription_object(sub_id, status, company, listing, plan, price_id=plan.stripe_price_id, **fields)
    sub["metadata"]["plan_id"] = str(plan.id)
    return sub


def apply(app, sub, at):
    """What a subscription webhook does at `at`: Stripe's object mirrored in one transaction."""
    with transactions.write_transaction():
        return webhooks.apply_subscription(app.config, sub, int(at.timestamp()), at)


def history(owner, app_id=None):
    return dashboard.history(owner.developer_id, dashboard.default_period(TODAY), utcnow(), app=app_id)


def kinds(row):
    return [c.kind for c in SubscriptionChange.select().where(SubscriptionChange.subscription == row.id)
            .order_by(SubscriptionChange.at, SubscriptionChange.id)]


def assert_movement_adds_up(figures):
    for i in range(1, len(figures["months"])):
        moved = figures["movement"][i]
        total = moved["new"] + moved["reactivation"] + moved["expansion"] + moved["contraction"] + moved["churn"]
        assert total == figures["mrr"][i] - figures["mrr"][i - 1], figures["months"][i]


def test_an_upgrade_mid_month_is_expansion_only_and_month_ends_keep_the_price_of_then(app, shop):
    owner, listing, standard, pro = shop
    company = factories.company()
    row = apply(app, stripe_sub("sub_up", "active", company, listing, standard), moment(2))
    # The prorated upgrade invoice (half a month of the difference) and the renewal after it are
    # payments: they must not read as a contraction then an expansion.
    factories.ledger_entry(listing, company, gross_ore=24875, moms_ore=4975, subscription_obj=row,
                           occurred_at=moment(3))
    apply(app, stripe_sub("sub_up", "active", company, listing, pro), moment(4, day=15))
    factories.ledger_entry(listing, company, gross_ore=12500, moms_ore=2500, subscription_obj=row,
                           occurred_at=moment(4, day=15))
    factories.ledger_entry(listing, company, gross_ore=49875, moms_ore=9975, subscription_obj=row,
                           occurred_at=moment(5))
    # The same state applied again (a redelivered or later event) is no change.
    apply(app, stripe_sub("sub_up", "active", company, listing, pro), moment(5))
    assert kinds(row) == ["new", "expansion"]

    figures = history(owner)
    assert figures["mrr"][:6] == [0, 0, 19900, 19900, 39900, 39900] and figures["mrr"][-1] == 39900
    assert figures["movement"][2]["new"] == 19900
    assert figures["movement"][4]["expansion"] == 20000
    for month in figures["movement"]:
        assert month["contraction"] == 0
    assert figures["movement"][5]["expansion"] == 0
    assert_movement_adds_up(figures)


def test_a_downgrade_is_contraction(app, shop):
    owner, listing, standard, pro = shop
    company = factories.company()
    row = apply(app, stripe_sub("sub_down", "active", company, listing, pro), moment(1))
    apply(app, stripe_sub("sub_down", "active", company, listing, standard), moment(3, day=20))
    assert kinds(row) == ["new", "contraction"]
    figures = history(owner)
    assert figures["movement"][3]["contraction"] == -20000 and figures["movement"][3]["expansion"] == 0
    assert figures["mrr"][1:4] == [39900, 39900, 19900] and figures["mrr"][-1] == 19900
    assert_movement_adds_up(figures)


def test_churn_reactivation_and_a_grace_that_ran_out(app, shop):
    owner, listing, standard, _ = shop
    leaver, late = factories.company(), factories.company()
    first = apply(app, stripe_sub("sub_a", "active", leaver, listing, standard), moment(1))
    ended = int(moment(3).timestamp())
    apply(app, stripe_sub("sub_a", "canceled", leaver, listing, standard, canceled_at=ended, ended_at=ended),
          moment(3))
    # The same company buys again: a reactivation, not new.
    second = apply(app, stripe_sub("sub_b", "active", leaver, listing, standard), moment(5))
    assert (kinds(first), kinds(second)) == (["new", "churn"], ["reactivation"])

    # A failed payment keeps counting (past due); the grace running out is churn; paying again
    # brings it back as a reactivation.
    third = apply(app, stripe_sub("sub_c", "active", late, listing, standard), moment(6))
    apply(app, stripe_sub("sub_c", "past_due", late, listing, standard), moment(7))
    assert dunning.end_expired_grace(dict(app.config, BILLING_GRACE_DAYS=7), now=moment(7, day=20)) == 1
    assert Subscription.get_by_id(third.id).status == "unpaid"
    apply(app, stripe_sub("sub_c", "active", late, listing, standard), moment(8))
    assert kinds(third) == ["new", "churn", "reactivation"]

    figures = history(owner)
    movement = figures["movement"]
    assert movement[1]["new"] == 19900 and movement[3]["churn"] == -19900 and figures["mrr"][3] == 0
    assert movement[5]["reactivation"] == 19900 and movement[5]["new"] == 0
    assert movement[6]["new"] == 19900 and movement[7]["churn"] == -19900 and figures["mrr"][7] == 19900
    assert movement[8]["reactivation"] == 19900 and figures["mrr"][8] == 2 * 19900
    assert_movement_adds_up(figures)
    # Only this app's history, and only this developer's.
    rival = factories.developer_user(email="rival@example.test")
    assert history(rival)["mrr"][-1] == 0
    assert history(owner, app_id=listing.id)["mrr"][-1] == 2 * 19900


def test_a_trial_counts_nothing_until_it_converts(app, shop):
    owner, listing, standard, _ = shop
    company = factories.company()
    trial_end = int(moment(2).timestamp())
    row = apply(app, stripe_sub("sub_t", "trialing", company, listing, standard, trial_end=trial_end), moment(1))
    figures = history(owner)
    assert figures["mrr"][1] == 0 and figures["movement"][1]["new"] == 0
    apply(app, stripe_sub("sub_t", "active", company, listing, standard, trial_end=trial_end), moment(2))
    assert kinds(row) == ["trial_start", "trial_conversion"]
    figures = history(owner)
    assert figures["mrr"][1:3] == [0, 19900] and figures["movement"][2]["new"] == 19900


def test_imported_subscriptions_get_a_history_matching_todays_mrr(app, shop):
    owner, listing, standard, _ = shop
    companies = [factories.company() for _ in range(5)]
    factories.subscription(companies[0], listing, plan=standard, created_at=moment(1))
    factories.subscription(companies[1], listing, plan=standard, status="past_due", created_at=moment(2),
                           past_due_since=utcnow())
    factories.subscription(companies[2], listing, plan=standard, status="canceled", created_at=moment(2),
                           ended_at=moment(4))
    factories.subscription(companies[2], listing, plan=standard, created_at=moment(6))
    factories.subscription(companies[3], listing, plan=standard, status="trialing", created_at=utcnow(),
                           trial_end=utcnow() + datetime.timedelta(days=10))
    factories.subscription(companies[4], listing, plan=standard, status="incomplete", created_at=moment(3))
    assert subscription_history.record_imported() == 6
    assert subscription_history.record_imported() == 0  # once per subscription
    assert SubscriptionChange.select().where(SubscriptionChange.imported == False).count() == 0  # noqa: E712
    figures = history(owner)
    today = dashboard.developer_figures(owner.developer_id, dashboard.default_period(TODAY))["total"]
    assert figures["mrr"][-1] == today["mrr_ore"] == 3 * 19900
    assert figures["mrr"][1:7] == [19900, 3 * 19900, 3 * 19900, 2 * 19900, 2 * 19900, 3 * 19900]
    assert figures["movement"][4]["churn"] == -19900 and figures["movement"][6]["reactivation"] == 19900
    assert_movement_adds_up(figures)


def test_the_page_shows_the_history_and_says_how_it_is_counted(app, shop, auth, client):
    owner, listing, standard, pro = shop
    company = factories.company()
    apply(app, stripe_sub("sub_page", "active", company, listing, standard), moment(2))
    apply(app, stripe_sub("sub_page", "active", company, listing, pro), moment(4, day=15))
    auth.login("owner@example.test")
    html = client.get("/developer").get_data(as_text=True)
    row = html.split(f'data-month="{dashboard.month_label(months()[4])}"')[1].split("</tr>")[0]
    assert "200 kr" in row, row
    assert "prices of then" in html and "current price" not in html
