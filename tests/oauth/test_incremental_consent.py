"""Incremental consent (issue U, Deliver 2): after an approved revision widens the app's scopes,
the app sends the admin to /oauth-v1/auth with the wider scope; the consent page shows what was
granted apart from what is asked anew; Deny keeps the grant; Allow issues a pair carrying the
union, while tokens issued before keep their scopes; Connected apps shows each connection's
scopes; the API names a missing scope (403 insufficient_scope, WWW-Authenticate)."""
import re

from market.catalog import revisions
from models import App, Connection, OAuthClient
from tests.oauth.test_oauth_support import REDIRECT_URI, consent, get_code, make_market, query_of, redeem

FIRST = "companyinformation customer"
WIDER = "companyinformation customer invoice"


def scopes_in(page, which):
    match = re.search(rf'<ul[^>]*data-scopes="{which}"[^>]*>(.*?)</ul>', page, re.S)
    assert match, page
    return re.findall(r'<li data-scope="([^"]+)"', match.group(1))


def widen_by_revision(market):
    """The developer adds `invoice` to the integration; the admin approves the revision."""
    App.update(landing_url="https://landing.example.test/").where(App.id == market.app.id).execute()
    listing = App.get_by_id(market.app.id)
    waits = revisions.edit_integration(listing, {"redirect_uris": REDIRECT_URI, "landing_url": listing.landing_url,
                                                 "webhook_url": ""}, WIDER.split())
    assert waits
    revisions.approve(App.get_by_id(listing.id))
    assert OAuthClient.get_by_id(market.client.id).scopes.split() == WIDER.split()


def api_status(client, token, path):
    return client.get(path, headers={"Authorization": f"Bearer {token}"})


def test_a_widened_scope_needs_new_consent_and_old_tokens_keep_their_scopes(client, auth):
    market = make_market(scopes=FIRST)
    old = redeem(client, market, get_code(client, auth, market, scope=FIRST)).get_json()
    assert old["scope"] == FIRST
    widen_by_revision(market)

    # The app asks for the wider scope: consent is asked again, for invoice alone, beside the grant.
    page = client.get("/oauth-v1/auth", query_string={
        "response_type": "code", "client_id": market.client.client_id, "redirect_uri": REDIRECT_URI,
        "scope": WIDER, "state": "more"})
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert scopes_in(text, "granted") == FIRST.split()
    assert scopes_in(text, "requested") == ["invoice"]

    # Deny: the existing grant and its tokens stay.
    denied = consent(client, auth, market, decision="deny", login=False, scope=WIDER)
    assert query_of(denied.headers["Location"])["error"] == "access_denied"
    assert Connection.get().scopes.split() == FIRST.split() and Connection.get().revoked_at is None
    assert api_status(client, old["access_token"], "/api/v1/companyinformation").status_code == 200

    # Allow: the grant holds the union and the new pair carries it.
    new = redeem(client, market, get_code(client, auth, market, login=False, scope=WIDER)).get_json()
    assert sorted(new["scope"].split()) == sorted(WIDER.split())
    assert sorted(Connection.get().scopes.split()) == sorted(WIDER.split())
    assert api_status(client, new["access_token"], "/api/v1/invoices").status_code == 200

    # The token issued before keeps its scopes: invoice is refused, named, with the RFC 6750 header.
    refused = api_status(client, old["access_token"], "/api/v1/invoices")
    assert refused.status_code == 403
    assert "insufficient_scope" in refused.get_json()["ErrorInformation"]["message"]
    assert "'invoice'" in refused.get_json()["ErrorInformation"]["message"]
    header = refused.headers["WWW-Authenticate"]
    assert 'error="insufficient_scope"' in header and 'scope="invoice"' in header
    assert api_status(client, old["access_token"], "/api/v1/companyinformation").status_code == 200


def test_asking_only_for_the_new_scope_issues_the_union(client, auth):
    market = make_market(scopes=FIRST)
    get_code(client, auth, market, scope="companyinformation")
    widen_by_revision(market)
    page = client.get("/oauth-v1/auth", query_string={
        "response_type": "code", "client_id": market.client.client_id, "redirect_uri": REDIRECT_URI,
        "scope": "invoice", "state": "s"}).get_data(as_text=True)
    assert scopes_in(page, "granted") == ["companyinformation"]
    assert scopes_in(page, "requested") == ["invoice"]
    pair = redeem(client, market, get_code(client, auth, market, login=False, scope="invoice")).get_json()
    assert sorted(pair["scope"].split()) == ["companyinformation", "invoice"]


def test_connected_apps_shows_each_connections_scopes(client, auth):
    market = make_market(scopes=FIRST)
    get_code(client, auth, market, scope=FIRST)
    page = client.get("/account/connections").get_data(as_text=True)
    row = re.search(rf'<tr data-app="{market.app.slug}">(.*?)</tr>', page, re.S).group(1)
    assert re.findall(r'<li data-scope="([^"]+)"', row) == FIRST.split()


def test_an_approved_revision_that_removes_a_scope_narrows_every_grant_at_once(client, auth):
    market = make_market(scopes=FIRST)
    App.update(landing_url="https://landing.example.test/").where(App.id == market.app.id).execute()
    pair = redeem(client, market, get_code(client, auth, market, scope=FIRST)).get_json()
    assert api_status(client, pair["access_token"], "/api/v1/customers").status_code == 200
    listing = App.get_by_id(market.app.id)
    assert revisions.edit_integration(listing, {"redirect_uris": REDIRECT_URI, "landing_url": listing.landing_url,
                                                "webhook_url": ""}, ["companyinformation"])
    # Until the admin approves, nothing changes.
    assert api_status(client, pair["access_token"], "/api/v1/customers").status_code == 200
    revisions.approve(App.get_by_id(listing.id))
    assert Connection.get().scopes == "companyinformation"
    refused = api_status(client, pair["access_token"], "/api/v1/customers")
    assert refused.status_code == 403 and 'scope="customer"' in refused.headers["WWW-Authenticate"]
    assert api_status(client, pair["access_token"], "/api/v1/companyinformation").status_code == 200
