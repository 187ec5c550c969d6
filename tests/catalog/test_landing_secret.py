"""The landing secret in one function (DESIGN.md §6): from the app or its OAuth client, the
same secret the activation link, the app's notifications and the credentials page use."""
from market.catalog import listings
from market.core import credentials
from tests import factories


def test_the_app_and_its_client_give_the_same_landing_secret(app):
    listing = factories.app_listing()
    client, _ = factories.oauth_client(listing)
    secret = listings.landing_secret("k", listing)
    assert secret == listings.landing_secret("k", client) == credentials.landing_secret("k", client.client_id)


def test_an_app_without_a_client_has_no_landing_secret(app):
    assert listings.landing_secret("k", factories.app_listing()) is None
