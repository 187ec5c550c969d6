"""The authorization endpoint and the consent page (QUALITY.md 1, 2, 7, 12)."""

from market.core import scopes
from models import AuthorizationCode, Connection, User
from tests import factories
from tests.oauth.test_oauth_support import REDIRECT_URI, auth_params, consent, make_market, query_of

BAD_REDIRECT_URIS = [
    REDIRECT_URI + "/",                                   # trailing slash
    REDIRECT_URI + "?extra=1",                            # extra query
    "https://evil.example.test/callback",                 # other host
    REDIRECT_URI + "#fragment",                           # fragment
    "http://client.example.test/callback",                # http, not loopback
    "https://client.example.test/call",                   # a prefix of the registered one
]


def test_redirect_uri_must_match_exactly(client, auth):
    market = make_market()
    auth.login(market.user.email)
    for redirect_uri in BAD_REDIRECT_URIS:
        response = client.get("/oauth-v1/auth", query_string=auth_params(market, redirect_uri=redirect_uri))
        assert response.status_code == 400, redirect_uri
        assert "Location" not in response.headers
        assert "could not be accepted" in response.get_data(as_text=True)
    # Not even a visitor is sent anywhere.
    auth.logout()
    for redirect_uri in BAD_REDIRECT_URIS:
        response = client.get("/oauth-v1/auth", query_string=auth_params(market, redirect_uri=redirect_uri))
        assert response.status_code == 400 and "Location" not in response.headers


def test_registered_http_uri_on_a_public_host_is_never_used(client, auth):
    market = make_market(redirect_uris="http://client.example.test/callback")
    auth.login(market.user.email)
    response = client.get("/oauth-v1/auth", query_string=auth_params(
        market, redirect_uri="http://client.example.test/callback"))
    assert response.status_code == 400 and "Location" not in response.headers


def test_loopback_http_redirect_uri_is_allowed(client, auth):
    market = make_market(redirect_uris="http://127.0.0.1:5001/callback")
    auth.login(market.user.email)
    response = client.get("/oauth-v1/auth", query_string=auth_params(
        market, redirect_uri="http://127.0.0.1:5001/callback"))
    assert response.status_code == 200


def test_unknown_client_gets_an_error_page(client, auth):
    market = make_market()
    auth.login(market.user.email)
    for client_id in ["no-such-client", "", "x" * 500]:
        response = client.get("/oauth-v1/auth", query_string=auth_params(market, client_id=client_id))
        assert response.status_code == 400
        assert "Location" not in response.headers


def test_bad_scope_redirects_with_invalid_scope_state_and_iss(client, auth):
    market = make_market(scopes="companyinformation")
    auth.login(market.user.email)
    for scope in ["invoice", "no-such-scope", "companyinformation bookkeeping"]:
        response = client.get("/oauth-v1/auth", query_string=auth_params(market, scope=scope, state="xyz 1"))
        assert response.status_code == 302
        location = response.headers["Location"]
        assert location.startswith(REDIRECT_URI + "?")
        query = query_of(location)
        assert query["error"] == "invalid_scope"
        assert query["state"] == "xyz 1"
        assert query["iss"] == "http://localhost"
        assert "code" not in query


def test_response_type_token_is_unsupported_by_redirect(client, auth):
    market = make_market()
    auth.login(market.user.email)
    response = client.get("/oauth-v1/auth", query_string=auth_params(market, response_type="token"))
    assert response.status_code == 302
    query = query_of(response.headers["Location"])
    assert query["error"] == "unsupported_response_type"
    assert query["state"] == "st-123" and query["iss"] == "http://localhost"


def test_response_type_token_with_a_bad_redirect_uri_does_not_redirect(client, auth):
    market = make_market()
    auth.login(market.user.email)
    response = client.get("/oauth-v1/auth", query_string=auth_params(
        market, response_type="token", redirect_uri="https://evil.example.test/"))
    assert response.status_code == 400 and "Location" not in response.headers


