"""The token, revocation, introspection and metadata endpoints (QUALITY.md 3, 4, 6, 7, 8, 10, 11)."""
import datetime

import pytest

from models import OAuthToken
from tests import factories
from tests.oauth.test_oauth_support import (
    REDIRECT_URI,
    api_token_works,
    basic,
    get_code,
    make_market,
    pkce_pair,
    redeem,
    refresh,
)


def test_token_response_has_ttl_bearer_scope_and_no_store(app, client, auth):
    market = make_market()
    response = redeem(client, market, get_code(client, auth, market))
    assert response.status_code == 200
    body = response.get_json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600  # OAUTH_ACCESS_TOKEN_TTL, not Authlib's ten days
    assert body["scope"] == "companyinformation customer"
    assert "refresh_token" not in body  # no access_type=offline
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"
    row = OAuthToken.get()
    assert row.access_token_hash != body["access_token"] and body["access_token"] not in row.access_token_hash
    assert row.refresh_token_hash is None
    assert api_token_works(app, body["access_token"])


def test_expires_in_follows_the_setting_and_the_token_dies_then(app, client, auth, time_machine):
    app.config["OAUTH_ACCESS_TOKEN_TTL"] = 900
    time_machine.move_to(datetime.datetime(2026, 3, 1, 12, 0), tick=False)
    market = make_market()
    body = redeem(client, market, get_code(client, auth, market)).get_json()
    assert body["expires_in"] == 900
    time_machine.move_to(datetime.datetime(2026, 3, 1, 12, 14, 59), tick=False)
    assert api_token_works(app, body["access_token"])
    time_machine.move_to(datetime.datetime(2026, 3, 1, 12, 15, 0), tick=False)
    assert not api_token_works(app, body["access_token"])


def test_expired_token_gets_401_invalid_token_from_require_oauth(app, client, auth, time_machine):
    time_machine.move_to(datetime.datetime(2026, 3, 1, 12, 0), tick=False)
    market = make_market()
    body = redeem(client, market, get_code(client, auth, market)).get_json()
    time_machine.move_to(datetime.datetime(2026, 3, 1, 13, 1), tick=False)
    from werkzeug.exceptions import HTTPException

    from market.oauth import web as oauth2

    with app.test_request_context("/api/v1/me", headers={"Authorization": "Bearer " + body["access_token"]}):
        with pytest.raises(HTTPException) as raised:
            oauth2.require_oauth(lambda: "reached")()
    response = raised.value.get_response()
    assert response.status_code == 401
    assert response.get_json()["ErrorInformation"]["code"] == "invalid_token"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_refresh_token_only_with_access_type_offline(client, auth):
    market = make_market()
    body = redeem(client, market, get_code(client, auth, market, access_type="offline")).get_json()
    assert body["refresh_token"] and body["refresh_token"] != body["access_token"]
    row = OAuthToken.get()
    assert row.refresh_expires_at - row.issued_at == datetime.timedelta(days=45)


def test_client_secret_post_works_too(client, auth):
    market = make_market()
    code = get_code(client, auth, market)
    response = client.post("/oauth-v1/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
        "client_id": market.client.client_id, "client_secret": market.secret})
    assert response.status_code == 200 and response.get_json()["access_token"]


def test_wrong_client_secret_is_401_invalid_client(client, auth):
    market = make_market()
    code = get_code(client, auth, market)
    response = redeem(client, market, code, secret="wrong")
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"
    post = client.post("/oauth-v1/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
        "client_id": market.client.client_id, "client_secret": "wrong"})
    assert post.status_code == 401 and post.get_json()["error"] == "invalid_client"
    assert OAuthToken.select().count() == 0
    # The code was not burnt by the failed attempts.
    assert redeem(client, market, code).status_code == 200


def test_other_grant_types_are_unsupported(client):
    market = make_market()
    for grant_type in ["password", "client_credentials", "implicit", "", "urn:x"]:
        response = client.post("/oauth-v1/token", data={"grant_type": grant_type, "username": "anna",
                                                         "password": "demo-pass-123"},
                               headers=basic(market.client.client_id, market.secret))
        assert response.status_code == 400
        assert response.get_json()["error"] == "unsupported_grant_type"


MALFORMED_BODIES = [
    {},
    {"grant_type": "authorization_code"},
    {"grant_type": "authorization_code", "code": ""},
    {"grant_type": "refresh_token"},
    {"grant_type": "refresh_token", "refresh_token": "nonsense"},
    {"grant_type": "authorization_code", "code": "x" * 5000, "redirect_uri": "\x00"},
]


def test_malformed_token_requests_get_an_rfc_error(client):
    market = make_market()
    for body in MALFORMED_BODIES:
        response = client.post("/oauth-v1/token", data=body,
                               headers=basic(market.client.client_id, market.secret))
        assert response.status_code in (400, 401), body
        assert response.get_json()["error"] in ("invalid_request", "invalid_grant", "unsupported_grant_type")


