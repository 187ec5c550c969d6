"""Connection handling of DESIGN.md §4: pooled, and SQLite writers wait instead of failing."""
import threading

import pytest

from models import MarketSetting, db


@pytest.mark.parametrize("engine", ["sqlite"])  # SQLite's locking only
def test_atomic_through_the_proxy_begins_immediate(app):
    statements = []
    with db.connection_context():
        db.connection().set_trace_callback(statements.append)
        with db.atomic():
            MarketSetting.get_by_id("store_generation")
        db.connection().set_trace_callback(None)
    assert statements[0] == "BEGIN IMMEDIATE"


def test_concurrent_read_then_write_transactions_all_succeed(app):
    """Each thread reads the counter, then writes it back plus one, in one transaction. With a
    deferred BEGIN on SQLite, some would fail with "database is locked"; with the write lock
    taken at BEGIN (or row locks on PostgreSQL) they wait, and no increment is lost."""
    errors = []

    def bump():
        try:
            with db.connection_context():
                for _ in range(5):
                    with db.atomic():
                        query = MarketSetting.select().where(MarketSetting.name == "store_generation")
                        if db.obj.__class__.__name__.startswith("MarketPostgres"):
                            query = query.for_update()
                        row = query.get()
                        MarketSetting.update(value=str(int(row.value) + 1)).where(
                            MarketSetting.name == "store_generation").execute()
        except Exception as error:  # collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=bump) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with db.connection_context():
        assert MarketSetting.get_by_id("store_generation").value == str(1 + 6 * 5)


def test_a_request_gives_its_connection_back(app, client):
    pool = db.obj
    client.get("/healthz")
    # The test thread's own connection may be open; the request's was returned to the pool.
    assert len(pool._in_use) <= 1
