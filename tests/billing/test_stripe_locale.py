"""Issue Q: Buy and the billing portal ask Stripe for the reader's language (`locale`), so
Checkout and the portal speak it too: Swedish unless the reader chose English."""
import pytest

from market.billing import gateway
from models import User
from tests.billing.conftest import sandbox_config
from tests.billing.test_purchase import buy, make_shop


@pytest.fixture
def app_config(sandbox, live_port):
    return sandbox_config(sandbox, live_port)


@pytest.mark.parametrize("language, expected", [("sv", "sv"), ("en", "en"), (None, "sv")])
def test_buy_and_the_billing_portal_pass_the_readers_language(market, language, expected):
    listing, plan, buyer = make_shop(market)
    User.update(language=None).where(User.id == buyer.id).execute()  # no saved choice: the browser's
    http = market.login(buyer.email)
    http.headers["Accept-Language"] = language or ""
    response = buy(market, http, listing.slug)
    assert response.status_code == 303
    stripe = gateway.stripe_client(market.app.config)
    session = stripe.v1.checkout.sessions.retrieve(response.headers["Location"].rsplit("/", 1)[1])
    assert session.locale == expected
    page = market.browser().get(response.headers["Location"], timeout=10).text
    assert (">Prenumerera</button>" if expected == "sv" else ">Subscribe</button>") in page
    portal = market.post(http, "/account/billing-portal")
    assert portal.status_code == 303
    portal_page = market.browser().get(portal.headers["Location"], timeout=10).text
    assert ("<h1>Fakturering</h1>" if expected == "sv" else "<h1>Billing</h1>") in portal_page