def test_garbage_client_authentication_is_invalid_client(client):
    make_market()
    for header in ["Basic", "Basic !!!", "Basic " + "x" * 300, "Bearer abc", "Basic Og=="]:
        response = client.post("/oauth-v1/token", data={"grant_type": "authorization_code", "code": "x"},
                               headers={"Authorization": header})
        assert response.status_code in (400, 401), header
        assert response.get_json()["error"] == "invalid_client"


def test_duplicated_token_parameters_are_refused(client, auth):
    market = make_market()
    code = get_code(client, auth, market)
    from werkzeug.datastructures import MultiDict

    data = MultiDict([("grant_type", "authorization_code"), ("code", code), ("code", code),
                      ("redirect_uri", REDIRECT_URI)])
    response = client.post("/oauth-v1/token", data=data,
                           headers=basic(market.client.client_id, market.secret))
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request"
    assert OAuthToken.select().count() == 0


def test_code_used_twice_fails_and_revokes_the_first_tokens(app, client, auth):
    market = make_market()
    code = get_code(client, auth, market, access_type="offline")
    first = redeem(client, market, code).get_json()
    assert api_token_works(app, first["access_token"])
    second = redeem(client, market, code)
    assert second.status_code == 400 and second.get_json()["error"] == "invalid_grant"
    assert not api_token_works(app, first["access_token"])
    assert refresh(client, market, first["refresh_token"]).get_json()["error"] == "invalid_grant"


def test_code_older_than_its_ttl_is_invalid_grant(client, auth, time_machine):
    time_machine.move_to(datetime.datetime(2026, 3, 1, 12, 0), tick=False)
    market = make_market()
    code = get_code(client, auth, market)
    time_machine.move_to(datetime.datetime(2026, 3, 1, 12, 10, 0), tick=False)  # OAUTH_CODE_TTL = 600
    response = redeem(client, market, code)
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_grant"
    assert OAuthToken.select().count() == 0


def test_code_just_inside_its_ttl_still_works(client, auth, time_machine):
    time_machine.move_to(datetime.datetime(2026, 3, 1, 12, 0), tick=False)
    market = make_market()
    code = get_code(client, auth, market)
    time_machine.move_to(datetime.datetime(2026, 3, 1, 12, 9, 59), tick=False)
    assert redeem(client, market, code).status_code == 200


def test_code_of_client_a_redeemed_by_b_is_invalid_grant(client, auth):
    market = make_market()
    other_app = factories.app_listing()
    other, other_secret = factories.oauth_client(other_app, redirect_uris=REDIRECT_URI, secret="other-secret")
    code = get_code(client, auth, market)
    response = client.post("/oauth-v1/token", data={"grant_type": "authorization_code", "code": code,
                                                     "redirect_uri": REDIRECT_URI},
                           headers=basic(other.client_id, other_secret))
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_grant"
    assert redeem(client, market, code).status_code == 200  # still A's


def test_code_with_another_redirect_uri_is_invalid_grant(client, auth):
    market = make_market(redirect_uris=REDIRECT_URI + "\nhttps://client.example.test/other")
    code = get_code(client, auth, market)
    for uri in ["https://client.example.test/other", REDIRECT_URI + "/", None]:
        response = redeem(client, market, code, redirect_uri=uri)
        assert response.status_code == 400 and response.get_json()["error"] == "invalid_grant", uri


def test_pkce_s256_round_trip(client, auth):
    market = make_market()
    verifier, challenge = pkce_pair()
    code = get_code(client, auth, market, code_challenge=challenge, code_challenge_method="S256")
    assert redeem(client, market, code, code_verifier=verifier).status_code == 200


def test_pkce_wrong_or_missing_verifier_is_refused(client, auth):
    market = make_market()
    verifier, challenge = pkce_pair()
    code = get_code(client, auth, market, code_challenge=challenge, code_challenge_method="S256")
    wrong = redeem(client, market, code, code_verifier=pkce_pair()[0])
    assert wrong.status_code == 400 and wrong.get_json()["error"] == "invalid_grant"
    missing = redeem(client, market, code)
    assert missing.status_code == 400 and missing.get_json()["error"] in ("invalid_request", "invalid_grant")
    assert OAuthToken.select().count() == 0


def test_verifier_for_a_code_without_challenge_is_invalid_grant(client, auth):
    market = make_market()
    code = get_code(client, auth, market)
    response = redeem(client, market, code, code_verifier=pkce_pair()[0])
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_grant"
    assert OAuthToken.select().count() == 0


def test_public_client_redeems_with_s256_and_no_secret(client, auth):
    market = make_market(is_public=True)
    verifier, challenge = pkce_pair()
    code = get_code(client, auth, market, code_challenge=challenge, code_challenge_method="S256")
    response = client.post("/oauth-v1/token", data={"grant_type": "authorization_code", "code": code,
                                                     "redirect_uri": REDIRECT_URI, "code_verifier": verifier,
                                                     "client_id": market.client.client_id})
    assert response.status_code == 200


def _offline_tokens(client, auth, market):
    return redeem(client, market, get_code(client, auth, market, access_type="offline")).get_json()


