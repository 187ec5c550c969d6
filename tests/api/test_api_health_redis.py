"""API health with several app servers (issue U item 3): with RATELIMIT_STORAGE_URI a redis://
URI the workers add their counts to Redis (at most every 10 s and when they stop), and the flush
moves what Redis holds, every worker's, into the same database rows the dashboard reads. A real
Redis (127.0.0.1:6379, there under CI); each test has its own key prefix and removes its keys."""
import uuid

import pytest
import redis

from market.api import health
from models import ApiHealthDay, ApiHealthLatency, ApiHealthThrottle, Company, Connection
from tests.api.test_api_health import DAY, burst_world, call, health_row  # noqa: F401 (a fixture)

REDIS_URL = "redis://127.0.0.1:6379/13"
PREFIX = f"test:api-health:{uuid.uuid4().hex}:"


@pytest.fixture
def app_config():
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.exceptions.ConnectionError:
        pytest.fail("Redis at 127.0.0.1:6379 is needed for the shared API health counts")
    return {"RATELIMIT_STORAGE_URI": REDIS_URL, "API_HEALTH_REDIS_PREFIX": PREFIX}


@pytest.fixture
def store(app, burst_world):  # noqa: F811
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(PREFIX + "*"):
        client.delete(key)
    for other in list(health._LIVE):  # earlier tests' apps would add their counts here too
        if other is not app.extensions["api_health"]:
            with other.lock:
                other._reset()
    yield client
    for key in client.scan_iter(PREFIX + "*"):
        client.delete(key)
    with app.app_context():  # the rate limit's counters of this test's companies
        for connection in Connection.select():
            for key in client.scan_iter(f"*{connection.company.public_id}*"):
                client.delete(key)


def db_calls(listing):
    row = ApiHealthDay.get_or_none(ApiHealthDay.app == listing.id)
    return row.calls if row else 0


def test_two_workers_counts_meet_in_redis_and_the_flush_writes_them_once(app, client, auth, runner, store,
                                                                         burst_world, monkeypatch):  # noqa: F811
    monkeypatch.setattr(health, "FLUSH_SECONDS", 3600)  # only explicit flushes in this test
    world, listing = burst_world, burst_world["listing"]
    for _ in range(25):
        assert call(client, world["busy"]).status_code == 200
    for _ in range(2):  # the 26th and 27th in 5 s
        assert call(client, world["busy"]).status_code == 429
    for _ in range(3):
        assert call(client, world["calm"], "/api/v1/customers/999999").status_code == 404
    assert call(client, world["expired"]).status_code == 401

    # Worker one hands its counts to Redis: nothing in the database yet, all of it in Redis.
    mine = app.extensions["api_health"]
    assert mine.flush(app.config) == 31
    assert db_calls(listing) == 0
    key = f"{PREFIX}day:{listing.id}:{DAY.date().isoformat()}"
    held = {k.decode(): int(v) for k, v in store.hgetall(key).items()}
    assert held["calls"] == 31 and held["client_errors"] == 6 and held["throttled"] == 2
    assert held["token_errors"] == 1 and f"thr:{Company.get(Company.name == 'Busy AB').id}" in held
    assert 0 < store.ttl(key) <= health.REDIS_TTL_SECONDS

    # Worker two (another server) counted 4 calls, one a 500, and one failed refresh.
    other = health.Counters()
    for status in (200, 200, 200, 500):
        other.call(listing.id, status, 12.0, now=DAY)
    other.refresh_failed(listing.id, now=DAY)
    assert health.flush(app.config, other) == 35  # its counts to Redis, then all of Redis to the rows
    assert store.exists(key) == 0
    assert db_calls(listing) == 35
    # The flush command adds nothing more: what Redis held is written once.
    result = runner.invoke(args=["api-health-flush"])
    assert result.exit_code == 0 and "0 call(s)" in result.output, result.output
    assert db_calls(listing) == 35

    auth.login("owner@example.test")
    row, section = health_row(client, "ledger-app", "2026-12-03")
    row.pop("p95-ms")
    assert row == {"calls": "35", "4xx": "6", "5xx": "1", "429": "2", "refresh-failed": "1", "token-errors": "1"}
    assert 'data-company="Busy AB" data-429="2"' in section
    assert sum(r.calls for r in ApiHealthLatency.select().where(ApiHealthLatency.app == listing.id)) == 35
    assert ApiHealthThrottle.get(ApiHealthThrottle.app == listing.id).throttled == 2


def test_a_worker_hands_on_every_ten_seconds_at_most_and_when_it_stops(app, client, store, burst_world):  # noqa: F811
    listing = burst_world["listing"]
    counters = app.extensions["api_health"]
    counters.last_flush = 0.0  # long ago: the next call flushes, through Redis to the rows
    assert call(client, burst_world["busy"]).status_code == 200
    assert db_calls(listing) == 1
    assert call(client, burst_world["busy"]).status_code == 200  # within 10 s: kept in memory
    assert db_calls(listing) == 1 and not list(store.scan_iter(PREFIX + "day:*"))
    health.flush_all()  # the worker stops
    assert db_calls(listing) == 2 and not list(store.scan_iter(PREFIX + "day:*"))


def test_counts_the_database_refuses_go_back_to_redis(app, client, runner, store, burst_world,  # noqa: F811
                                                      monkeypatch):
    monkeypatch.setattr(health, "FLUSH_SECONDS", 3600)
    listing = burst_world["listing"]
    for _ in range(3):
        assert call(client, burst_world["busy"]).status_code == 200

    def refuse(*args):
        raise RuntimeError("database away")

    with monkeypatch.context() as broken:
        broken.setattr(health, "_write", refuse)
        with pytest.raises(RuntimeError):
            health.flush(app.config, app.extensions["api_health"])
    assert db_calls(listing) == 0
    key = f"{PREFIX}day:{listing.id}:{DAY.date().isoformat()}"
    assert int(store.hget(key, "calls")) == 3  # back in Redis, not lost
    result = runner.invoke(args=["api-health-flush"])
    assert result.exit_code == 0 and "3 call(s)" in result.output, result.output
    assert db_calls(listing) == 3


def test_without_redis_nothing_goes_to_redis():
    assert health.redis_of({"RATELIMIT_STORAGE_URI": "memory://"}) is None
    assert health.redis_of({}) is None
    assert health.redis_of({"RATELIMIT_STORAGE_URI": REDIS_URL}) is not None
