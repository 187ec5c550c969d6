"""Two gunicorn servers of the market on one PostgreSQL and one Redis (DESIGN.md §4, QUALITY.md 33).

Each server is a real `gunicorn -c gunicorn.conf.py 'app:create_app()'` process in production
mode; the data is made through factories in this process, in the test session's database.
Whatever one server does, the other must see: a webhook, a code, a Buy, a refresh or a rate-limit
counter handled on both at once has one effect. Under CI=true PostgreSQL and Redis are required.
"""
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
import requests
import stripe

from market.billing import connect, gateway
from models import CheckoutAttempt, Developer, LedgerEntry, OAuthToken, StripeEvent, Subscription
from tests import factories
from tests.conftest import IN_CI
from tests.oauth.test_oauth_support import REDIRECT_URI, get_code, make_market, redeem

pytestmark = [pytest.mark.postgres_only, pytest.mark.parametrize("engine", ["postgresql"])]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the project root
SECRET_KEY = "test-secret-key"  # the test app's, so secrets hashed by the factories verify on both
WEBHOOK_SECRET = "whsec_scale_out_test"
CONNECT_WEBHOOK_SECRET = "whsec_scale_out_test_connect"
REDIS_URL = "redis://127.0.0.1:6379/14"
MARKET_URL = "https://market.test"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _require_redis():
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.exceptions.ConnectionError:
        if IN_CI:
            pytest.fail(f"Redis at {REDIS_URL} is required under CI=true", pytrace=False)
        pytest.skip("Redis not available here")


