"""The spend view at the top of My apps (issue T, deliverable 2): what the company pays this
month and over the next 30 days, excluding and including moms, per app and in total, from its
subscriptions' agreed prices and period ends; unused apps flagged with a Cancel that opens the
usual confirmation with the reason filled in; the same figures as a CSV."""
import csv
import datetime
import io
import re

import time_machine

from market.core import money
from models import PendingPlanChange, Plan
from tests import factories

NOW = datetime.datetime(2026, 12, 10, 12, 0)
DAY = datetime.timedelta(days=1)


def spend_rows(page):
    section = page.split('id="spend"', 1)[1].split("</section>", 1)[0]
    rows = {}
    for attrs, body in re.findall(r"<tr data-spend ([^>]*)>(.*?)</tr>", section, re.S):
        slug = re.search(r'data-app="([^"]+)"', attrs).group(1)
        rows[slug] = {"unused": "data-unused" in attrs, "ore": [int(v) for v in re.findall(r'data-ore="(-?\d+)"', body)],
                      "body": body}
    total = re.search(r"<tr data-total>(.*?)</tr>", section, re.S).group(1)
    return rows, [int(v) for v in re.findall(r'data-ore="(-?\d+)"', total)]


def make_company():
    admin = factories.customer_admin(email="spender@example.test")
    company = admin.company
    made = {}

    def sub(slug, price, **fields):
        listing = factories.app_listing(price_ore=price, slug=slug, name=slug.title())
        made[slug] = (listing, factories.subscription(company, listing, plan=Plan.get(Plan.app == listing),
                                                      created_at=NOW - 60 * DAY, **fields))
        return listing

    # Started yesterday: charged this month; it renews just after the 30 days.
    a = sub("alpha", 19900, current_period_start=NOW - DAY, current_period_end=NOW + 30 * DAY + datetime.timedelta(hours=1))
    factories.connection(company, a, last_used_at=NOW - 40 * DAY, created_at=NOW - 60 * DAY)  # unused
    # An odd price (moms rounded half up per charge): renews on the 20th.
    b = sub("bravo", 14950, current_period_start=NOW - 20 * DAY, current_period_end=NOW + 10 * DAY)
    factories.connection(company, b, last_used_at=NOW - 2 * DAY)
    # Set to cancel: nothing more to pay; never connected for 60 days, but no Cancel to offer.
    sub("charlie", 9900, current_period_start=NOW - 15 * DAY, current_period_end=NOW + 15 * DAY,
        cancel_at_period_end=True)
    # A trial ending on the 15th: its first charge.
    d = sub("delta", 29900, status="trialing", trial_end=NOW + 5 * DAY, current_period_end=NOW + 5 * DAY)
    factories.connection(company, d, last_used_at=NOW - DAY)
    # A downgrade waiting for the renewal on the 28th: that renewal is at the agreed lower price.
    e = sub("echo", 19900, current_period_start=NOW - 12 * DAY, current_period_end=NOW + 18 * DAY)
    factories.connection(company, e, last_used_at=NOW - DAY)
    PendingPlanChange.create(subscription=made["echo"][1], plan=Plan.get(Plan.app == e), price_ore=9900,
                             stripe_price_id="price_lower", effective_at=NOW + 18 * DAY)
    # Another company's subscription is none of this company's spend.
    other = factories.customer_admin(email="other@example.test")
    factories.subscription(other.company, a, current_period_start=NOW - DAY, current_period_end=NOW + 29 * DAY)
    return admin, made


def test_spend_totals_equal_the_sum_of_the_companys_subscriptions_to_the_ore(client, auth):
    with time_machine.travel(NOW.replace(tzinfo=datetime.UTC), tick=False):
        admin, made = make_company()
        auth.login(admin.email)
        page = client.get("/account/apps").get_data(as_text=True)
        assert page.index('id="spend"') < page.index('id="my-apps"')  # at the top
        rows, total = spend_rows(page)
        vat = 25
        # (this month excl., this month incl., next 30 days excl., next 30 days incl.) per app.
        expected = {
            "alpha": (19900, money.with_moms(19900, vat), 0, 0),
            "bravo": (14950, 18688, 14950, 18688),
            "charlie": (0, 0, 0, 0),
            "delta": (29900, 37375, 29900, 37375),
            "echo": (9900, 12375, 9900, 12375),
        }
        assert {slug: tuple(r["ore"]) for slug, r in rows.items()} == expected
        assert total == [sum(v[i] for v in expected.values()) for i in range(4)] == [74650, 93313, 54750, 68438]
        assert {slug for slug, r in rows.items() if r["unused"]} == {"alpha", "charlie"}
        # The unused app's Cancel opens the usual confirmation, with the reason.
        link = 'href="/account/apps/alpha/cancel?reason=Not%20used%20for%2030%20days"'
        assert link in rows["alpha"]["body"] and "cancel?reason" not in rows["charlie"]["body"]
        question = client.get("/account/apps/alpha/cancel?reason=Not%20used%20for%2030%20days")
        assert question.status_code == 200
        text = question.get_data(as_text=True)
        assert "Reason: Not used for 30 days" in text and 'action="/account/apps/alpha/cancel"' in text

        # The CSV says the same, in öre, `;`-separated, UTF-8.
        response = client.get("/account/apps/spend.csv")
        assert response.status_code == 200 and response.headers["Content-Type"] == "text/csv; charset=utf-8"
        table = list(csv.reader(io.StringIO(response.get_data().decode("utf-8")), delimiter=";"))
        header, body, last = table[0], table[1:-1], table[-1]
        assert header[4:8] == ["this_month_ore_excl_moms", "this_month_ore_incl_moms",
                               "next_30_days_ore_excl_moms", "next_30_days_ore_incl_moms"]
        assert {r[0]: tuple(int(v) for v in r[4:8]) for r in body} == {
            made[slug][0].name: v for slug, v in expected.items()}
        assert last[0] == "Total" and [int(v) for v in last[4:8]] == total
        assert {r[0]: r[8] for r in body}["Alpha"] == "yes"


def test_spend_csv_needs_a_login_and_members_see_no_cancel(client, auth):
    with time_machine.travel(NOW.replace(tzinfo=datetime.UTC), tick=False):
        admin, made = make_company()
        assert client.get("/account/apps/spend.csv").status_code == 303
        member = factories.user(email="m@example.test", company=admin.company_id, company_role="member")
        auth.login(member.email)
        rows, _ = spend_rows(client.get("/account/apps").get_data(as_text=True))
        assert rows["alpha"]["unused"] and "cancel?reason" not in rows["alpha"]["body"]
        assert client.get("/account/apps/spend.csv").status_code == 200
