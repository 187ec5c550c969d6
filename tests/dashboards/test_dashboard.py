"""The developer's dashboard (issue J): every figure per app and in total from one function,
to the öre against the ledger; the CSV exports equal the page; the date range; the charts."""
import csv
import datetime
import io
import re

import pytest

from market.billing import history as subscription_history
from market.core import money
from market.dashboards import figures as dashboard
from market.stats import app_stats as stats
from models import CheckoutAttempt, Plan, utcnow
from tests import factories

TODAY = utcnow().date()


def ago(days):
    return utcnow() - datetime.timedelta(days=days)


@pytest.fixture
def shop(app):
    """A developer with a paid and a free app, customers in every state, and a rival whose money
    must never show."""
    owner = factories.developer_user(email="owner@example.test")
    paid = factories.app_listing(developer_obj=owner.developer, price_ore=19900, slug="paid-app", name="Paid App")
    free = factories.app_listing(developer_obj=owner.developer, slug="free-app", name="Free App")
    plan = Plan.get(Plan.app == paid)
    shared = factories.company(name="Shared Org AB", share_org_number=True)
    hidden = factories.company(name="=HYPERLINK(\"http://evil\")", share_org_number=False)
    late = factories.company(name="Late Payer AB")
    gone = factories.company(name="Gone AB")
    trial = factories.company(name="Trial AB")
    for company in (shared, hidden, late):
        factories.connection(company, paid, last_used_at=ago(1))
    active = factories.subscription(shared, paid, plan=plan, created_at=ago(40))
    factories.subscription(hidden, paid, plan=plan, created_at=ago(20))
    factories.subscription(late, paid, plan=plan, status="past_due", past_due_since=ago(2), created_at=ago(90))
    factories.subscription(gone, paid, plan=plan, status="canceled", created_at=ago(100), ended_at=ago(10),
                           canceled_at=ago(12))
    factories.subscription(trial, paid, plan=plan, status="trialing", trial_end=utcnow() + datetime.timedelta(days=5),
                           created_at=ago(9))
    factories.connection(shared, free, last_used_at=ago(3), created_at=ago(5))
    factories.connection(gone, free, created_at=ago(50), revoked_at=ago(4))
    for attempt, status in enumerate(("complete", "complete", "expired", "open")):
        CheckoutAttempt.create(company=shared, app=paid, plan=plan, attempt=attempt + 1, status=status,
                               created_at=ago(3))
    factories.ledger_entry(paid, shared, gross_ore=24875, moms_ore=4975, subscription_obj=active, occurred_at=ago(30))
    factories.ledger_entry(paid, shared, gross_ore=24875, moms_ore=4975, subscription_obj=active, occurred_at=ago(1),
                           stripe_charge_id="ch_x")
    factories.ledger_entry(paid, shared, gross_ore=-10000, moms_ore=-2000, kind="refund", occurred_at=ago(1))
    factories.ledger_entry(paid, late, gross_ore=-5000, moms_ore=-1000, kind="dispute", occurred_at=ago(1))
    factories.ledger_entry(paid, shared, gross_ore=99999, moms_ore=20000, occurred_at=ago(800))  # outside the period
    rival = factories.developer_user(email="rival@example.test")
    rival_app = factories.app_listing(developer_obj=rival.developer, price_ore=50000, slug="rival-app")
    secret = factories.company(name="Rival Customer AB", share_org_number=True)
    factories.subscription(secret, rival_app, created_at=ago(3))
    factories.ledger_entry(rival_app, secret, gross_ore=62500, moms_ore=12500, occurred_at=ago(2))
    stats.stats_rebuild(grace_days=7)
    return {"owner": owner, "paid": paid, "free": free, "rival": rival, "rival_app": rival_app}


def page_figures(html, scope="total"):
    """data-figure values of the totals on the page, in öre or counts."""
    block = html.split(f'data-scope="{scope}"', 1)[1].split("</dl>", 1)[0]
    figures = {}
    for name, ore, text in re.findall(r'data-figure="(\w+)"(?: data-ore="(-?\d+)")?>([^<]*)<', block):
        figures[name] = int(ore) if ore else text
    return figures


