"""Shared set-up for the OAuth tests (no tests here): a customer admin of a company entitled
to a free app with an OAuth client, and helpers that walk the authorization-code flow."""
import base64
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from authlib.oauth2.rfc7636 import create_s256_code_challenge

from tests import factories

REDIRECT_URI = "https://client.example.test/callback"
SECRET = "s3cret-of-the-client-app"
ADMIN_EMAIL = "anna@example.test"


@dataclass
class Market:
    user: object
    company: object
    app: object
    client: object
    secret: str


def make_market(redirect_uris=REDIRECT_URI, scopes="companyinformation customer invoice", price_ore=None,
                is_public=False, email=ADMIN_EMAIL):
    admin = factories.customer_admin(email=email)
    listing = factories.app_listing(price_ore=price_ore)
    client_row, secret = factories.oauth_client(listing, redirect_uris=redirect_uris, scopes=scopes,
                                                secret=SECRET, is_public=is_public)
    return Market(user=admin, company=admin.company, app=listing, client=client_row, secret=secret)


def pkce_pair():
    verifier = secrets.token_urlsafe(48)
    return verifier, create_s256_code_challenge(verifier)


def auth_params(market, **overrides):
    params = {"response_type": "code", "client_id": market.client.client_id,
              "redirect_uri": REDIRECT_URI, "scope": "companyinformation customer", "state": "st-123"}
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


def query_of(location):
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def basic(client_id, secret):
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def consent(client, auth, market, decision="allow", login=True, **params):
    """Log in (once), open the consent page and answer it; returns the final response."""
    if login:
        auth.login(market.user.email)
    query = auth_params(market, **params)
    page = client.get("/oauth-v1/auth", query_string=query)
    if page.status_code != 200:
        return page
    return auth.post("/oauth-v1/auth", data={"decision": decision}, query_string=query)


def get_code(client, auth, market, login=True, **params):
    response = consent(client, auth, market, login=login, **params)
    assert response.status_code == 302, response.get_data(as_text=True)
    query = query_of(response.headers["Location"])
    assert "code" in query, query
    return query["code"]


def redeem(client, market, code, secret=None, **extra):
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
    data.update(extra)
    data = {k: v for k, v in data.items() if v is not None}
    return client.post("/oauth-v1/token", data=data,
                       headers=basic(market.client.client_id, secret or market.secret))


def refresh(client, market, refresh_token, secret=None):
    return client.post("/oauth-v1/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token},
                       headers=basic(market.client.client_id, secret or market.secret))


def api_token_works(app, access_token):
    """Whether `require_oauth` lets the token through (the API itself is another issue's)."""
    from market.oauth import web as oauth2

    with app.test_request_context("/probe", headers={"Authorization": f"Bearer {access_token}"}):
        try:
            oauth2.require_oauth.acquire_token()
        except oauth2.OAuth2Error:
            return False
        return True


class LiveServer:
    """The same app served over real HTTP on a free loopback port, in a thread."""

    def __init__(self, app):
        import threading

        from werkzeug.serving import make_server

        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        app.config["MARKET_URL"] = self.url
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def browser_login(base_url, email, password="demo-pass-123"):
    """A requests.Session logged in through the login form, as a person would."""
    import re

    import requests

    session = requests.Session()
    page = session.get(base_url + "/login")
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text).group(1)
    response = session.post(base_url + "/login", data={"email": email, "password": password, "csrf_token": token},
                            allow_redirects=False)
    assert response.status_code == 303, response.text
    return session


def browser_consent(session, authorization_url, decision="allow"):
    """Open the consent page and press a button; returns the redirect to the client."""
    import re

    page = session.get(authorization_url, allow_redirects=False)
    if page.status_code == 302:  # already granted: no page
        return page.headers["Location"]
    assert page.status_code == 200, page.text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text).group(1)
    answer = session.post(authorization_url, data={"csrf_token": token, "decision": decision},
                          allow_redirects=False)
    assert answer.status_code == 302, answer.text
    return answer.headers["Location"]
