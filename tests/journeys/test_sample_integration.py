"""The sample integration (examples/sample_integration): its landing page checks the market's
signature, and the whole story runs over HTTP: activate → landing → connect → consent →
callback → the company's data; an hour later it refreshes; after Revoke it says so."""
import datetime
import hashlib
import hmac
import re
import threading
import time
from urllib.parse import urlencode, urlsplit

import pytest
import requests
from werkzeug.serving import make_server

from examples.sample_integration.__main__ import QuietRequestHandler
from examples.sample_integration.app import check_landing
from examples.sample_integration.app import create_app as create_integration
from examples.sample_integration.market import Market, TokenStore
from market.core import credentials
from models import App, Connection, OAuthToken
from tests import factories

CLIENT_ID = "sample-integration"
CLIENT_SECRET = "sample-secret-for-tests"
LANDING_SECRET = "landing-secret-for-tests"


def signed(params_ts, company="pub-company-1", app=CLIENT_ID, secret=LANDING_SECRET):
    ts = str(params_ts)
    message = urlencode(sorted([("app", app), ("company", company), ("ts", ts)]))
    mac = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    return {"app": app, "company": company, "ts": ts, "hmac": mac}


@pytest.fixture
def integration():
    app = create_integration("http://127.0.0.1:1", CLIENT_ID, CLIENT_SECRET, "http://127.0.0.1:2/callback",
                             LANDING_SECRET, secret_key="k")
    return english(app.test_client())