def test_duplicated_parameters_are_refused(client, auth):
    market = make_market()
    auth.login(market.user.email)
    query = auth_params(market)
    for name in ["client_id", "redirect_uri", "scope", "state", "code_challenge", "response_type"]:
        value = query.get(name, "x" * 43)
        pairs = [(k, v) for k, v in query.items() if k != name] + [(name, value), (name, value)]
        response = client.get("/oauth-v1/auth", query_string=pairs)
        assert response.status_code == 400, name
        assert "Location" not in response.headers
        assert "invalid_request" in response.get_data(as_text=True)


def test_a_visitor_is_sent_to_login_and_back(client, auth):
    market = make_market()
    response = client.get("/oauth-v1/auth", query_string=auth_params(market))
    assert response.status_code == 303
    location = response.headers["Location"]
    assert location.startswith("/login?next=")
    # Logging in with that next= brings the visitor back to the consent page with every parameter.
    from urllib.parse import parse_qs, urlsplit

    next_url = parse_qs(urlsplit(location).query)["next"][0]
    assert next_url.startswith("/oauth-v1/auth?")
    assert query_of(next_url) == auth_params(market)
    login = client.get(location)
    assert 'name="csrf_token"' in login.get_data(as_text=True)


def test_consent_page_shows_app_developer_and_scopes_in_plain_words(client, auth):
    market = make_market()
    auth.login(market.user.email)
    response = client.get("/oauth-v1/auth", query_string=auth_params(market))
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert market.app.name in page and market.app.developer.name in page
    assert scopes.SCOPES["customer"] in page
    assert "Read your company&#39;s name" in page or "Read your company's name" in page
    assert scopes.SCOPES["invoice"] not in page  # not asked for
    assert '<button name="decision" value="allow"' in page
    assert '<button name="decision" value="deny"' in page
    assert 'name="csrf_token"' in page
    assert page.count("<h1") == 1
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_consent_requires_the_csrf_token(client, auth):
    market = make_market()
    auth.login(market.user.email)
    response = client.post("/oauth-v1/auth", query_string=auth_params(market), data={"decision": "allow"})
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert AuthorizationCode.select().count() == 0
    assert Connection.select().count() == 0


def test_allow_creates_the_connection_and_redirects_with_a_code(client, auth):
    market = make_market()
    response = consent(client, auth, market)
    assert response.status_code == 302
    query = query_of(response.headers["Location"])
    assert set(query) == {"code", "state", "iss"}
    assert query["state"] == "st-123" and query["iss"] == "http://localhost"
    connection = Connection.get(Connection.company == market.company, Connection.app == market.app)
    assert set(connection.scopes.split()) == {"companyinformation", "customer"}
    assert connection.consented_by_id == market.user.id and connection.revoked_at is None


def test_deny_redirects_with_access_denied(client, auth):
    market = make_market()
    response = consent(client, auth, market, decision="deny")
    assert response.status_code == 302
    query = query_of(response.headers["Location"])
    assert query["error"] == "access_denied"
    assert query["state"] == "st-123" and query["iss"] == "http://localhost"
    assert "code" not in query
    assert Connection.select().count() == 0


def test_no_decision_changes_nothing(client, auth):
    market = make_market()
    auth.login(market.user.email)
    response = auth.post("/oauth-v1/auth", query_string=auth_params(market), data={"decision": "maybe"})
    assert response.status_code == 400 and "Location" not in response.headers
    assert Connection.select().count() == 0


def test_asking_again_for_granted_scopes_skips_the_page(client, auth):
    market = make_market()
    consent(client, auth, market)
    again = client.get("/oauth-v1/auth", query_string=auth_params(market, scope="customer"))
    assert again.status_code == 302
    assert "code" in query_of(again.headers["Location"])
    # A scope not granted yet asks again, and the grant widens to the union.
    wider = client.get("/oauth-v1/auth", query_string=auth_params(market, scope="invoice"))
    assert wider.status_code == 200 and scopes.SCOPES["invoice"] in wider.get_data(as_text=True)
    consent(client, auth, market, login=False, scope="invoice")
    connection = Connection.get(Connection.company == market.company)
    assert set(connection.scopes.split()) == {"companyinformation", "customer", "invoice"}


def _refused(client, auth, market, email):
    auth.login(email)
    page = client.get("/oauth-v1/auth", query_string=auth_params(market))
    posted = auth.post("/oauth-v1/auth", query_string=auth_params(market), data={"decision": "allow"})
    return page, posted


