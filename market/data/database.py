"""Opening the database, and the migrations that are the only way tables are made.

`create_app` picks peewee's pooled class for the URL (DESIGN.md §4): a connection is taken at
the start of a request and given back at teardown, because opening one per request costs more
than rendering the page.
"""
import os
from urllib.parse import urlparse

from peewee_migrate import Router
from playhouse.db_url import parse
from playhouse.pool import PooledPostgresqlDatabase, PooledSqliteDatabase

from models import MODELS

MIGRATIONS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "migrations")


class MarketSqliteDatabase(PooledSqliteDatabase):
    """SQLite whose every transaction begins `BEGIN IMMEDIATE` (peewee's `lock_type`, set in
    open_database): concurrent writers then wait on busy_timeout instead of failing at once
    with "database is locked" when a transaction that read first tries to write. It is set on
    `begin` itself, so `db.atomic()` through the proxy gets it too."""


class MarketPostgresqlDatabase(PooledPostgresqlDatabase):
    pass


def open_database(url):
    """A pooled peewee database for `url` (sqlite:///path or postgresql://...)."""
    scheme = urlparse(url).scheme.split("+")[0]
    if scheme == "sqlite":
        # sqlite:///relative.db or sqlite:////absolute/path.db
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if path in ("", ":memory:"):
            # A pool of :memory: connections would be many unrelated empty databases.
            raise RuntimeError("DATABASE_URL must name an SQLite file, not :memory:")
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        return MarketSqliteDatabase(
            path,
            pragmas={
                "journal_mode": "wal",
                "busy_timeout": 10000,
                "foreign_keys": 1,
                "synchronous": "normal",
                # 8 MB per connection (up to 4 per worker, one per thread): worker memory under 150 MB.
                "cache_size": -8000,
            },
            check_same_thread=False,
            lock_type="IMMEDIATE",
            max_connections=32,
            stale_timeout=300,
            timeout=10,
        )
    if scheme in ("postgres", "postgresql"):
        params = parse(url.replace("+pool", ""))
        database = params.pop("database")
        return MarketPostgresqlDatabase(database, max_connections=32, stale_timeout=300, timeout=10,
                                        **params)
    raise RuntimeError(f"unsupported DATABASE_URL scheme {scheme!r}")


def is_postgres(database):
    engine = getattr(database, "obj", database)  # a DatabaseProxy or the database itself
    return isinstance(engine, PooledPostgresqlDatabase)


# The search index lives beside `app` and is kept by store.index_app; its shape differs by
# engine (FTS5 virtual table / tsvector with a GIN index) behind one search function.
SEARCH_DDL_SQLITE = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS app_search USING fts5("
    "name, tagline, description, category, parts, tokenize = 'unicode61 remove_diacritics 0')",
]
SEARCH_DDL_POSTGRES = [
    "CREATE TABLE IF NOT EXISTS app_search (app_id INTEGER PRIMARY KEY REFERENCES app(id) "
    "ON DELETE CASCADE, document tsvector NOT NULL)",
    "CREATE INDEX IF NOT EXISTS app_search_document ON app_search USING GIN (document)",
]


def create_search_index(database):
    for statement in SEARCH_DDL_POSTGRES if is_postgres(database) else SEARCH_DDL_SQLITE:
        database.execute_sql(statement)


def migrate(database):
    """Run the migrations not yet applied; returns their names."""
    router = Router(database, migrate_dir=MIGRATIONS_DIR)
    return router.run()


def create_tables_for_tests(database):
    """Tests may make tables directly (DESIGN.md §4); tests/data/test_migrations.py checks that the
    migrations produce the same schema."""
    database.create_tables(MODELS)
    create_search_index(database)
