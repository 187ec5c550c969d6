"""Migrations are the only way tables are made outside tests; tests make them from the models.
This checks both give the same schema, on both engines, so neither can drift."""
import os
import uuid

import psycopg
import pytest
from peewee_migrate import Router

from market.catalog import store
from market.data import database
from models import MODELS, MarketSetting, db
from tests.conftest import ADMIN_URL, _unavailable


def _use(engine_db):
    """Point the models at `engine_db`, closing the pool they used before (an open PostgreSQL
    connection dropped without closing is a ResourceWarning, an error in this suite)."""
    if getattr(db, "obj", None) is not None:
        db.close_all()
    db.initialize(engine_db)


def _schema(engine_db):
    tables = {}
    for table in engine_db.get_tables():
        if table == "migratehistory" or table.startswith("app_search_"):
            continue
        columns = {(c.name, c.null) for c in engine_db.get_columns(table)}
        indexes = {(tuple(sorted(i.columns)), i.unique) for i in engine_db.get_indexes(table)}
        tables[table] = (columns, indexes)
    return tables


@pytest.fixture
def two_databases(engine, tmp_path):
    if engine == "sqlite":
        yield f"sqlite:///{tmp_path}/migrated.db", f"sqlite:///{tmp_path}/modelled.db"
        return
    try:
        admin = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError:
        _unavailable("PostgreSQL at " + ADMIN_URL)
    names = ["market_mig_" + uuid.uuid4().hex[:10] for _ in range(2)]
    for name in names:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = ADMIN_URL.rsplit("/", 1)[0]
    yield tuple(f"{base}/{name}" for name in names)
    for name in names:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def test_migrations_make_the_models_schema(two_databases):
    migrated_url, modelled_url = two_databases
    migrated = database.open_database(migrated_url)
    _use(migrated)
    with db.connection_context():
        assert database.migrate(db) == sorted(  # every migration, in order
            name[:-3] for name in os.listdir(database.MIGRATIONS_DIR) if name[:3].isdigit() and name.endswith(".py"))
        assert database.migrate(db) == []  # a second run has nothing to do
        installation = MarketSetting.get_by_id("installation_id").value
        assert installation.startswith("inst_") and len(installation) > 10
        migrated_schema = _schema(migrated)
    migrated.close_all()

    modelled = database.open_database(modelled_url)
    _use(modelled)
    with db.connection_context():
        database.create_tables_for_tests(db)
        modelled_schema = _schema(modelled)
    modelled.close_all()

    assert set(migrated_schema) == set(modelled_schema)
    assert {m._meta.table_name for m in MODELS} <= set(migrated_schema)
    for table, shape in modelled_schema.items():
        assert migrated_schema[table] == shape, table


def test_each_database_gets_its_own_installation_id(two_databases):
    ids = []
    for url in two_databases:
        engine_db = database.open_database(url)
        _use(engine_db)
        with db.connection_context():
            database.migrate(db)
            ids.append(MarketSetting.get_by_id("installation_id").value)
        engine_db.close_all()
    assert ids[0] != ids[1]


def test_migration_011_reindexes_the_apps_already_there(two_databases):
    """Issue P 9: an existing database's index is rebuilt with folded words and inner parts, so
    "stampla" and "faktura" find the apps that were listed before the upgrade."""
    url = two_databases[0]
    engine_db = database.open_database(url)
    _use(engine_db)
    with db.connection_context():
        Router(db, migrate_dir=database.MIGRATIONS_DIR).run("010_money_states")
        mark = "%s" if database.is_postgres(db) else "?"
        db.execute_sql("INSERT INTO developer (name, payouts_enabled, stripe_details_submitted, created_at) "
                       f"VALUES ({mark}, {mark}, {mark}, {mark})", ["Vendor AB", False, False, "2026-01-01 00:00:00"])
        developer_id = db.execute_sql("SELECT id FROM developer").fetchone()[0]
        for slug, name in (("stampla", "Stämpla"), ("konsultfaktura", "Konsultfaktura")):
            db.execute_sql(
                "INSERT INTO app (developer_id, slug, name, tagline, description, description_html, is_free, "
                "min_price_ore, status, rejection_reason, featured, created_at, updated_at) VALUES "
                f"({', '.join([mark] * 13)})",
                [developer_id, slug, name, "", "", "", True, 0, "published", "", False, "2026-01-01 00:00:00",
                 "2026-01-01 00:00:00"])
        assert database.migrate(db)[:1] == ["011_rich_listing"]  # and any later ones (014 mail_once)
        slugs = dict(db.execute_sql("SELECT id, slug FROM app").fetchall())
        assert [slugs[i] for i in store.search_app_ids("stampla")] == ["stampla"]
        assert [slugs[i] for i in store.search_app_ids("faktura")] == ["konsultfaktura"]
    engine_db.close_all()


def test_migration_017_gives_every_user_with_a_company_its_membership(two_databases):
    """Issue T (bureaus): the users already there belong to their company, with their role."""
    url = two_databases[0]
    engine_db = database.open_database(url)
    _use(engine_db)
    with db.connection_context():
        Router(db, migrate_dir=database.MIGRATIONS_DIR).run("016_money_back")
        mark = "%s" if database.is_postgres(db) else "?"
        for n in (1, 2):
            db.execute_sql("INSERT INTO company (public_id, name, org_number, industry, size, show_name_in_reviews, "
                           f"share_org_number, imported, created_at) VALUES ({', '.join([mark] * 9)})",
                           [f"pub{n}", f"Company {n}", f"55610000{n}-0", "other", "1-9", False, False, False,
                            "2026-01-01 00:00:00"])
        ids = dict(db.execute_sql("SELECT public_id, id FROM company").fetchall())
        for email, company, role in (("a@x.test", ids["pub1"], "admin"), ("m@x.test", ids["pub1"], "member"),
                                     ("b@x.test", ids["pub2"], "admin"), ("dev@x.test", None, None)):
            db.execute_sql('INSERT INTO "user" (email, password_hash, name, company_id, company_role, '
                           f"is_platform_admin, created_at) VALUES ({', '.join([mark] * 7)})",
                           [email, "x", "", company, role, False, "2026-01-01 00:00:00"])
        assert database.migrate(db)[:1] == ["017_membership"]  # and any later ones
        rows = db.execute_sql('SELECT u.email, m.company_id, m.role FROM membership m JOIN "user" u '
                              "ON u.id = m.user_id ORDER BY u.email").fetchall()
        assert [tuple(r) for r in rows] == [("a@x.test", ids["pub1"], "admin"), ("b@x.test", ids["pub2"], "admin"),
                                            ("m@x.test", ids["pub1"], "member")]
    engine_db.close_all()
