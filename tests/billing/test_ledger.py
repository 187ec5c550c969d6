"""The ledger's arithmetic and sums (QUALITY.md 22): every row adds up to the öre, the
developer gets (100 − PLATFORM_FEE_PERCENT) % of the net rounded half up, and the totals the
dashboards show are sums over the rows."""
import datetime
from decimal import Decimal

from market.billing import ledger
from market.core import money
from models import LedgerEntry
from tests import factories


def test_fee_percent_leaves_the_platform_its_share_and_the_moms():
    assert money.fee_percent(25, 25) == Decimal("40")
    assert money.fee_percent(25, 0) == Decimal("25")
    assert money.fee_percent(30, 25) == Decimal("44")
    assert money.fee_percent(25, 12) == Decimal("33.04")  # 100 − 7500/112 = 33.0357… → 33.04
    assert money.fee_percent_param(25, 25) == "40"
    assert money.fee_percent_param(25, 12) == "33.04"


def test_the_worked_example_of_the_design():
    assert money.split(24875, 4975, 25) == {"gross_ore": 24875, "moms_ore": 4975, "net_ore": 19900,
                                            "developer_share_ore": 14925, "platform_fee_ore": 4975}


def test_every_split_adds_up_and_rounds_half_up():
    assert money.developer_share(2, 25) == 2  # 1.5 → 2
    assert money.developer_share(19901, 25) == 14926  # 14925.75
    assert money.developer_share(10, 25) == 8  # 7.5 → 8, never banker's 8/7 flip-flop
    assert money.developer_share(14, 25) == 11  # 10.5 → 11
    for net in range(0, 3000, 7):
        for fee in (0, 25, 30):
            moms = (net * 25 + 50) // 100
            row = money.split(net + moms, moms, fee)
            assert row["net_ore"] + row["moms_ore"] == row["gross_ore"]
            assert row["developer_share_ore"] + row["platform_fee_ore"] + row["moms_ore"] == row["gross_ore"]
            exact = Decimal(net) * (100 - fee) / 100
            assert abs(row["developer_share_ore"] - exact) <= Decimal("0.5")


def test_invoice_moms_from_current_shapes():
    assert ledger.invoice_moms({"total": 24875, "total_taxes": [{"amount": 4975}]}) == 4975
    assert ledger.invoice_moms({"total": 24875, "total_excluding_tax": 19900}) == 4975
    assert ledger.invoice_moms({"total": 19900, "total_taxes": []}) == 0


def _entry(ref, developer, app, net, moms, when):
    amounts = money.split(net + moms, moms, 25)
    return LedgerEntry.create(kind="payment", app=app, developer=developer, stripe_ref=ref,
                              occurred_at=when, stripe_fee_ore=amounts["platform_fee_ore"] + moms, **amounts)


def test_earnings_and_revenue_are_sums_over_the_ledger(app):
    mine, theirs = factories.developer(), factories.developer()
    my_app = factories.app_listing(developer_obj=mine, price_ore=19900)
    their_app = factories.app_listing(developer_obj=theirs, price_ore=9900)
    june, july = datetime.datetime(2026, 6, 15), datetime.datetime(2026, 7, 15)
    _entry("in_1", mine, my_app, 19900, 4975, june)
    _entry("in_2", mine, my_app, 19901, 4975, july)
    _entry("in_3", theirs, their_app, 9900, 2475, july)
    assert ledger.developer_earnings(mine) == 14925 + 14926
    assert ledger.developer_earnings(mine, since=datetime.datetime(2026, 7, 1)) == 14926
    assert ledger.developer_earnings(mine, until=datetime.datetime(2026, 7, 1)) == 14925
    assert ledger.developer_earnings(theirs) == 7425
    assert ledger.platform_revenue() == 4975 + 4975 + 2475
    assert ledger.platform_revenue(since=datetime.datetime(2026, 7, 1)) == 4975 + 2475
    totals = ledger.totals()
    assert totals["developer"] + totals["platform"] + totals["moms"] == totals["gross"]
    assert ledger.developer_earnings(factories.developer()) == 0