def english(client):
    """A test client asking for English, as the suite reads (the integration speaks Swedish first)."""
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def test_without_parameters_it_explains_how_to_activate(integration):
    response = integration.get("/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "activate it from the App Market" in page and "/apps/sample-integration" in page


def test_a_genuine_fresh_landing_offers_connect(integration):
    response = integration.get("/?" + urlencode(signed(int(time.time()) - 200)))
    # Spent at once: our own session, then the same page without the signature.
    assert response.status_code == 303 and response.headers["Location"] == "/"
    assert "sample_session=" in response.headers["Set-Cookie"]
    response = integration.get("/")
    assert response.status_code == 200
    assert 'href="/connect"' in response.get_data(as_text=True)
    connect = integration.get("/connect")
    assert connect.status_code == 303
    location = urlsplit(connect.headers["Location"])
    assert location.path == "/oauth-v1/auth"
    for part in ("code_challenge_method=S256", "access_type=offline", "client_id=sample-integration",
                 "code_challenge=", "state="):
        assert part in location.query


@pytest.mark.parametrize("change,reason", [
    ({"hmac": "0" * 64}, "signature"),
    ({"company": "pub-company-2"}, "signature"),
    ({"ts": None}, "expired"),
    ({"ts": "future"}, "expired"),
    ({"app": "another-app"}, "another app"),
    ({"ts": "12ab"}, "not valid"),
    ({"hmac": None}, "incomplete"),
])
def test_a_bad_or_stale_landing_is_403_with_a_message(integration, change, reason):
    now = int(time.time())
    params = signed(now)
    if change.get("ts") is None and "ts" in change:
        params = signed(now - 400)
    elif change.get("ts") == "future":
        params = signed(now + 400)
    elif change.get("app"):
        params = signed(now, app=change["app"])
    else:
        params.update({k: v for k, v in change.items() if v is not None})
        for k, v in change.items():
            if v is None:
                params.pop(k)
    response = integration.get("/?" + urlencode(params))
    assert response.status_code == 403
    assert reason in response.get_data(as_text=True)
    assert integration.get("/connect").status_code == 403  # nothing was started


def test_the_landing_window_is_300_seconds_either_way():
    params = signed(1_700_000_000)
    for now in (1_700_000_000 - 300, 1_700_000_000, 1_700_000_000 + 300):
        assert check_landing(params, CLIENT_ID, LANDING_SECRET, now=now) is None
    for now in (1_700_000_000 - 301, 1_700_000_000 + 301):
        assert "expired" in check_landing(params, CLIENT_ID, LANDING_SECRET, now=now)


def test_connect_without_landing_is_refused(integration):
    assert integration.get("/connect").status_code == 403


def test_callback_with_a_foreign_state_is_refused(integration):
    integration.get("/?" + urlencode(signed(int(time.time()))))
    integration.get("/connect")
    response = integration.get("/callback?code=abc&state=forged&iss=http://127.0.0.1:1")
    assert response.status_code == 400


# --- end to end over HTTP --------------------------------------------------------------------

class LiveServer:
    """A WSGI app on a free loopback port, in a thread; the app is set once the port is known."""

    def __init__(self):
        self.app = None
        self.server = make_server("127.0.0.1", 0, lambda environ, start: self.app(environ, start), threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self, app):
        self.app = app
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.thread.join(5)


@pytest.fixture
def live(app):
    market, sample = LiveServer(), LiveServer()
    app.config["MARKET_URL"] = market.url
    with app.app_context():
        developer = factories.developer(name="Sample Integrations AB")
        listing = factories.app_listing(developer_obj=developer, slug="sample-integration",
                                        name="Sample Integration", landing_url=sample.url + "/")
        factories.oauth_client(listing, redirect_uris=sample.url + "/callback", client_id=CLIENT_ID,
                               secret=CLIENT_SECRET, scopes="companyinformation customer invoice")
        company = factories.company(name="Demo Bygg AB")
        factories.customer_admin(email="customer@demo.test", company_obj=company)
        factories.company_customer(company, customer_number="1", name="Byggmästarn i Lund")
        factories.company_customer(factories.company(name="Other AB"), customer_number="1", name="Not ours")
    landing_secret = credentials.landing_secret(app.config["SECRET_KEY"], CLIENT_ID)
    integration = create_integration(market.url, CLIENT_ID, CLIENT_SECRET, sample.url + "/callback",
                                     landing_secret, secret_key="sample-test-key")
    market.start(app)
    sample.start(integration)
    yield {"market": market.url, "sample": sample.url, "company": company, "integration": integration, "app": app}
    market.stop()
    sample.stop()


def csrf_from(html):
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html[:500]
    return match.group(1)


def test_activate_connect_refresh_and_revoke_end_to_end(live, time_machine):
    market, sample = live["market"], live["sample"]
    browser = requests.Session()
    browser.headers["Accept-Language"] = "en"  # the suite reads English
    login = browser.get(market + "/login")
    browser.post(market + "/login", data={"email": "customer@demo.test", "password": factories.PASSWORD,
                                          "csrf_token": csrf_from(login.text)})
    app_page = browser.get(market + "/apps/sample-integration")
    assert app_page.status_code == 200

    # Activate from the store: off to the landing page with a signed link.
    activated = browser.post(market + "/apps/sample-integration/activate",
                             data={"csrf_token": csrf_from(app_page.text)}, allow_redirects=False)
    assert activated.status_code == 303
    assert activated.headers["Location"].startswith(sample + "/?")
    landing = browser.get(activated.headers["Location"])
    assert landing.status_code == 200 and 'href="/connect"' in landing.text
    assert landing.url == sample + "/"  # the signature left the address bar

    # Connect: the consent page of the market, then back through the callback.
    consent = browser.get(sample + "/connect")
    assert consent.url.startswith(market + "/oauth-v1/auth") and 'value="allow"' in consent.text
    done = browser.post(consent.url, data={"csrf_token": csrf_from(consent.text), "decision": "allow"})
    assert done.status_code == 200, done.text[:500]
    assert done.url == sample + "/company"
    assert "Demo Bygg AB" in done.text and "Byggmästarn i Lund" in done.text
    assert "Not ours" not in done.text and "Other AB" not in done.text
    assert browser.cookies.get("sample_session") and browser.cookies.get("market_session")
    first_tokens = OAuthToken.select().count()
    connection = Connection.get(Connection.app == App.get(App.slug == "sample-integration"))
    assert connection.last_used_at is not None

    # An hour and more later the access token has expired: the integration refreshes and goes on.
    time_machine.move_to(datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=2), tick=True)
    later = browser.get(sample + "/company")
    assert later.status_code == 200 and "Demo Bygg AB" in later.text
    assert OAuthToken.select().count() == first_tokens + 1  # the rotated pair

    # The company loses its entitlement (say, the app stops being free and nothing was bought).
    App.update(is_free=False).where(App.slug == "sample-integration").execute()
    lapsed = browser.get(sample + "/company")
    assert lapsed.status_code == 403 and "subscription to this app has lapsed" in lapsed.text
    App.update(is_free=True).where(App.slug == "sample-integration").execute()
    assert browser.get(sample + "/company").status_code == 200

    # The customer revokes the app in the market: the integration says access was withdrawn.
    connections = browser.get(market + "/account/connections")
    revoked = browser.post(market + "/account/connections/sample-integration/revoke",
                           data={"csrf_token": csrf_from(connections.text)})
    assert revoked.status_code < 400
    withdrawn = browser.get(sample + "/company")
    assert withdrawn.status_code == 401
    assert "Access to your App Market account was withdrawn; activate again from the App Market" in withdrawn.text
    browser.close()


