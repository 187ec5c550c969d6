"""Issue O, Deliver "Account deletion": the company's last admin deletes the company; its
subscriptions are set to cancel at period end at Stripe (outside any transaction), its grants
revoked, its data erased but the ledger, kept with the company's name removed."""
import pytest

from market.billing import gateway
from models import Company, Connection, LedgerEntry, LoginSession, Subscription, User
from tests import factories
from tests.billing.conftest import sandbox_config
from tests.billing.test_purchase import buy, make_shop, pay


@pytest.fixture
def app_config(sandbox, live_port):
    return sandbox_config(sandbox, live_port)


def test_the_last_admin_deletes_the_company_and_stripe_cancels_at_period_end(market):
    listing, plan, buyer = make_shop(market)
    http = market.login(buyer.email)
    pay(market, buy(market, http, listing.slug).headers["Location"])
    market.settle()
    sub = Subscription.get()
    stripe_id, company_id = sub.stripe_subscription_id, buyer.company_id
    factories.connection(Company.get_by_id(company_id), listing)
    assert LedgerEntry.select().where(LedgerEntry.company == company_id).count() == 1
    assert market.post(http, "/account/delete", {"password": "wrong-password"}).status_code == 422
    assert Company.get_or_none(Company.id == company_id) is not None
    response = market.post(http, "/account/delete", {"password": factories.PASSWORD})
    assert response.status_code == 303
    stripe_sub = gateway.stripe_client(market.app.config).v1.subscriptions.retrieve(stripe_id)
    assert stripe_sub.cancel_at_period_end is True and stripe_sub.status == "active"
    market.settle()
    assert Company.get_or_none(Company.id == company_id) is None
    assert User.get_or_none(User.id == buyer.id) is None and LoginSession.select().count() == 0
    assert Connection.select().where(Connection.company == company_id).count() == 0
    ledger = LedgerEntry.get()
    assert ledger.company_id is None and ledger.gross_ore > 0  # kept, without the company
