"""The flow end to end with standard client libraries, unchanged, PKCE included (QUALITY.md 14):
a live server running the same app, a person's consent driven through the real pages."""
import pytest

from tests.oauth.test_oauth_support import LiveServer, browser_consent, browser_login, make_market, query_of

LIVE_REDIRECT = "http://127.0.0.1:9/callback"  # never called: the test reads the redirect itself
SCOPE = "companyinformation customer"


@pytest.fixture
def live(app):
    server = LiveServer(app)
    yield server
    server.close()


@pytest.fixture
def market(app):
    return make_market(redirect_uris=LIVE_REDIRECT)


def _introspect(live, market, token):
    import requests

    return requests.post(live.url + "/oauth-v1/introspect", data={"token": token},
                         auth=(market.client.client_id, market.secret)).json()


def test_authlib_oauth2_session(live, market):
    from authlib.common.security import generate_token
    from authlib.integrations.base_client.errors import OAuthError
    from authlib.integrations.requests_client import OAuth2Session

    oauth = OAuth2Session(market.client.client_id, market.secret, scope=SCOPE, redirect_uri=LIVE_REDIRECT,
                          code_challenge_method="S256")
    verifier = generate_token(48)
    url, state = oauth.create_authorization_url(live.url + "/oauth-v1/auth", code_verifier=verifier,
                                                access_type="offline")
    browser = browser_login(live.url, market.user.email)
    callback = browser_consent(browser, url)
    assert query_of(callback)["iss"] == live.url and query_of(callback)["state"] == state
    token = oauth.fetch_token(live.url + "/oauth-v1/token", authorization_response=callback,
                              code_verifier=verifier)
    assert token["token_type"] == "Bearer" and token["expires_in"] == 3600 and token["refresh_token"]
    assert _introspect(live, market, token["access_token"])["active"] is True

    refreshed = oauth.refresh_token(live.url + "/oauth-v1/token")
    assert refreshed["access_token"] != token["access_token"]
    assert refreshed["refresh_token"] != token["refresh_token"]
    assert _introspect(live, market, refreshed["access_token"])["active"] is True

    oauth.revoke_token(live.url + "/oauth-v1/revoke", token=refreshed["refresh_token"],
                       token_type_hint="refresh_token")
    assert _introspect(live, market, refreshed["access_token"]) == {"active": False}
    with pytest.raises(OAuthError) as refused:
        oauth.refresh_token(live.url + "/oauth-v1/token", refresh_token=refreshed["refresh_token"])
    assert refused.value.error == "invalid_grant"


def test_requests_oauthlib(live, market, monkeypatch):
    from oauthlib.oauth2.rfc6749.errors import InvalidGrantError
    from requests_oauthlib import OAuth2Session

    # oauthlib insists on https even for loopback; the market itself runs on plain loopback here.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    oauth = OAuth2Session(market.client.client_id, redirect_uri=LIVE_REDIRECT, scope=SCOPE.split(),
                          pkce="S256")
    url, state = oauth.authorization_url(live.url + "/oauth-v1/auth", access_type="offline")
    assert "code_challenge_method=S256" in url
    browser = browser_login(live.url, market.user.email)
    callback = browser_consent(browser, url)
    token = oauth.fetch_token(live.url + "/oauth-v1/token", authorization_response=callback,
                              client_secret=market.secret)
    assert token["expires_in"] == 3600 and token["refresh_token"]
    assert _introspect(live, market, token["access_token"])["active"] is True

    refreshed = oauth.refresh_token(live.url + "/oauth-v1/token", client_id=market.client.client_id,
                                    client_secret=market.secret)
    assert refreshed["refresh_token"] != token["refresh_token"]

    # The company admin revokes the app on the connected-apps page.
    page = browser.get(live.url + "/account/connections")
    import re

    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text).group(1)
    revoked = browser.post(live.url + f"/account/connections/{market.app.slug}/revoke",
                           data={"csrf_token": csrf}, allow_redirects=False)
    assert revoked.status_code == 303
    assert _introspect(live, market, refreshed["access_token"]) == {"active": False}
    with pytest.raises(InvalidGrantError):
        oauth.refresh_token(live.url + "/oauth-v1/token", client_id=market.client.client_id,
                            client_secret=market.secret)


def test_denied_consent_reaches_the_client_library_as_access_denied(live, market):
    from authlib.integrations.requests_client import OAuth2Session

    oauth = OAuth2Session(market.client.client_id, market.secret, scope=SCOPE, redirect_uri=LIVE_REDIRECT)
    url, state = oauth.create_authorization_url(live.url + "/oauth-v1/auth")
    callback = browser_consent(browser_login(live.url, market.user.email), url, decision="deny")
    query = query_of(callback)
    assert query["error"] == "access_denied" and query["state"] == state and query["iss"] == live.url
