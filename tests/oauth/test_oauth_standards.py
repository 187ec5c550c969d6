"""OAuth as the RFCs say (issue S 3): an unknown token_type_hint is ignored (RFC 7009 §2.2,
RFC 7662 §2.1), a request without credentials is told the scheme and realm only (RFC 6750
§3.1), the metadata lists exactly the scopes the API serves and the client authentication each
endpoint accepts (RFC 8414), and the scope catalogue holds only the served scopes, in words that
say what the API lets an app do; apps that asked for others lose them and are told. Then the
whole flow with requests-oauth2client, which is strict about `iss` and the metadata."""
import re

import pytest
from peewee_migrate import Router

from market.core.clock import utcnow
from market.core.scopes import SCOPES
from market.data import database
from market.oauth import scope_retirement
from models import Connection, OAuthClient, OutboxMail, db
from tests import factories
from tests.oauth.test_oauth_support import (
    LiveServer,
    basic,
    browser_consent,
    browser_login,
    get_code,
    make_market,
    redeem,
)

LIVE_REDIRECT = "http://127.0.0.1:9/callback"  # never called: the test reads the redirect itself


def _tokens(client, auth, market):
    return redeem(client, market, get_code(client, auth, market, access_type="offline")).get_json()


@pytest.mark.parametrize("hint", ["made_up", "id_token", "ACCESS_TOKEN", ""])
def test_an_unknown_hint_is_ignored_by_introspection_and_revocation(client, auth, hint):
    market = make_market()
    tokens = _tokens(client, auth, market)
    headers = basic(market.client.client_id, market.secret)
    for token in (tokens["access_token"], tokens["refresh_token"]):
        answer = client.post("/oauth-v1/introspect", data={"token": token, "token_type_hint": hint}, headers=headers)
        assert answer.status_code == 200 and answer.get_json()["active"] is True, answer.get_json()
    revoked = client.post("/oauth-v1/revoke", data={"token": tokens["refresh_token"], "token_type_hint": hint},
                          headers=headers)
    assert revoked.status_code == 200, revoked.get_json()
    after = client.post("/oauth-v1/introspect", data={"token": tokens["access_token"]}, headers=headers)
    assert after.get_json() == {"active": False}


