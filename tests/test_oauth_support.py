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
    import oauth2

    with app.test_request_context("/probe", headers={"Authorization": f"Bearer {access_token}"}):
        try:
            oauth2.require_oauth.acquire_token()
        except oauth2.OAuth2Error:
            return False
        return True
