"""The active-customer count follows the events that change it, without a rebuild: the first
API call of a connection makes its company active; a revoke makes it inactive."""
from models import AppStats
from tests import factories


def _active(app_obj):
    return AppStats.get_by_id(app_obj.id).active_customers


def test_api_use_and_revoke_move_the_active_count(app, client):
    from market.oauth import connections as oauth2

    listing = factories.app_listing()
    company = factories.company()
    connection = factories.api_connection(company, listing)
    token = factories.issue_token(connection)
    assert _active(listing) == 0

    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert _active(listing) == 1

    with app.app_context():
        oauth2.revoke_connection(app.config, connection)
    assert _active(listing) == 0


def test_a_lapsed_company_is_not_counted_even_when_used(app, client):
    listing = factories.app_listing(price_ore=19900)  # paid, and the company has no subscription
    company = factories.company()
    token = factories.issue_token(factories.api_connection(company, listing))
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 403
    assert _active(listing) == 0