def test_figures_per_app_and_total_come_from_the_ledger_and_stats(shop):
    period = dashboard.default_period(TODAY)
    figures = dashboard.developer_figures(shop["owner"].developer_id, period)
    by_slug = {row["slug"]: row for row in figures["apps"]}
    assert set(by_slug) == {"paid-app", "free-app"}
    paid = by_slug["paid-app"]
    assert paid["mrr_ore"] == 3 * 19900  # two active + one past due; the trial counts 0
    assert paid["paying_customers"] == 3 and paid["active_customers"] == 3
    assert paid["dunning"] == 1
    assert paid["new_customers"] == 5 and paid["churned_customers"] == 1
    assert paid["trial_starts"] == 1 and paid["trial_conversions"] == 0
    assert (paid["checkouts"], paid["checkouts_completed"]) == (4, 2)
    assert paid["checkout_conversion"] == "50.0 %"
    assert paid["gross_ore"] == 2 * 24875 - 10000 - 5000
    assert paid["moms_ore"] == 2 * 4975 - 3000
    assert paid["developer_ore"] == 2 * 14925 - 6000 - 3000 and paid["platform_ore"] == 2 * 4975 - 2000 - 1000
    assert paid["refunds_ore"] == -10000 and paid["disputes_ore"] == -5000
    assert paid["developer_ore"] + paid["platform_ore"] + paid["moms_ore"] == paid["gross_ore"]
    free = by_slug["free-app"]
    assert (free["new_customers"], free["churned_customers"], free["mrr_ore"]) == (2, 1, 0)
    total = figures["total"]
    for name in dashboard.MONEY_FIELDS + ("mrr_ore", "new_customers", "active_customers"):
        assert total[name] == paid[name] + free[name], name


def test_the_page_shows_the_same_numbers(shop, auth, client):
    auth.login("owner@example.test")
    html = client.get("/developer").get_data(as_text=True)
    shown = page_figures(html)
    expected = dashboard.developer_figures(shop["owner"].developer_id, dashboard.default_period(TODAY))["total"]
    for name in dashboard.MONEY_FIELDS + ("mrr_ore",):
        assert shown[name] == expected[name], name
    assert shown["paying_customers"] == "3" and shown["dunning"] == "1"
    assert 'data-app="paid-app"' in html and "Late Payer AB" in html  # the dunning list
    assert "rival-app" not in html and "Rival Customer AB" not in html
    assert "<svg" in html and 'role="img"' in html and "<title" in html and "style=" not in html
    assert html.count("<h1") == 1


