"""The dashboards make the same number of SQL queries whatever the data size (issue J, Speed):
aggregates in SQL, never a query or a Python loop per app, subscription or ledger row."""
import datetime
import logging

from market.dashboards import figures as dashboard
from models import App, AppStats, Company, Connection, LedgerEntry, Subscription, db, utcnow
from tests import factories


class QueryCounter(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.statements = []

    def emit(self, record):
        if record.name == "peewee":
            self.statements.append(record.getMessage())


def count_queries(client, url):
    logger = logging.getLogger("peewee")
    counter, level = QueryCounter(), logger.level
    logger.addHandler(counter)
    logger.setLevel(logging.DEBUG)
    try:
        response = client.get(url)
    finally:
        logger.removeHandler(counter)
        logger.setLevel(level)
    assert response.status_code == 200, url
    return len(counter.statements)


def grow(developer, apps, ledger_rows, offset):
    """`apps` more paid apps of the developer, a subscription and connection per app and
    company, and `ledger_rows` payments spread over the last year, inserted in batches."""
    now = utcnow()
    with db.atomic():
        App.insert_many([{"developer": developer.id, "slug": f"bulk-{offset + i}", "name": f"Bulk {offset + i}",
                          "status": "published", "is_free": False, "min_price_ore": 9900}
                         for i in range(apps)]).execute()
        new_apps = [a.id for a in App.select(App.id).where(App.slug.startswith("bulk-"),
                                                           App.id.not_in(AppStats.select(AppStats.app)))]
        AppStats.insert_many([{"app": a, "active_customers": 3, "paying_customers": 2, "rating_sum": 8,
                               "rating_count": 2, "stars_4": 2} for a in new_apps]).execute()
        Company.insert_many([{"name": f"Bulk Co {offset + i}", "org_number": f"bulk-{offset + i}",
                              "industry": "retail", "size": "1-9"} for i in range(20)]).execute()
        names = [f"bulk-{offset + i}" for i in range(20)]
        companies = [c.id for c in Company.select(Company.id).where(Company.org_number.in_(names))]
        subscriptions = [{"company": c, "app": a, "status": "active" if (a + c) % 4 else "past_due",
                          "price_ore": 9900, "created_at": now - datetime.timedelta(days=(a * c) % 300)}
                         for a in new_apps for c in companies[:5]]
        Subscription.insert_many(subscriptions).execute()
        Connection.insert_many([{"company": c, "app": a, "last_used_at": now} for a in new_apps
                                for c in companies[:5]]).execute()
        rows = [{"kind": "payment", "app": new_apps[i % len(new_apps)], "developer": developer.id,
                 "company": companies[i % len(companies)], "stripe_ref": f"in_bulk_{offset}_{i}",
                 "gross_ore": 12375, "moms_ore": 2475, "net_ore": 9900, "developer_share_ore": 7425,
                 "platform_fee_ore": 2475, "occurred_at": now - datetime.timedelta(hours=i % 8000)}
                for i in range(ledger_rows)]
        for start in range(0, len(rows), 1000):
            LedgerEntry.insert_many(rows[start:start + 1000]).execute()


def test_dashboards_make_a_constant_number_of_queries(app, auth, client):
    owner = factories.developer_user(email="owner@example.test")
    factories.user(email="root@example.test", is_platform_admin=True)
    grow(owner.developer, apps=5, ledger_rows=200, offset=0)
    urls = ["/developer", "/developer?app=bulk-1", "/developer/reviews"]
    auth.login("owner@example.test")
    small = [count_queries(client, url) for url in urls]
    auth.logout()
    auth.login("root@example.test")
    small_admin = count_queries(client, "/admin")
    auth.logout()

    grow(owner.developer, apps=45, ledger_rows=4800, offset=1000)
    assert LedgerEntry.select().count() == 5000 and App.select().count() == 50
    assert Subscription.select().count() == 250
    auth.login("owner@example.test")
    dashboard.forget_kept_history()  # the MRR history is kept while its rows are unchanged (issue R)
    assert [count_queries(client, url) for url in urls] == small
    auth.logout()
    auth.login("root@example.test")
    assert count_queries(client, "/admin") == small_admin