def test_a_member_cannot_consent(client, auth):
    market = make_market()
    factories.user(email="member@example.test", company=market.company, company_role="member")
    page, posted = _refused(client, auth, market, "member@example.test")
    assert page.status_code == 403
    assert "Ask an admin" in page.get_data(as_text=True)
    query = query_of(posted.headers["Location"])
    assert query["error"] == "access_denied" and query["error_description"]
    assert query["state"] == "st-123" and query["iss"] == "http://localhost"
    assert Connection.select().count() == 0 and AuthorizationCode.select().count() == 0


def test_a_developer_only_user_cannot_consent(client, auth):
    market = make_market()
    factories.developer_user(email="dev@example.test")
    page, posted = _refused(client, auth, market, "dev@example.test")
    assert page.status_code == 403
    assert query_of(posted.headers["Location"])["error"] == "access_denied"
    assert AuthorizationCode.select().count() == 0


def test_a_company_without_entitlement_cannot_consent_and_is_told_to_buy(client, auth):
    market = make_market(price_ore=19900)
    page, posted = _refused(client, auth, market, market.user.email)
    assert page.status_code == 403
    html = page.get_data(as_text=True)
    assert f'href="/apps/{market.app.slug}"' in html and "Buy" in html
    query = query_of(posted.headers["Location"])
    assert query["error"] == "access_denied"
    assert "subscription" in query["error_description"]
    assert Connection.select().count() == 0 and AuthorizationCode.select().count() == 0


def test_a_paid_app_with_an_active_subscription_may_be_connected(client, auth):
    from models import Subscription

    market = make_market(price_ore=19900)
    Subscription.create(company=market.company, app=market.app, status="active", price_ore=19900)
    response = consent(client, auth, market)
    assert response.status_code == 302 and "code" in query_of(response.headers["Location"])


def test_public_client_must_send_an_s256_challenge(client, auth):
    market = make_market(is_public=True)
    auth.login(market.user.email)
    response = client.get("/oauth-v1/auth", query_string=auth_params(market))
    query = query_of(response.headers["Location"])
    assert query["error"] == "invalid_request" and query["iss"] == "http://localhost"


def test_plain_pkce_is_refused_at_the_authorization_endpoint(client, auth):
    market = make_market()
    auth.login(market.user.email)
    challenge = "a" * 43
    for extra in [{"code_challenge": challenge, "code_challenge_method": "plain"},
                  {"code_challenge": challenge}]:  # no method means plain (RFC 7636 §4.3)
        response = client.get("/oauth-v1/auth", query_string=auth_params(market, **extra))
        assert response.status_code == 302
        assert query_of(response.headers["Location"])["error"] == "invalid_request"


def test_deleted_consenting_user_does_not_break_the_page(client, auth):
    market = make_market()
    consent(client, auth, market)
    other = factories.user(email="second@example.test", company=market.company, company_role="admin")
    User.delete().where(User.id == market.user.id).execute()
    client.delete_cookie("market_session")
    auth.login(other.email)
    response = client.get("/oauth-v1/auth", query_string=auth_params(market))
    assert response.status_code == 302


def test_the_consent_page_and_a_refusal_speak_swedish_but_the_client_reads_english(client, auth):
    market = make_market()
    auth.login(market.user.email)
    client.set_cookie("lang", "sv")  # beats the test user's saved English
    page = client.get("/oauth-v1/auth", query_string=auth_params(market)).get_data(as_text=True)
    assert '<html lang="sv"' in page
    assert "Tillåt" in page and "Läsa ditt företags namn, organisationsnummer, bransch och storlek." in page
    assert scopes.SCOPES["companyinformation"] not in page
    auth.logout()
    factories.user(email="member@example.test", company=market.company, company_role="member")
    page, posted = _refused(client, auth, market, "member@example.test")
    assert page.status_code == 403
    assert "Be en administratör att ansluta den." in page.get_data(as_text=True)
    assert query_of(posted.headers["Location"])["error_description"] == (
        "Only an admin of your company can connect apps. Ask an admin to connect it.")