def test_no_credentials_learn_the_realm_only_and_a_bad_token_its_error(client):
    listing = factories.app_listing()
    connection = factories.api_connection(factories.company(), listing, scopes="companyinformation")
    for headers in ({}, {"Authorization": "Basic eDp5"}, {"Access-Token": "old", "Client-Secret": "old"}):
        response = client.get("/api/v1/me", headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"', headers
    bad = client.get("/api/v1/me", headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401
    assert bad.headers["WWW-Authenticate"] == 'Bearer realm="api", error="invalid_token"'
    narrow = factories.issue_token(connection, scope="companyinformation")
    refused = client.get("/api/v1/customers", headers={"Authorization": f"Bearer {narrow}"})
    assert refused.status_code == 403
    assert refused.headers["WWW-Authenticate"] == 'Bearer realm="api", error="insufficient_scope"'


def test_the_resource_protector_without_credentials_says_realm_only(app):
    from werkzeug.exceptions import HTTPException

    from market.oauth import web as oauth2

    with app.test_request_context("/api/v1/me"):
        with pytest.raises(HTTPException) as raised:
            oauth2.require_oauth(lambda: "reached")()
    response = raised.value.get_response()
    assert response.status_code == 401 and response.headers["WWW-Authenticate"] == 'Bearer realm="api"'


def test_metadata_lists_the_served_scopes_and_the_methods_accepted(client):
    meta = client.get("/.well-known/oauth-authorization-server").get_json()
    assert meta["scopes_supported"] == ["companyinformation", "customer", "invoice"] == list(SCOPES)
    assert meta["token_endpoint_auth_methods_supported"] == ["client_secret_basic", "client_secret_post", "none"]
    assert meta["revocation_endpoint_auth_methods_supported"] == [
        "client_secret_basic", "client_secret_post", "none"]
    assert meta["introspection_endpoint_auth_methods_supported"] == ["client_secret_basic", "client_secret_post"]


def test_a_public_client_cannot_introspect_but_may_revoke(client, auth):
    market = make_market(is_public=True)
    assert market.secret is None
    introspected = client.post("/oauth-v1/introspect", data={"token": "anything",
                                                             "client_id": market.client.client_id})
    assert introspected.status_code == 401 and introspected.get_json()["error"] == "invalid_client"
    revoked = client.post("/oauth-v1/revoke", data={"token": "anything", "client_id": market.client.client_id})
    assert revoked.status_code == 200


def test_the_catalogue_is_the_served_scopes_in_plain_words(client, auth):
    assert set(SCOPES) == {"companyinformation", "customer", "invoice"}
    assert "add new customers" in SCOPES["customer"] and "change" not in SCOPES["customer"]
    assert "create" not in SCOPES["invoice"] and "Read" in SCOPES["invoice"]
    assert "address" not in SCOPES["companyinformation"]
    developer = factories.developer_user(email="dev@example.test")
    listing = factories.app_listing(developer_obj=developer.developer)
    factories.oauth_client(listing)
    auth.login("dev@example.test")
    form = client.get(f"/developer/apps/{listing.slug}/integration").get_data(as_text=True)
    assert sorted(re.findall(r'name="scopes" value="([^"]+)"', form)) == sorted(SCOPES)
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["components"]["securitySchemes"]["oauth2"]["flows"]["authorizationCode"]["scopes"] == SCOPES


def test_apps_that_asked_for_unserved_scopes_lose_them_and_are_told(app, client, auth):
    developer = factories.developer_user(email="vendor@example.test")
    listing = factories.app_listing(developer_obj=developer.developer, name="Wide Asker")
    asker, _ = factories.oauth_client(listing, scopes="companyinformation article bookkeeping customer")
    connection = factories.api_connection(factories.company(), listing, scopes="article customer")
    fine, _ = factories.oauth_client(factories.app_listing(), scopes="customer invoice")

    assert scope_retirement.retire_unserved_scopes(app.config) == [listing.slug]
    assert OAuthClient.get_by_id(asker.id).scopes == "companyinformation customer"
    assert Connection.get_by_id(connection.id).scopes == "customer"
    assert OAuthClient.get_by_id(fine.id).scopes == "customer invoice"
    mail = OutboxMail.get(OutboxMail.to == "vendor@example.test")
    assert "Wide Asker" in mail.subject and "article, bookkeeping" in mail.body
    assert "companyinformation, customer" in mail.body
    # Idempotent: a second run changes and mails nothing.
    assert scope_retirement.retire_unserved_scopes(app.config) == []
    assert OutboxMail.select().count() == 1
    # The developer's form shows what is left, and can be saved as it is.
    auth.login("vendor@example.test")
    form = client.get(f"/developer/apps/{listing.slug}/integration").get_data(as_text=True)
    assert sorted(re.findall(r'name="scopes" value="([^"]+)" checked', form)) == ["companyinformation", "customer"]


def test_flask_migrate_retires_unserved_scopes(app, runner):
    listing = factories.app_listing()
    asker, _ = factories.oauth_client(listing, scopes="customer settings")
    # The tables came from models.py: record the migrations as applied, as on a live database.
    router = Router(db, migrate_dir=database.MIGRATIONS_DIR)
    for name in router.todo:
        router.model.create(name=name, migrated_at=utcnow())
    result = runner.invoke(args=["migrate"])
    assert result.exit_code == 0, result.output
    assert listing.slug in result.output
    assert OAuthClient.get_by_id(asker.id).scopes == "customer"


# --- requests-oauth2client ---------------------------------------------------------------


@pytest.fixture
def live(app):
    server = LiveServer(app)
    yield server
    server.close()


def test_requests_oauth2client(live, app):
    from requests_oauth2client import OAuth2Client
    from requests_oauth2client.exceptions import InvalidGrant

    market = make_market(redirect_uris=LIVE_REDIRECT)
    # Strict: the discovery document's issuer must be the one expected, and every RFC 9207 `iss`
    # on the way back must match it (testing=True only lets the endpoints be http on loopback).
    oauth = OAuth2Client.from_discovery_endpoint(
        live.url + "/.well-known/oauth-authorization-server", issuer=live.url,
        client_id=market.client.client_id, client_secret=market.secret, testing=True)
    assert oauth.issuer == live.url and oauth.token_endpoint == live.url + "/oauth-v1/token"
    assert oauth.authorization_response_iss_parameter_supported is True

    request = oauth.authorization_request(scope="companyinformation customer", redirect_uri=LIVE_REDIRECT,
                                          access_type="offline")
    assert request.code_challenge_method == "S256"
    callback = browser_consent(browser_login(live.url, market.user.email), str(request.uri))
    response = request.validate_callback(callback)  # state and iss checked by the library
    token = oauth.authorization_code(response)
    assert token.token_type.lower() == "bearer" and token.refresh_token and token.scope == "companyinformation customer"

    introspected = oauth.introspect_token(token.access_token, token_type_hint="made_up")
    assert introspected["active"] is True and introspected["client_id"] == market.client.client_id

    refreshed = oauth.refresh_token(token.refresh_token)
    assert refreshed.access_token != token.access_token and refreshed.refresh_token != token.refresh_token

    assert oauth.revoke_token(refreshed.refresh_token, token_type_hint="no_such_hint") is True
    assert oauth.introspect_token(refreshed.access_token) == {"active": False}
    with pytest.raises(InvalidGrant):
        oauth.refresh_token(refreshed.refresh_token)


def test_requests_oauth2client_refuses_a_foreign_issuer(live):
    from requests_oauth2client import OAuth2Client
    from requests_oauth2client.client import InvalidParam

    with pytest.raises(InvalidParam):
        OAuth2Client.from_discovery_endpoint(live.url + "/.well-known/oauth-authorization-server",
                                             issuer="https://elsewhere.example", client_id="x", client_secret="y",
                                             testing=True)
