"""Issue 17, attacks 1 and 2 and Deliver 1: an app's status gates everything. Only a published
app is consented to, redeems a code, refreshes, is introspected as active or calls the API; an
unpublished or suspended client never gets a redirect from /oauth-v1/auth; a suspended app's
tokens stop at once; the developer's own test company may try its unpublished app, marked."""
import datetime
import re

import pytest

from market.core import credentials
from models import App, AuthorizationCode, Company, Connection, OAuthClient, OAuthToken, User, utcnow
from tests import factories
from tests.accounts.test_hardening import confirmation_link
from tests.oauth.test_oauth_support import basic, get_code, make_market, redeem

PASSWORD = "long-enough-pw"
REDIRECT = "https://backup.example.test/callback"
SCOPES = ["companyinformation", "customer", "invoice"]


def _self_registered_draft(client, auth, slug="fortnox-backup"):
    """A new developer registers, makes a free app (never submitted) with a redirect URI and
    the scopes companyinformation customer invoice, and takes its client id and secret."""
    response = auth.post("/register", {"kind": "developer", "email": f"{slug}@vendor.test",
                                       "password": PASSWORD, "vendor_name": "Backup Vendor AB"})
    assert response.status_code == 303
    assert auth.post(confirmation_link(f"{slug}@vendor.test")).status_code == 303  # its address confirmed
    assert auth.post("/developer/apps/new", {"slug": slug, "name": "Fortnox Backup (official)",
                                             "tagline": "Backups", "description": "Plain."}).status_code == 303
    assert auth.post(f"/developer/apps/{slug}/integration", {
        "landing_url": "https://backup.example.test/landing", "redirect_uris": REDIRECT,
        "scopes": SCOPES}).status_code == 303
    page = auth.post(f"/developer/apps/{slug}/credentials/secret").get_data(as_text=True)
    if 'id="client-secret"' not in page:
        page = client.get(f"/developer/apps/{slug}/credentials").get_data(as_text=True)
    secret = re.search(r'id="client-secret">([^<]+)<', page)
    client_id = OAuthClient.get(OAuthClient.app == App.get(App.slug == slug)).client_id
    auth.logout()
    return App.get(App.slug == slug), client_id, secret.group(1) if secret else None


def _authorize_query(client_id, state="st"):
    return {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT,
            "scope": " ".join(SCOPES), "state": state}


def _earlier_token(connection, listing):
    """A token pair the old code minted before the gate (stored as the server stores it)."""
    client_row = OAuthClient.get(OAuthClient.app == listing)
    access, refresh = credentials.new_token(), credentials.new_token()
    now = utcnow()
    OAuthToken.create(client=client_row, connection=connection, family=credentials.new_token(16),
                      access_token_hash=credentials.token_hash(access),
                      refresh_token_hash=credentials.token_hash(refresh), scope=" ".join(SCOPES), issued_at=now,
                      access_expires_at=now + datetime.timedelta(hours=1),
                      refresh_expires_at=now + datetime.timedelta(days=45))
    return access, refresh


def _api(client, token):
    return client.get("/api/v1/companyinformation", headers={"Authorization": f"Bearer {token}"})


@pytest.mark.parametrize("status", ["draft", "rejected"])
def test_an_unreviewed_app_never_reaches_a_customers_data(client, auth, status):
    listing, client_id, secret = _self_registered_draft(client, auth)
    App.update(status=status).where(App.id == listing.id).execute()
    customer = factories.customer_admin(email="anna@customer.test")
    auth.login(customer.email)
    query = _authorize_query(client_id)

    page = client.get("/oauth-v1/auth", query_string=query)
    assert page.status_code == 403 and "Location" not in page.headers
    text = page.get_data(as_text=True)
    assert "not published" in text and 'name="decision"' not in text
    allowed = auth.post("/oauth-v1/auth", data={"decision": "allow"}, query_string=query)
    assert allowed.status_code == 403 and "Location" not in allowed.headers
    assert AuthorizationCode.select().count() == 0 and Connection.select().count() == 0

    # A token minted before the gate existed stops working: API, introspection and refresh.
    connection = factories.api_connection(customer.company, listing, scopes=" ".join(SCOPES))
    access, refresh = _earlier_token(connection, listing)
    response = _api(client, access)
    assert response.status_code == 401 and "ErrorInformation" in response.get_json()
    if secret:
        headers = basic(client_id, secret)
        assert client.post("/oauth-v1/introspect", data={"token": access}, headers=headers).get_json() == {
            "active": False}
        refreshed = client.post("/oauth-v1/token", data={"grant_type": "refresh_token", "refresh_token": refresh},
                                headers=headers)
        assert refreshed.status_code == 400 and refreshed.get_json()["error"] == "invalid_grant"
        assert "access_token" not in refreshed.get_json()


