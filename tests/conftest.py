"""Fixtures after Flask's tutorial (flaskr): `app`, `client`, `runner`, `auth`.

Every test that takes `app` runs twice: on SQLite (a fresh file per test) and on PostgreSQL (a
database of its own per test session, emptied between tests). PostgreSQL at 127.0.0.1:5432,
database `test`, unless TEST_POSTGRES_URL says otherwise. Under CI=true an unreachable
PostgreSQL fails the run instead of skipping.
"""
import os
import re
import secrets
import uuid

import psycopg
import pytest
import stripe._http_client as stripe_http
from flask.testing import FlaskClient
from itsdangerous import URLSafeTimedSerializer
from peewee import sort_models

from app import create_app
from market.data import database
from models import MODELS, db

ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI") == "true"
PASSWORD = "demo-pass-123"


def _unavailable(what):
    if IN_CI:
        pytest.fail(f"{what} is required under CI=true", pytrace=False)
    pytest.skip(f"{what} not available here")


@pytest.fixture(scope="session")
def postgres_url():
    """A database of this test session's own, so parallel runs never meet."""
    name = "market_test_" + uuid.uuid4().hex[:12]
    try:
        admin = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError:
        _unavailable("PostgreSQL at " + ADMIN_URL)
    admin.execute(f'CREATE DATABASE "{name}"')
    base = ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    if getattr(db, "obj", None) is not None:
        db.close_all()
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


_pg_tables_made = set()
_DELETE_ORDER = list(reversed(sort_models(MODELS)))


def _empty_postgres(url):
    if url not in _pg_tables_made:
        database.create_tables_for_tests(db)
        _pg_tables_made.add(url)
        return
    # DELETE, children first, is ~30x faster than TRUNCATE on these small tables (TRUNCATE
    # makes new files for every table). Ids keep counting up, which only makes a test that
    # confuses one table's id with another's fail sooner.
    with db.atomic():
        db.execute_sql("DELETE FROM app_search")
        for model in _DELETE_ORDER:
            db.execute_sql(f'DELETE FROM "{model._meta.table_name}"')


class EnglishClient(FlaskClient):
    """Every test client asks for English, the msgids' language, unless a test says otherwise
    (tests of the Swedish market drop the header: `client.environ_base.pop("HTTP_ACCEPT_LANGUAGE")`)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.environ_base.setdefault("HTTP_ACCEPT_LANGUAGE", "en")


def make_test_app(url, extra=None):
    settings = {
        "MARKET_ENV": "test",
        "DATABASE_URL": url,
        "SECRET_KEY": "test-secret-key",
        "MARKET_URL": "http://localhost",
        "STRIPE_SECRET_KEY": "sk_test_market",
        "STRIPE_WEBHOOK_SECRET": "whsec_test_market",
        "STRIPE_CONNECT_WEBHOOK_SECRET": "whsec_test_market_connect",
    }
    settings.update(extra or {})
    application = create_app(settings)
    application.test_client_class = EnglishClient
    return application


@pytest.fixture
def bare(client):
    """The suite's client without Accept-Language: a reader who names no language, who must get
    the market in Swedish (issue Q)."""
    client.environ_base.pop("HTTP_ACCEPT_LANGUAGE")
    return client


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request):
    return request.param


@pytest.fixture
def app_config():
    """Override in a test module to give the app extra settings."""
    return {}


@pytest.fixture
def app(engine, tmp_path, request, app_config):
    if engine == "postgresql":
        url = request.getfixturevalue("postgres_url")
    else:
        url = f"sqlite:///{tmp_path}/market.db"
    application = make_test_app(url, app_config)
    with db.connection_context():
        if engine == "postgresql":
            _empty_postgres(url)
        else:
            database.create_tables_for_tests(db)
        # What the migration does when it makes a database.
        from models import MarketSetting

        MarketSetting.insert_many([
            {"name": "installation_id", "value": "inst_" + secrets.token_hex(8)},
            {"name": "store_generation", "value": "1"},
        ]).execute()
    yield application
    if not db.is_closed():
        db.close()


@pytest.fixture
def client(app):
    """A browser that asks for English: the suite reads the market's words in English, the
    msgids' language; tests of the Swedish market ask for it (tests/views/test_language.py)."""
    browser = app.test_client()
    browser.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return browser


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def csrf_token(app, client):
    """The token Flask-WTF would put in a form for this client's session."""
    with client.session_transaction() as sess:
        if "csrf_token" not in sess:
            sess["csrf_token"] = secrets.token_hex(20)
        raw = sess["csrf_token"]
    return URLSafeTimedSerializer(app.secret_key, salt="wtf-csrf-token").dumps(raw)


def form_csrf(html):
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    return match.group(1) if match else None


class AuthActions:
    def __init__(self, app, client):
        self._app = app
        self._client = client

    def login(self, email="customer@demo.test", password=PASSWORD):
        page = self._client.get("/login")
        token = form_csrf(page.get_data(as_text=True))
        return self._client.post("/login", data={"email": email, "password": password,
                                                 "csrf_token": token})

    def logout(self):
        return self._client.post("/logout", data={"csrf_token": self.csrf()})

    def csrf(self):
        return csrf_token(self._app, self._client)

    def post(self, url, data=None, **kwargs):
        """A form POST with the session's CSRF token, as the page's form would send it."""
        data = dict(data or {})
        data.setdefault("csrf_token", self.csrf())
        return self._client.post(url, data=data, **kwargs)


@pytest.fixture
def auth(app, client):
    return AuthActions(app, client)


@pytest.fixture(autouse=True)
def no_stripe_call_inside_a_transaction(monkeypatch):
    """DESIGN.md §11 / QUALITY.md 43: every request the gateway's Stripe client sends is checked
    against the sending thread's database state; one sent inside a transaction fails the test
    (recorded, since the live server's thread may swallow the exception)."""
    caught = []
    original = stripe_http.HTTPClient.request_with_retries

    def guarded(self, method, url, *args, **kwargs):
        if db.obj is not None and db.in_transaction():
            caught.append(f"{method.upper()} {url}")
            raise AssertionError(f"Stripe called inside a database transaction: {method.upper()} {url}")
        return original(self, method, url, *args, **kwargs)

    monkeypatch.setattr(stripe_http.HTTPClient, "request_with_retries", guarded)
    yield caught
    assert not caught, f"Stripe called inside a database transaction: {caught}"
