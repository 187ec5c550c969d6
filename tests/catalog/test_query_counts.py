"""The store's pages make the same number of SQL queries whatever the data size: one query per
list (App + AppStats + Category joined), never one per card."""
import logging

import pytest

from market.catalog import store
from models import App, AppStats, Category, Developer, Plan, db, utcnow
from tests import factories


@pytest.fixture
def app_config():
    return {"STORE_CACHE_SIZE": 0}  # count the queries of rendering, not of the cache


class QueryCounter(logging.Handler):
    """peewee logs every statement it sends on the `peewee` logger at DEBUG."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.statements = []

    def emit(self, record):
        if record.name == "peewee":
            self.statements.append(record.getMessage())


def count_queries(client, url, headers=None):
    logger = logging.getLogger("peewee")
    counter, level = QueryCounter(), logger.level
    logger.addHandler(counter)
    logger.setLevel(logging.DEBUG)
    try:
        response = client.get(url, headers=headers or {})
    finally:
        logger.removeHandler(counter)
        logger.setLevel(level)
    assert response.status_code == 200, url
    return len(counter.statements)


def bulk_apps(n, category, developer):
    """n more published apps with stats, plans and search rows, inserted in batches."""
    start = App.select().count()
    now = utcnow()
    rows = [{"developer": developer.id, "slug": f"bulk-{i}", "name": f"Bulk App {i}", "tagline": "Bulk tagline",
             "description": "Bulk words", "description_html": "<p>Bulk words</p>", "category": category.id,
             "status": "published", "published_at": now, "is_free": i % 2 == 0,
             "min_price_ore": 0 if i % 2 == 0 else 9900} for i in range(start, start + n)]
    with db.atomic():
        for offset in range(0, n, 500):
            App.insert_many(rows[offset:offset + 500]).execute()
        new_ids = [a.id for a in App.select(App.id).where(App.slug.startswith("bulk-"))
                   .where(App.id.not_in(AppStats.select(AppStats.app)))]
        for offset in range(0, len(new_ids), 500):
            batch = new_ids[offset:offset + 500]
            AppStats.insert_many([{"app": i, "active_customers": i % 37, "rating_sum": 4 * (i % 5),
                                   "rating_count": i % 5, "rating_centi": 400 if i % 5 else 0} for i in batch]).execute()
            Plan.insert_many([{"app": i, "name": "Standard", "price_ore": 9900} for i in batch]).execute()
    store.index_all()
    store.bump_store_generation()


PAGES = ["/", "/apps", "/apps?q=bulk", "/apps?q=app&category=bookkeeping&price=paid&rating=3&sort=rating&page=2",
         "/apps?sort=newest&page=3", "/apps?sort=price", "/apps/watched-app"]


def test_store_pages_make_a_constant_number_of_queries(client, auth):
    category = Category.get_or_none(Category.slug == "bookkeeping") or factories.category("bookkeeping")
    developer = factories.developer()
    factories.app_listing(slug="watched-app", name="Watched App", price_ore=19900, category=category,
                          developer_obj=developer)
    bulk_apps(39, category, developer)
    assert App.select().count() == 40
    small = {url: count_queries(client, url) for url in PAGES}
    small_fragment = count_queries(client, "/apps?q=bulk&page=2", {"HX-Request": "true"})

    bulk_apps(1960, category, developer)
    assert App.select().count() == 2000
    large = {url: count_queries(client, url) for url in PAGES}
    assert large == small
    assert count_queries(client, "/apps?q=bulk&page=2", {"HX-Request": "true"}) == small_fragment
    # Sanity: the counter sees the page's queries, and lists are single queries, not per card.
    assert 2 <= small["/apps"] <= 8
    assert small["/"] <= 12

    factories.customer_admin(email="anna@example.test")
    auth.login("anna@example.test")
    logged_in = {url: count_queries(client, url) for url in PAGES}
    bulk_apps(100, category, developer)
    assert {url: count_queries(client, url) for url in PAGES} == logged_in


def test_cached_visitor_pages_cost_one_query(app):
    client = app.test_client()
    app.config["STORE_CACHE_SIZE"] = 2000
    app.extensions.pop("store_page_cache", None)
    factories.app_listing(slug="watched-app")
    count_queries(client, "/apps")
    assert count_queries(client, "/apps") == 1  # the store generation
    assert Developer.select().count() == 1
