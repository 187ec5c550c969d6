"""The visitor cache's WSGI layer in front of Flask (issue R, views/visitor_cache.py)."""
import gzip
import time

import pytest

from market.catalog import store
from models import App, db
from tests import factories
from views import visitor_cache


@pytest.fixture
def app_config():
    return {"STORE_GENERATION_TTL": 0.25, "PAGE_CACHE_MB": 1}


@pytest.fixture
def listing(app):
    with app.app_context(), db.connection_context():
        found = factories.app_listing(name="Lönekollen", slug="lonekollen")
        store.bump_store_generation()
    return found


def layer(app):
    return app.extensions["visitor_cache"]


def flask_answer(app, client, url, **headers):
    """The same request answered by Flask itself, past the layer."""
    inner = layer(app).wsgi_app
    original, app.wsgi_app = app.wsgi_app, inner
    try:
        return client.get(url, headers=headers)
    finally:
        app.wsgi_app = original


def without_date(headers):
    return sorted((k, v) for k, v in headers.items() if k != "Date")


def test_a_hit_carries_flasks_headers_and_body(app, client, listing):
    first = client.get("/apps/lonekollen")
    hit = client.get("/apps/lonekollen")
    assert first.status_code == hit.status_code == 200
    assert len(layer(app).cache) >= 1
    direct = flask_answer(app, client, "/apps/lonekollen")
    assert hit.get_data() == direct.get_data() == first.get_data()
    expected = dict(direct.headers)
    expected["Vary"] += ", Accept-Encoding"  # the layer may answer gzip for the same URL
    assert without_date(hit.headers) == sorted(expected.items())
    for name in ("Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy", "ETag"):
        assert hit.headers[name]
    assert "Set-Cookie" not in hit.headers
    assert {"Accept-Language", "Cookie", "HX-Request"} <= {v.strip() for v in hit.headers["Vary"].split(",")}


def test_hsts_in_production_is_kept_on_a_hit(app, client, listing, monkeypatch):
    monkeypatch.setitem(app.config, "MARKET_ENV", "production")
    client.get("/apps/lonekollen")
    hit = client.get("/apps/lonekollen")
    assert hit.headers["Strict-Transport-Security"].startswith("max-age=")


def test_if_none_match_is_answered_304_and_gzip_decompresses_to_the_same_bytes(app, client, listing):
    plain = client.get("/")
    etag = plain.headers["ETag"]
    assert client.get("/", headers={"If-None-Match": etag}).status_code == 304
    assert client.get("/", headers={"If-None-Match": '"other"'}).status_code == 200
    packed = client.get("/", headers={"Accept-Encoding": "gzip, deflate"})
    assert packed.headers["Content-Encoding"] == "gzip"
    assert int(packed.headers["Content-Length"]) == len(packed.get_data())
    assert gzip.decompress(packed.get_data()) == plain.get_data()
    refused = client.get("/", headers={"Accept-Encoding": "gzip;q=0"})
    assert "Content-Encoding" not in refused.headers and refused.get_data() == plain.get_data()


def test_the_language_keys_the_page_as_flask_chooses_it(app, client, listing):
    english = client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    swedish = client.get("/", headers={"Accept-Language": "sv"}).get_data(as_text=True)
    assert '<html lang="en">' in english and '<html lang="sv">' in swedish
    client.set_cookie("lang", "sv")
    assert '<html lang="sv">' in client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)


def test_a_session_cookie_is_never_a_visitor(app, client, listing, auth):
    with app.app_context(), db.connection_context():
        factories.customer_admin(email="customer@demo.test")
    client.get("/apps/lonekollen")
    auth.login()
    page = client.get("/apps/lonekollen")
    assert "Log out" in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "private"
    client.set_cookie("market_session", "anything")  # even a broken one is not served from the layer
    assert client.get("/apps/lonekollen").headers["Cache-Control"] == "private"


def test_a_store_change_on_another_server_is_seen_within_a_second(app, client, listing):
    assert "Lönekollen" in client.get("/apps/lonekollen").get_data(as_text=True)
    # Another server's change: straight to the database, nothing in this process hears of it.
    with app.app_context(), db.connection_context():
        App.update(name="Lönekollen Plus").where(App.id == listing.id).execute()
        store.bump_store_generation()
    time.sleep(1.0)
    assert "Lönekollen Plus" in client.get("/apps/lonekollen").get_data(as_text=True)


def test_the_generation_is_read_at_most_every_250_ms(app, client, listing, monkeypatch):
    reads = []
    real = store.store_generation
    monkeypatch.setattr(store, "store_generation", lambda: reads.append(1) or real())
    layer(app).forget_generation()
    started = time.monotonic()
    for _ in range(20):
        client.get("/")
    elapsed = time.monotonic() - started
    assert 1 <= len(reads) <= 1 + int(elapsed / 0.25)  # a loaded machine may take over 250 ms
    assert len(reads) < 20


def test_the_cache_stays_within_its_bound_in_bytes(app, client, listing):
    cache = layer(app).cache
    assert cache.max_bytes == 1024 * 1024
    for n in range(400):
        assert client.get(f"/apps?q=nothing-{n}-" + "x" * 300).status_code == 200
        client.get(f"/apps?q=nothing-{n}-" + "x" * 300, headers={"Accept-Encoding": "gzip"})
        assert cache.bytes <= cache.max_bytes
    assert cache.bytes == sum(entry.size for entry in cache._entries.values())
    assert 0 < len(cache) < 400  # the oldest went out


def test_an_unbounded_page_is_not_kept_and_posts_pass_through(app, client, listing):
    cache = visitor_cache.ByteBoundedCache(1000)
    cache.put("big", visitor_cache.Entry("big", "200 OK", [], b"x" * 400))
    assert len(cache) == 0
    assert client.post("/apps/lonekollen").status_code in (400, 403, 405)