def test_ledger_csv_equals_the_page(shop, auth, client):
    auth.login("owner@example.test")
    html = client.get("/developer").get_data(as_text=True)
    shown = page_figures(html)
    response = client.get(f"/developer/export/ledger.csv?from={dashboard.default_period(TODAY).first}&to={TODAY}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    header, body, total = rows[0], rows[1:-1], rows[-1]
    assert total[0] == "total" and len(body) == 4  # the old payment and the rival's row are not in it
    columns = {"gross_kr": "gross_ore", "moms_kr": "moms_ore", "net_kr": "net_ore",
               "developer_share_kr": "developer_ore", "platform_fee_kr": "platform_ore"}
    for column, figure in columns.items():
        index = header.index(column)
        as_ore = [round(float(row[index]) * 100) for row in body]
        assert sum(as_ore) == round(float(total[index]) * 100) == shown[figure], column


def test_customers_csv_shares_org_numbers_only_with_consent_and_guards_formulas(shop, auth, client):
    from models import Company

    auth.login("owner@example.test")
    text = client.get("/developer/export/customers.csv").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == dashboard.CUSTOMERS_CSV_HEADER
    by_company = {}
    for row in rows[1:]:
        by_company.setdefault(row[0], []).append(row)
    shared = Company.get(Company.name == "Shared Org AB")
    assert by_company["Shared Org AB"][0][3] == shared.org_number
    assert by_company["'=HYPERLINK(\"http://evil\")"][0][3] == ""
    assert "=HYPERLINK" not in [row[0] for row in rows[1:]]
    assert "Rival Customer AB" not in text
    live = [row for row in rows[1:] if row[4] == "Paid App" and row[6] in ("active", "past_due")]
    page = dashboard.developer_figures(shop["owner"].developer_id, dashboard.default_period(TODAY))
    paid = next(r for r in page["apps"] if r["slug"] == "paid-app")
    assert len(live) == paid["paying_customers"] == 3
    assert {row[6] for row in by_company["Gone AB"]} == {"canceled", "revoked"}


@pytest.mark.parametrize("query, message", [
    ("from=2026-13-01", "YYYY-MM-DD"), ("from=yesterday", "YYYY-MM-DD"), ("to=2026-02-30", "YYYY-MM-DD"),
    ("from=2026-05-01&to=2026-04-01", "after the end"), ("from=2001-01-01&to=2026-01-01", "five years"),
    ("from=%00", "YYYY-MM-DD"), ("from=" + "9" * 300, "YYYY-MM-DD"),
])
def test_bad_dates_show_the_default_period_with_a_message(shop, auth, client, query, message):
    auth.login("owner@example.test")
    response = client.get("/developer?" + query)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert message in html
    default = dashboard.default_period(TODAY)
    assert f'value="{default.first.isoformat()}"' in html
    assert client.get("/developer/export/ledger.csv?" + query).status_code == 400


def test_a_period_narrows_the_money_and_htmx_gets_the_fragment(shop, auth, client):
    auth.login("owner@example.test")
    day = (utcnow() - datetime.timedelta(days=30)).date()
    response = client.get(f"/developer?from={day}&to={day}", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert "<html" not in html and 'id="figures"' in html
    assert page_figures(html)["gross_ore"] == 24875


def test_one_app_is_shown_alone_and_another_developers_slug_is_not_found(shop, auth, client):
    auth.login("owner@example.test")
    html = client.get("/developer?app=free-app").get_data(as_text=True)
    assert page_figures(html)["gross_ore"] == 0 and 'id="eligibility-heading"' in html
    for url in ("/developer?app=rival-app", "/developer/export/ledger.csv?app=rival-app",
                "/developer/export/customers.csv?app=rival-app", "/developer?app=no-such-app",
                "/developer?app=%00"):
        assert client.get(url).status_code == 404, url


def test_history_counts_new_reactivated_churned_and_changed_mrr(app):
    owner = factories.developer_user()
    listing = factories.app_listing(developer_obj=owner.developer, price_ore=10000)
    first, second = factories.company(), factories.company()
    months = dashboard.default_period(TODAY).months()
    in_month = [datetime.datetime.combine(m, datetime.time()) + datetime.timedelta(days=2) for m in months]
    factories.subscription(first, listing, status="canceled", created_at=in_month[1], ended_at=in_month[3])
    factories.subscription(first, listing, created_at=in_month[5])  # back again: reactivation
    grows = factories.subscription(second, listing, created_at=in_month[2], price_ore=10000)
    subscription_history.record_imported()
    factories.subscription_price_change(grows, 20000, in_month[3])  # upgraded
    factories.subscription_price_change(grows, 15000, in_month[4])  # downgraded
    history = dashboard.history(owner.developer_id, dashboard.default_period(TODAY), utcnow())
    movement = history["movement"]
    assert movement[1]["new"] == 10000 and movement[2]["new"] == 10000
    assert movement[3]["churn"] == -10000 and movement[3]["expansion"] == 10000
    assert movement[4]["contraction"] == -5000 and movement[4]["expansion"] == 0
    assert movement[5]["reactivation"] == 10000 and movement[5]["new"] == 0
    assert history["mrr"][:6] == [0, 10000, 20000, 20000, 15000, 25000] and history["mrr"][-1] == 25000


def test_kronor_and_csv_guard():
    assert money.format_plain(-1250) == "-12.50" and money.format_plain(5) == "0.05"
    for text in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx"):
        assert dashboard.csv_safe(text).startswith("'")
    assert dashboard.csv_safe("Bygg AB") == "Bygg AB"


def test_a_trial_converts_when_it_is_paid_or_became_active(app):
    owner = factories.developer_user()
    listing = factories.app_listing(developer_obj=owner.developer, price_ore=10000)
    ended = utcnow() - datetime.timedelta(days=1)
    factories.subscription(factories.company(), listing, status="active", trial_end=ended, created_at=ago(15))
    paid = factories.subscription(factories.company(), listing, status="canceled", trial_end=ended,
                                  created_at=ago(15), ended_at=utcnow())
    factories.ledger_entry(listing, subscription_obj=paid, gross_ore=12500, moms_ore=2500)
    factories.subscription(factories.company(), listing, status="canceled", trial_end=ended, created_at=ago(15),
                           ended_at=ended)
    factories.subscription(factories.company(), listing, status="trialing", trial_end=utcnow() + datetime.timedelta(days=3),
                           created_at=ago(11))
    total = dashboard.developer_figures(owner.developer_id, dashboard.default_period(TODAY))["total"]
    assert (total["trial_starts"], total["trial_conversions"], total["trial_conversion"]) == (4, 2, "50.0 %")


def test_ledger_csv_names_each_rows_customer(shop, auth, client):
    """Issue O 11: the customer column was empty."""
    from models import Company, LedgerEntry

    auth.login("owner@example.test")
    response = client.get(f"/developer/export/ledger.csv?from={dashboard.default_period(TODAY).first}&to={TODAY}")
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    body = [row for row in rows if row["date"] != "total"]
    assert body
    for row in body:
        entry = LedgerEntry.get(LedgerEntry.stripe_ref == row["stripe_ref"])
        expected = Company.get_by_id(entry.company_id).name if entry.company_id else ""
        assert expected and row["customer"] == expected, row
