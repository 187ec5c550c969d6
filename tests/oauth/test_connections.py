"""Connected apps: what a company gave which app, and withdrawing it (QUALITY.md 10, 30, 31)."""
import datetime

from market.core import scopes
from models import Connection, OAuthToken
from tests import factories
from tests.oauth.test_oauth_support import api_token_works, get_code, make_market, redeem, refresh


def _connected(client, auth):
    market = make_market()
    tokens = redeem(client, market, get_code(client, auth, market, access_type="offline")).get_json()
    return market, tokens


def test_page_lists_apps_with_scopes_who_and_when(client, auth):
    market, _ = _connected(client, auth)
    Connection.update(last_used_at=datetime.datetime(2026, 2, 3, 10, 0)).execute()
    page = client.get("/account/connections")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert f'data-app="{market.app.slug}"' in html and market.app.name in html
    assert scopes.SCOPES["customer"] in html
    assert market.user.email in html
    assert "3 Feb 2026" in html
    assert 'name="csrf_token"' in html and "Revoke" in html
    assert html.count("<h1") == 1


def test_htmx_request_gets_the_fragment(client, auth):
    _connected(client, auth)
    fragment = client.get("/account/connections", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in fragment and 'id="connections"' in fragment


def test_other_companies_connections_are_not_shown(client, auth):
    market, _ = _connected(client, auth)
    auth.logout()
    factories.customer_admin(email="other@example.test")
    auth.login("other@example.test")
    html = client.get("/account/connections").get_data(as_text=True)
    assert market.app.slug not in html and "No apps are connected" in html


def test_revoke_kills_every_token_of_the_grant(app, client, auth):
    market, tokens = _connected(client, auth)
    second = redeem(client, market, get_code(client, auth, market, login=False, access_type="offline")).get_json()
    response = auth.post(f"/account/connections/{market.app.slug}/revoke")
    assert response.status_code == 303
    for pair in (tokens, second):
        assert not api_token_works(app, pair["access_token"])
        assert refresh(client, market, pair["refresh_token"]).get_json()["error"] == "invalid_grant"
    assert Connection.get().revoked_at is not None
    assert OAuthToken.select().where(OAuthToken.revoked_at.is_null()).count() == 0
    assert market.app.slug not in client.get("/account/connections").get_data(as_text=True)


def test_revoke_by_htmx_returns_the_updated_list(client, auth):
    market, _ = _connected(client, auth)
    response = auth.post(f"/account/connections/{market.app.slug}/revoke", headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<html" not in html and market.app.slug not in html


def test_consenting_again_after_revoke_starts_a_fresh_grant(client, auth):
    market, _ = _connected(client, auth)
    auth.post(f"/account/connections/{market.app.slug}/revoke")
    page = client.get("/oauth-v1/auth", query_string={
        "response_type": "code", "client_id": market.client.client_id,
        "redirect_uri": "https://client.example.test/callback", "scope": "customer"})
    assert page.status_code == 200  # asks again, no silent re-grant
    get_code(client, auth, market, login=False, scope="customer")
    connection = Connection.get()
    assert connection.revoked_at is None and connection.scopes == "customer"


def test_revoke_needs_csrf(client, auth):
    market, tokens = _connected(client, auth)
    response = client.post(f"/account/connections/{market.app.slug}/revoke")
    assert response.status_code == 400
    assert Connection.get().revoked_at is None


def test_a_member_sees_but_cannot_revoke(app, client, auth):
    market, tokens = _connected(client, auth)
    auth.logout()
    factories.user(email="member@example.test", company=market.company, company_role="member")
    auth.login("member@example.test")
    html = client.get("/account/connections").get_data(as_text=True)
    assert market.app.slug in html and "Revoke access" not in html
    response = auth.post(f"/account/connections/{market.app.slug}/revoke")
    assert response.status_code == 403
    assert api_token_works(app, tokens["access_token"])


def test_another_company_cannot_revoke_or_probe(app, client, auth):
    market, tokens = _connected(client, auth)
    auth.logout()
    factories.customer_admin(email="other@example.test")
    auth.login("other@example.test")
    assert auth.post(f"/account/connections/{market.app.slug}/revoke").status_code == 404
    assert auth.post("/account/connections/no-such-app/revoke").status_code == 404
    assert api_token_works(app, tokens["access_token"])


def test_visitors_are_sent_to_login(client):
    response = client.get("/account/connections")
    assert response.status_code in (302, 303) and "/login" in response.headers["Location"]
    assert client.post("/account/connections/x/revoke").status_code in (302, 303, 400)


def test_developer_without_company_gets_403(client, auth):
    factories.developer_user(email="dev@example.test")
    auth.login("dev@example.test")
    assert client.get("/account/connections").status_code == 403


def test_revoke_tells_the_app_once(client, auth):
    """The customer's Revoke queues one signed `connection.revoked` for the app (DESIGN.md §6);
    revoking again (nothing left to revoke) queues nothing more."""
    import json

    from models import App, AppNotification

    market, _ = _connected(client, auth)
    App.update(webhook_url="https://client.example.test/notifications").where(App.id == market.app.id).execute()
    auth.post(f"/account/connections/{market.app.slug}/revoke")
    auth.post(f"/account/connections/{market.app.slug}/revoke")
    events = list(AppNotification.select().where(AppNotification.type == "connection.revoked"))
    assert len(events) == 1
    assert events[0].app_id == market.app.id
    assert json.loads(events[0].payload)["type"] == "connection.revoked"