def test_an_anonymous_visitor_is_never_sent_to_a_draft_apps_redirect_uri(client, auth):
    listing, client_id, _ = _self_registered_draft(client, auth)
    response = client.get("/oauth-v1/auth", query_string=_authorize_query(client_id))
    assert response.status_code == 403 and "Location" not in response.headers
    assert "not published" in response.get_data(as_text=True)
    # Nor with a bad request that would otherwise be answered at the redirect URI.
    response = client.get("/oauth-v1/auth", query_string={**_authorize_query(client_id), "response_type": "token"})
    assert response.status_code == 403 and "Location" not in response.headers
    # Published, the same visitor goes to log in: a local redirect, never the app's URI.
    App.update(status="published").where(App.id == listing.id).execute()
    response = client.get("/oauth-v1/auth", query_string=_authorize_query(client_id))
    assert response.status_code == 303 and response.headers["Location"].startswith("/login")


def test_a_suspended_apps_tokens_stop_at_once(app, client, auth):
    market = make_market()
    code = get_code(client, auth, market, access_type="offline")
    tokens = redeem(client, market, code).get_json()
    assert _api(client, tokens["access_token"]).status_code == 200
    App.update(status="suspended").where(App.id == market.app.id).execute()

    assert _api(client, tokens["access_token"]).status_code == 401
    headers = basic(market.client.client_id, market.secret)
    for token in (tokens["access_token"], tokens["refresh_token"]):
        assert client.post("/oauth-v1/introspect", data={"token": token}, headers=headers).get_json() == {
            "active": False}
    refreshed = client.post("/oauth-v1/token", data={"grant_type": "refresh_token",
                                                     "refresh_token": tokens["refresh_token"]}, headers=headers)
    assert refreshed.status_code == 400 and refreshed.get_json()["error"] == "invalid_grant"
    page = client.get("/oauth-v1/auth", query_string={"response_type": "code", "client_id": market.client.client_id,
                                                       "redirect_uri": "https://client.example.test/callback",
                                                       "scope": "companyinformation", "state": "s"})
    assert page.status_code == 403 and "Location" not in page.headers


def test_a_code_issued_before_the_app_was_unpublished_cannot_be_redeemed(client, auth):
    market = make_market()
    code = get_code(client, auth, market)
    App.update(status="rejected").where(App.id == market.app.id).execute()
    response = redeem(client, market, code)
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_grant"
    assert OAuthToken.select().count() == 0


def test_the_developer_tries_its_own_draft_with_its_test_company_marked_unreviewed(client, auth):
    listing, client_id, secret = _self_registered_draft(client, auth)
    developer_user = User.get(User.email == "fortnox-backup@vendor.test")
    test_company = Company.get(Company.test_of_developer == listing.developer_id)
    assert test_company.name == "Backup Vendor AB (test)"
    assert test_company.org_number == f"TEST-{listing.developer_id}"
    assert developer_user.company_id == test_company.id and developer_user.company_role == "admin"

    auth.login(developer_user.email, PASSWORD)
    query = _authorize_query(client_id)
    page = client.get("/oauth-v1/auth", query_string=query)
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "data-unreviewed" in text
    assert "not reviewed by the App Market" in text
    allowed = auth.post("/oauth-v1/auth", data={"decision": "allow"}, query_string=query)
    assert allowed.status_code == 302 and allowed.headers["Location"].startswith(REDIRECT + "?code=")
    connection = Connection.get(Connection.app == listing)
    assert connection.company_id == test_company.id

    # Another developer's test company, or a customer, gets nothing of this draft.
    auth.logout()
    other = _self_registered_draft(client, auth, slug="other-app")
    assert other[0].developer_id != listing.developer_id
    auth.login("other-app@vendor.test", PASSWORD)
    page = client.get("/oauth-v1/auth", query_string=query)
    assert page.status_code == 403 and "Location" not in page.headers and "data-unreviewed" not in page.get_data(
        as_text=True)


def test_a_published_apps_consent_page_is_not_marked(client, auth):
    market = make_market()
    auth.login(market.user.email)
    page = client.get("/oauth-v1/auth", query_string={
        "response_type": "code", "client_id": market.client.client_id,
        "redirect_uri": "https://client.example.test/callback", "scope": "companyinformation", "state": "s"})
    assert page.status_code == 200 and "data-unreviewed" not in page.get_data(as_text=True)


def test_activation_of_an_unpublished_app_is_refused_but_the_test_company_may(client, auth):
    listing, _, _ = _self_registered_draft(client, auth)
    customer = factories.customer_admin(email="anna@customer.test")
    auth.login(customer.email)
    assert auth.post(f"/apps/{listing.slug}/activate").status_code == 404
    auth.logout()
    auth.login("fortnox-backup@vendor.test", PASSWORD)
    response = auth.post(f"/apps/{listing.slug}/activate")
    assert response.status_code == 303
    assert response.headers["Location"].startswith("https://backup.example.test/landing?")
    App.update(status="suspended").where(App.id == listing.id).execute()
    assert auth.post(f"/apps/{listing.slug}/activate").status_code == 403
