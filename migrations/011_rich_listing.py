"""Peewee migrations -- 011_rich_listing.py: rich listings (issue P 5: support, website, privacy
policy, screenshots, a description per plan) and search inside words after folding diacritics
(issue P 9: the index keeps every word's inner parts; on SQLite a new FTS5 column `parts`).

The index is rebuilt from the apps' rows here, with the words folded the way queries now are."""

import peewee as pw
from peewee_migrate import Migrator

from market.catalog import store
from market.data import search


def _rebuild_search_index(database):
    rows = database.execute_sql(
        "SELECT app.id, app.name, app.tagline, app.description, category.name FROM app "
        "LEFT OUTER JOIN category ON category.id = app.category_id").fetchall()
    search.clear()
    search.write(store.document(*row) for row in rows)


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.add_fields('app', support=pw.CharField(max_length=500, default=""),
                        website_url=pw.CharField(max_length=500, null=True),
                        privacy_url=pw.CharField(max_length=500, null=True),
                        screenshots=pw.TextField(default=""))
    migrator.add_fields('plan', description=pw.TextField(default=""))
    engine = database.obj if isinstance(database, pw.DatabaseProxy) else database
    if not isinstance(engine, pw.PostgresqlDatabase):
        migrator.sql("DROP TABLE IF EXISTS app_search")
        migrator.sql("CREATE VIRTUAL TABLE app_search USING fts5(name, tagline, description, category, parts, "
                     "tokenize = 'unicode61 remove_diacritics 0')")
    migrator.run(_rebuild_search_index, database)


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_fields('plan', 'description')
    migrator.remove_fields('app', 'support', 'website_url', 'privacy_url', 'screenshots')