def test_revoking_a_refresh_token_kills_its_access_tokens(app, client, auth):
    market = make_market()
    tokens = _offline_tokens(client, auth, market)
    rotated = refresh(client, market, tokens["refresh_token"]).get_json()
    response = client.post("/oauth-v1/revoke", data={"token": tokens["refresh_token"],
                                                      "token_type_hint": "refresh_token"},
                           headers=basic(market.client.client_id, market.secret))
    assert response.status_code == 200
    assert not api_token_works(app, tokens["access_token"])
    assert not api_token_works(app, rotated["access_token"])
    assert refresh(client, market, rotated["refresh_token"]).get_json()["error"] == "invalid_grant"


def test_revoking_an_access_token_leaves_the_refresh_token(app, client, auth):
    market = make_market()
    tokens = _offline_tokens(client, auth, market)
    response = client.post("/oauth-v1/revoke", data={"token": tokens["access_token"]},
                           headers=basic(market.client.client_id, market.secret))
    assert response.status_code == 200
    assert not api_token_works(app, tokens["access_token"])
    assert refresh(client, market, tokens["refresh_token"]).status_code == 200


def test_revoking_an_unknown_token_is_200(client):
    market = make_market()
    response = client.post("/oauth-v1/revoke", data={"token": "never-issued"},
                           headers=basic(market.client.client_id, market.secret))
    assert response.status_code == 200


def test_revoking_another_clients_token_leaves_it_untouched(app, client, auth):
    market = make_market()
    tokens = _offline_tokens(client, auth, market)
    other, other_secret = factories.oauth_client(factories.app_listing(), secret="other-secret")
    response = client.post("/oauth-v1/revoke", data={"token": tokens["refresh_token"]},
                           headers=basic(other.client_id, other_secret))
    assert response.status_code == 200
    assert api_token_works(app, tokens["access_token"])
    assert OAuthToken.select().where(OAuthToken.revoked_at.is_null(False)).count() == 0


def test_revoke_needs_client_authentication(app, client, auth):
    market = make_market()
    tokens = _offline_tokens(client, auth, market)
    response = client.post("/oauth-v1/revoke", data={"token": tokens["access_token"]},
                           headers=basic(market.client.client_id, "wrong"))
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_client"
    assert api_token_works(app, tokens["access_token"])


def test_introspection_for_the_owning_client_only(client, auth, time_machine):
    time_machine.move_to(datetime.datetime(2026, 3, 1, 12, 0), tick=False)
    market = make_market()
    tokens = _offline_tokens(client, auth, market)
    mine = client.post("/oauth-v1/introspect", data={"token": tokens["access_token"]},
                       headers=basic(market.client.client_id, market.secret)).get_json()
    assert mine["active"] is True and mine["client_id"] == market.client.client_id
    assert mine["scope"] == "companyinformation customer"
    assert mine["exp"] == int(datetime.datetime(2026, 3, 1, 13, 0, tzinfo=datetime.UTC).timestamp())
    assert mine["sub"] == market.company.public_id
    as_refresh = client.post("/oauth-v1/introspect", data={"token": tokens["refresh_token"]},
                             headers=basic(market.client.client_id, market.secret)).get_json()
    assert as_refresh["active"] is True and as_refresh["token_type"] == "refresh_token"
    refresh(client, market, tokens["refresh_token"])
    rotated = client.post("/oauth-v1/introspect", data={"token": tokens["refresh_token"]},
                          headers=basic(market.client.client_id, market.secret)).get_json()
    assert rotated == {"active": False}
    other, other_secret = factories.oauth_client(factories.app_listing(), secret="other-secret")
    theirs = client.post("/oauth-v1/introspect", data={"token": tokens["access_token"]},
                         headers=basic(other.client_id, other_secret))
    assert theirs.status_code == 200 and theirs.get_json() == {"active": False}
    time_machine.move_to(datetime.datetime(2026, 3, 1, 13, 0), tick=False)
    expired = client.post("/oauth-v1/introspect", data={"token": tokens["access_token"]},
                          headers=basic(market.client.client_id, market.secret)).get_json()
    assert expired == {"active": False}


def test_metadata_document(client):
    response = client.get("/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    meta = response.get_json()
    assert meta["issuer"] == "http://localhost"
    assert meta["authorization_endpoint"] == "http://localhost/oauth-v1/auth"
    assert meta["token_endpoint"] == "http://localhost/oauth-v1/token"
    assert meta["revocation_endpoint"] == "http://localhost/oauth-v1/revoke"
    assert meta["introspection_endpoint"] == "http://localhost/oauth-v1/introspect"
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert meta["response_types_supported"] == ["code"]
    assert set(meta["grant_types_supported"]) == {"authorization_code", "refresh_token"}
    assert {"client_secret_basic", "client_secret_post"} <= set(meta["token_endpoint_auth_methods_supported"])
    assert "customer" in meta["scopes_supported"] and "invoice" in meta["scopes_supported"]
    from authlib.oauth2.rfc8414 import AuthorizationServerMetadata

    AuthorizationServerMetadata(meta).validate()


def test_token_endpoint_answers_get_with_405(client):
    assert client.get("/oauth-v1/token").status_code == 405

