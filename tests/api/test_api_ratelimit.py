"""25 requests per 5 s per client and company, then 429 with Retry-After (QUALITY.md 13), on
both storages: this process's memory and Redis (what several app servers share)."""
import pytest
import redis

from tests import factories

REDIS_URL = "redis://127.0.0.1:6379/13"


@pytest.fixture(params=["memory", "redis"])
def app_config(request):
    if request.param == "redis":
        try:
            redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
        except redis.exceptions.ConnectionError:
            pytest.fail("Redis at 127.0.0.1:6379 is needed for the shared rate-limit test")
        return {"RATELIMIT_STORAGE_URI": REDIS_URL}
    return {}


@pytest.fixture
def grants(app):
    with app.app_context():
        first_app = factories.app_listing()
        second_app = factories.app_listing()
        a, b = factories.company(), factories.company()
        made = {
            "a": factories.issue_token(factories.api_connection(a, first_app)),
            "b": factories.issue_token(factories.api_connection(b, first_app)),
            "a_other_app": factories.issue_token(factories.api_connection(a, second_app)),
        }
        conn = factories.api_connection(factories.company(), factories.app_listing())
        made["c1"], made["c2"] = factories.issue_token(conn), factories.issue_token(conn)
        ids = [a.public_id, b.public_id, conn.company.public_id]
    yield made
    if app.config.get("RATELIMIT_STORAGE_URI", "").startswith("redis"):
        # Only this test's keys: other runs may share the Redis database.
        store = redis.Redis.from_url(REDIS_URL)
        for public_id in ids:
            for key in store.scan_iter(f"*{public_id}*"):
                store.delete(key)


def call(client, token, url="/api/v1/me"):
    return client.get(url, headers={"Authorization": f"Bearer {token}"})


def test_the_26th_request_in_5_seconds_is_429_with_retry_after(app, client, grants):
    from views.api import limiter

    shared = app.config.get("RATELIMIT_STORAGE_URI", "").startswith("redis")
    assert ("Redis" in type(limiter.storage).__name__) == shared
    urls = ["/api/v1/me", "/api/v1/customers", "/api/v1/subscription", "/api/v1/invoices"]
    for i in range(25):
        assert call(client, grants["a"], urls[i % len(urls)]).status_code == 200, i
    limited = call(client, grants["a"], "/api/v1/companyinformation")
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 5
    assert limited.get_json()["ErrorInformation"]["code"] == 2000429
    # Another company of the same client, and the same company with another app, are counted apart.
    assert call(client, grants["b"]).status_code == 200
    assert call(client, grants["a_other_app"]).status_code == 200


def test_tokens_of_one_grant_share_the_budget(client, grants):
    for _ in range(13):
        assert call(client, grants["c1"]).status_code == 200
        assert call(client, grants["c2"]).status_code in (200, 429)
    assert call(client, grants["c1"]).status_code == 429


def test_the_window_moves_on(client, grants, time_machine):
    time_machine.move_to("2026-03-01 12:00:00", tick=False)
    for _ in range(25):
        assert call(client, grants["a"]).status_code == 200
    assert call(client, grants["a"]).status_code == 429
    time_machine.move_to("2026-03-01 12:00:06", tick=False)
    assert call(client, grants["a"]).status_code == 200
