"""The ledger to the öre when no moms is charged (VAT_PERCENT 0): the fee percent is exactly
PLATFORM_FEE_PERCENT."""
import pytest

from models import LedgerEntry
from tests.billing.conftest import sandbox_config
from tests.billing.test_purchase import buy, make_shop, pay


@pytest.fixture
def app_config(sandbox, live_port):
    return sandbox_config(sandbox, live_port, VAT_PERCENT=0)


@pytest.fixture
def shop(market):
    return make_shop(market)


def test_ledger_at_zero_moms(market, shop):
    listing, plan, buyer = shop
    http = market.login(buyer.email)
    pay(market, buy(market, http, listing.slug).headers["Location"])
    market.settle()
    entry = LedgerEntry.get()
    assert (entry.net_ore, entry.moms_ore, entry.gross_ore) == (19900, 0, 19900)
    assert (entry.developer_share_ore, entry.platform_fee_ore) == (14925, 4975)
    assert entry.stripe_fee_ore == 4975 and entry.fee_mismatch is False