# --- the landing link is an invitation, not a login (issue O, finding 14) ----------------------

def test_a_landing_link_works_once_and_a_copy_shows_nothing_of_the_company(integration):
    params = urlencode(signed(int(time.time())))
    first = integration.get("/?" + params)
    assert first.status_code == 303 and "hmac" not in first.headers["Location"]
    # Someone else with the same URL (a copied link, a log, a browser history) gets a page that
    # says so and links back to the market, and no session of the company.
    # The stranger's browser has no cookie; the server is the same one, which keeps the used links.
    other_browser = english(integration.application.test_client())
    reused = other_browser.get("/?" + params)
    assert reused.status_code == 200
    text = reused.get_data(as_text=True)
    assert "already used" in text and 'href="http://127.0.0.1:1/apps/sample-integration"' in text
    assert 'href="/connect"' not in text
    assert other_browser.get("/connect").status_code == 403
    # The browser that spent it holds that session: the link just takes it to the clean URL.
    again = integration.get("/?" + params)
    assert again.status_code == 303 and again.headers["Location"] == "/"
    assert 'href="/connect"' in integration.get("/").get_data(as_text=True)


def test_the_access_log_holds_no_landing_signature_or_oauth_code(caplog):
    caplog.set_level("INFO", logger="werkzeug")
    integration = create_integration("http://127.0.0.1:1", CLIENT_ID, CLIENT_SECRET, "http://127.0.0.1:2/callback",
                                     LANDING_SECRET, secret_key="k")
    server = make_server("127.0.0.1", 0, integration, threaded=True, request_handler=QuietRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    params = signed(int(time.time()))
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        assert requests.get(url + "/?" + urlencode(params), timeout=5).status_code == 200
        requests.get(url + "/callback?code=secret-code-123&state=s", timeout=5)
    finally:
        server.shutdown()
        thread.join(5)
    log = caplog.text
    assert "GET / HTTP" in log and "GET /callback HTTP" in log
    assert params["hmac"] not in log and "secret-code-123" not in log


# --- multi-app mode: one process serves every seeded app (issue P, deliverable 1) ----------------

@pytest.fixture
def live_many(app):
    """The market and a sample integration serving `sample-integration` at / and
    `lagerkoll` at /apps/lagerkoll/, each with its own client credentials and landing secret."""
    market, sample = LiveServer(), LiveServer()
    app.config["MARKET_URL"] = market.url
    with app.app_context():
        developer = factories.developer(name="Sample Integrations AB")
        main = factories.app_listing(developer_obj=developer, slug="sample-integration", name="Sample Integration",
                                     landing_url=sample.url + "/")
        factories.oauth_client(main, redirect_uris=sample.url + "/callback", client_id=CLIENT_ID,
                               secret=CLIENT_SECRET)
        other = factories.app_listing(slug="lagerkoll", name="Lagerkoll", landing_url=sample.url + "/apps/lagerkoll/")
        factories.oauth_client(other, redirect_uris=sample.url + "/apps/lagerkoll/callback",
                               client_id="lagerkoll-0123456789", secret="lagerkoll-secret")
        company = factories.company(name="Demo Bygg AB")
        factories.customer_admin(email="customer@demo.test", company_obj=company)
        factories.company_customer(company, customer_number="1", name="Byggmästarn i Lund")
    secret_key = app.config["SECRET_KEY"]
    integration = create_integration(
        market.url, CLIENT_ID, CLIENT_SECRET, sample.url + "/callback",
        credentials.landing_secret(secret_key, CLIENT_ID), secret_key="sample-test-key", public_url=sample.url,
        apps=[{"slug": "lagerkoll", "name": "Lagerkoll", "client_id": "lagerkoll-0123456789",
               "client_secret": "lagerkoll-secret",
               "landing_secret": credentials.landing_secret(secret_key, "lagerkoll-0123456789")}])
    market.start(app)
    sample.start(integration)
    yield {"market": market.url, "sample": sample.url}
    market.stop()
    sample.stop()


def test_every_app_activates_through_its_own_landing_page_and_credentials(live_many):
    market, sample = live_many["market"], live_many["sample"]
    browser = requests.Session()
    browser.headers["Accept-Language"] = "en"  # the suite reads English
    login = browser.get(market + "/login")
    browser.post(market + "/login", data={"email": "customer@demo.test", "password": factories.PASSWORD,
                                          "csrf_token": csrf_from(login.text)})
    app_page = browser.get(market + "/apps/lagerkoll")
    activated = browser.post(market + "/apps/lagerkoll/activate", data={"csrf_token": csrf_from(app_page.text)},
                             allow_redirects=False)
    assert activated.headers["Location"].startswith(sample + "/apps/lagerkoll/?")
    landing = browser.get(activated.headers["Location"])
    assert landing.url == sample + "/apps/lagerkoll/" and "Connect Lagerkoll" in landing.text
    assert 'href="/apps/lagerkoll/connect"' in landing.text
    consent = browser.get(sample + "/apps/lagerkoll/connect")
    assert consent.url.startswith(market + "/oauth-v1/auth") and "client_id=lagerkoll-0123456789" in consent.url
    done = browser.post(consent.url, data={"csrf_token": csrf_from(consent.text), "decision": "allow"})
    assert done.status_code == 200, done.text[:500]
    assert done.url == sample + "/apps/lagerkoll/company"
    assert "Demo Bygg AB" in done.text and "Byggmästarn i Lund" in done.text
    assert Connection.get(Connection.app == App.get(App.slug == "lagerkoll")).last_used_at is not None
    # The sample app itself is untouched: not connected, still at its own URLs.
    assert "Welcome to Sample Integration" in browser.get(sample + "/").text
    browser.close()


def test_two_workers_refreshing_at_once_spend_the_refresh_token_once(live, tmp_path, monkeypatch):
    """Refresh tokens rotate and a replayed one ends the grant: two workers (two stores on one
    token file, as two processes would have) whose access token expired together refresh once."""
    market, sample = live["market"], live["sample"]
    browser = requests.Session()
    browser.headers["Accept-Language"] = "en"  # the suite reads English
    login = browser.get(market + "/login")
    browser.post(market + "/login", data={"email": "customer@demo.test", "password": factories.PASSWORD,
                                          "csrf_token": csrf_from(login.text)})
    app_page = browser.get(market + "/apps/sample-integration")
    browser.post(market + "/apps/sample-integration/activate", data={"csrf_token": csrf_from(app_page.text)})
    consent = browser.get(sample + "/connect")
    browser.post(consent.url, data={"csrf_token": csrf_from(consent.text), "decision": "allow"})
    company = live["company"].public_id
    token = live["integration"].extensions["sample_tokens"].get(company)
    token["expires_at"] = 0  # expired for everyone
    path = str(tmp_path / "tokens.json")
    TokenStore(path).put(company, token)
    workers = [Market(market, CLIENT_ID, CLIENT_SECRET, sample + "/callback", "companyinformation customer",
                      TokenStore(path)) for _ in range(2)]
    before = OAuthToken.select().count()
    start, results = threading.Barrier(2), []
    original = Market._token_request

    def slow_token_request(self, fields):
        time.sleep(0.3)  # both workers are sure to be refreshing at the same moment
        return original(self, fields)

    monkeypatch.setattr(Market, "_token_request", slow_token_request)
    # No grace for a replayed refresh token: a second use of the spent one would end the grant.
    monkeypatch.setitem(live["app"].config, "OAUTH_REFRESH_GRACE", 0)

    def work(worker):
        start.wait()
        results.append(worker.get(company, "/companyinformation")["CompanyInformation"]["CompanyName"])

    threads = [threading.Thread(target=work, args=(worker,)) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert results == ["Demo Bygg AB", "Demo Bygg AB"]
    assert OAuthToken.select().count() == before + 1  # one rotation, not two
    stored = TokenStore(path).get(company)
    assert stored["refresh_token"] != token["refresh_token"] and stored["expires_at"] > time.time()
    browser.close()