@pytest.fixture(scope="module")
def sandbox():
    from stripe_sandbox.testing import start_sandbox

    handle = start_sandbox()
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def servers(postgres_url, sandbox, tmp_path_factory):
    """Two production servers, one worker and four threads each, on one database and one Redis."""
    _require_redis()
    from stripe_sandbox.testing import API_KEY

    logs = tmp_path_factory.mktemp("gunicorn")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MARKET_", "STRIPE_", "GUNICORN_"))}
    env.update(MARKET_ENV="production", SECRET_KEY=SECRET_KEY, STRIPE_SECRET_KEY=API_KEY,
               STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET, STRIPE_CONNECT_WEBHOOK_SECRET=CONNECT_WEBHOOK_SECRET,
               MARKET_URL=MARKET_URL, STRIPE_API_BASE=sandbox.url,
               PLATFORM_ORG_NUMBER="559999-0017", PLATFORM_VAT_NUMBER="SE559999001701",
               DATABASE_URL=postgres_url, RATELIMIT_STORAGE_URI=REDIS_URL, MAIL_DISABLED="1")
    processes, urls = [], []
    for n in range(2):
        port = _free_port()
        log = open(logs / f"server-{n}.log", "wb")  # noqa: SIM115 - closed at teardown
        gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
        processes.append((subprocess.Popen(
            [gunicorn, "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}", "--workers", "1",
             "--threads", "4", "app:create_app()"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT), log))
        urls.append(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 30
        for (process, _), url in zip(processes, urls, strict=True):
            while True:
                assert process.poll() is None, (logs / "server-0.log").read_text() + (
                    logs / "server-1.log").read_text()
                try:
                    # Any answer will do: the tables are made later, by each test's `app`.
                    requests.get(url + "/healthz", timeout=2)
                    break
                except requests.ConnectionError:
                    pass
                assert time.monotonic() < deadline, f"{url} did not answer within 30 s"
                time.sleep(0.1)
        yield urls
    finally:
        for process, _log in processes:
            process.terminate()
        for process, log in processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
            log.close()


@pytest.fixture
def app_config(sandbox):
    from stripe_sandbox.testing import API_KEY

    return {"SECRET_KEY": SECRET_KEY, "STRIPE_SECRET_KEY": API_KEY, "STRIPE_API_BASE": sandbox.url,
            "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET, "STRIPE_CONNECT_WEBHOOK_SECRET": CONNECT_WEBHOOK_SECRET,
            "MARKET_URL": MARKET_URL, "PLATFORM_ORG_NUMBER": "559999-0017",
            "PLATFORM_VAT_NUMBER": "SE559999001701"}


class _Browser(requests.Session):
    """Production cookies are Secure and the test talks plain http to gunicorn on loopback, so
    the jar forgets the flag (requests builds a fresh jar per request, so a cookie policy would
    not stick)."""

    def request(self, *args, **kwargs):
        response = super().request(*args, **kwargs)
        for cookie in self.cookies:
            cookie.secure = False
        return response


def _browser():
    return _Browser()


def _token_of(html):
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def _login(url, email):
    """Logged in at one server; the cookie (and its CSRF token) is then good at both, since
    sessions are signed cookies and SECRET_KEY is shared. Cookies ignore ports, so the same jar
    sends it to both servers on 127.0.0.1."""
    http = _browser()
    page = http.get(url + "/login", timeout=10)
    response = http.post(url + "/login", data={"email": email, "password": factories.PASSWORD,
                                                "csrf_token": _token_of(page.text)},
                         timeout=10, allow_redirects=False)
    assert response.status_code == 303, response.text
    assert "market_session" in http.cookies
    http.csrf = _token_of(http.get(url + "/account/apps", timeout=10).text)
    return http


def _at_once(calls):
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(lambda call: call(), calls))


def _sandbox_events(sandbox, since_ids=()):
    """The sandbox's events not in `since_ids`, oldest first, as the raw JSON Stripe would post."""
    from stripe_sandbox.testing import API_KEY

    request = urllib.request.Request(sandbox.url + "/v1/events?limit=100",
                                     headers={"Authorization": f"Bearer {API_KEY}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        events = json.loads(response.read())["data"]
    return [e for e in reversed(events) if e["id"] not in since_ids]


def _deliver_everywhere(servers, event, times=20):
    """The same signed delivery posted `times` times at once, half to each server."""
    payload = json.dumps(event)
    connect = bool(event.get("account"))  # a connected account's event goes to its own endpoint
    signature = stripe.WebhookSignature.generate_signature_header(
        payload, CONNECT_WEBHOOK_SECRET if connect else WEBHOOK_SECRET)
    path = "/stripe/webhook?connect=1" if connect else "/stripe/webhook"

    def post(url):
        return lambda: requests.post(url + path, data=payload, timeout=30, headers={
            "Stripe-Signature": signature, "Content-Type": "application/json"})

    return _at_once([post(servers[n % 2]) for n in range(times)])


def _onboarded_paid_app(config, sandbox):
    """A paid app whose developer's Connect account can take destination charges."""
    developer = factories.developer()
    account_id = connect.ensure_connect_account(config, developer, "dev@example.test")
    sandbox.onboard(account_id)
    Developer.update(payouts_enabled=True).where(Developer.id == developer.id).execute()
    return factories.app_listing(developer_obj=Developer.get_by_id(developer.id), price_ore=19900)


def test_buy_double_clicked_across_both_servers_opens_one_checkout_then_each_webhook_counts_once(
        app, servers, sandbox):
    listing = _onboarded_paid_app(app.config, sandbox)
    buyer = factories.customer_admin(email="buyer@example.test")
    http = _login(servers[0], buyer.email)

    def buy(url):
        return lambda: http.post(url + f"/apps/{listing.slug}/buy", data={"csrf_token": http.csrf},
                                 timeout=30, allow_redirects=False)

    responses = _at_once([buy(servers[0]), buy(servers[1]), buy(servers[0]), buy(servers[1])])
    assert [r.status_code for r in responses] == [303] * 4, [r.text[:300] for r in responses]
    assert len({r.headers["Location"] for r in responses}) == 1
    attempts = list(CheckoutAttempt.select())
    assert [a.status for a in attempts] == ["open"]
    session_id = attempts[0].stripe_session_id
    stripe_sessions = gateway.stripe_client(app.config).v1.checkout.sessions.list({"limit": 100})
    assert [s.id for s in stripe_sessions.data if s.status == "open"] == [session_id]

    # Paid; the sandbox has no endpoint registered, so its events reach the market only as the
    # test delivers them: each one 20 times, to both servers at once.
    before = {e["id"] for e in _sandbox_events(sandbox)}
    sandbox.pay_checkout(session_id)
    events = _sandbox_events(sandbox, before)
    kinds = [e["type"] for e in events]
    assert "invoice.paid" in kinds and "checkout.session.completed" in kinds, kinds
    for event in events:
        answers = _deliver_everywhere(servers, event)
        assert {r.status_code for r in answers} == {200}, (event["type"], [r.text for r in answers])
        outcomes = sorted(r.json()["outcome"] for r in answers)
        assert outcomes.count("duplicate") >= 19, (event["type"], outcomes)
    assert StripeEvent.select().count() == len(events)
    assert sorted(e.event_id for e in StripeEvent.select()) == sorted(e["id"] for e in events)
    assert LedgerEntry.select().count() == 1
    entry = LedgerEntry.get()
    assert (entry.net_ore, entry.gross_ore) == (19900, 24875)
    subscription = Subscription.get()
    assert Subscription.select().count() == 1
    assert (subscription.company_id, subscription.app_id, subscription.status) == (
        buyer.company_id, listing.id, "active")
    assert CheckoutAttempt.get().status == "complete"


def test_one_code_redeemed_at_both_servers_gives_one_token(app, servers, client, auth):
    market = make_market()
    code = get_code(client, auth, market, access_type="offline")

    def redeem_at(url):
        return lambda: requests.post(url + "/oauth-v1/token", timeout=30, data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI},
            auth=(market.client.client_id, market.secret))

    responses = _at_once([redeem_at(servers[n % 2]) for n in range(8)])
    assert sorted(r.status_code for r in responses) == [200] + [400] * 7, [r.text for r in responses]
    assert {r.json()["error"] for r in responses if r.status_code == 400} == {"invalid_grant"}
    assert OAuthToken.select().count() == 1


def test_one_refresh_token_at_both_servers_inside_the_grace_gives_the_same_pair(app, servers, client, auth):
    market = make_market()
    first = redeem(client, market, get_code(client, auth, market, access_type="offline")).get_json()

    def refresh_at(url):
        return lambda: requests.post(url + "/oauth-v1/token", timeout=30, data={
            "grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
            auth=(market.client.client_id, market.secret))

    responses = _at_once([refresh_at(servers[n % 2]) for n in range(6)])
    assert [r.status_code for r in responses] == [200] * 6, [r.text for r in responses]
    pairs = {(r.json()["access_token"], r.json()["refresh_token"]) for r in responses}
    assert len(pairs) == 1
    assert first["refresh_token"] not in pairs.pop()
    assert OAuthToken.select().count() == 2


def test_the_rate_limit_is_counted_across_both_servers(app, servers):
    company = factories.company()
    token = factories.issue_token(factories.api_connection(company, factories.app_listing()))
    store = redis.Redis.from_url(REDIS_URL)
    try:
        def call(url):
            return lambda: requests.get(url + "/api/v1/me", headers={"Authorization": f"Bearer {token}"},
                                        timeout=30)

        started = time.monotonic()
        responses = _at_once([call(servers[n % 2]) for n in range(30)])
        assert time.monotonic() - started < 4.5, "too slow to stay inside one 5 s window"
        statuses = [r.status_code for r in responses]
        # 15 at each server: counters kept per process would refuse none.
        assert sorted(statuses) == [200] * 25 + [429] * 5, statuses
    finally:
        for key in store.scan_iter(f"*{company.public_id}*"):
            store.delete(key)
