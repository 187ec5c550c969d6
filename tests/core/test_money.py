"""market.core.money: one way to write an amount, parsing that gives the same öre back, and
moms and the 75/25 split rounded half up so the parts always add up (DESIGN.md §2, §10)."""
from decimal import Decimal

import pytest

from market.core import money

NBSP = "\u00a0"


@pytest.mark.parametrize("ore, number", [
    (0, "0"), (5, "0,05"), (50, "0,50"), (19900, "199"), (14950, "149,50"), (18688, "186,88"),
    (99999, "999,99"), (100000, "1" + NBSP + "000"), (199000, "1" + NBSP + "990"),
    (123450, "1" + NBSP + "234,50"), (123456700, "1" + NBSP + "234" + NBSP + "567"),
    (-1250, "-12,50"), (-19900, "-199"), (-123450, "-1" + NBSP + "234,50"),
])
def test_whole_kronor_have_no_decimals_others_two_and_thousands_a_no_break_space(ore, number):
    assert money.format_number(ore) == number
    assert money.format_kr(ore) == number + " kr"
    assert money.format_price(ore) == number + " kr/mån exkl. moms"


@pytest.mark.parametrize("ore, plain", [(0, "0.00"), (5, "0.05"), (19900, "199.00"), (123450, "1234.50"),
                                        (-1250, "-12.50"), (-5, "-0.05")])
def test_the_plain_format_is_for_machines(ore, plain):
    assert money.format_plain(ore) == plain


@pytest.mark.parametrize("ore, text", [(19900, "199"), (4950, "49,50"), (5, "0,05"), (123450, "1234,50")])
def test_a_price_field_gets_back_what_it_takes(ore, text):
    assert money.format_input(ore) == text
    assert money.parse_kronor(text) == ore


@pytest.mark.parametrize("ore", [0, 1, 5, 50, 99, 100, 4950, 14950, 19900, 100000, 123450, 999999999])
def test_every_written_amount_parses_back_to_its_ore(ore):
    assert money.parse_kronor(money.format_number(ore)) == ore
    assert money.parse_kronor(money.format_kr(ore)) == ore
    assert money.parse_kronor(money.format_input(ore)) == ore
    assert money.parse_kronor(money.format_plain(ore)) == ore


@pytest.mark.parametrize("text, ore", [("199", 19900), ("49,50", 4950), ("49.50", 4950), ("49,5", 4950),
                                       (" 1 234,50 ", 123450), ("199 kr", 19900), ("199kr", 19900),
                                       ("199 KR", 19900)])
def test_kronor_are_read_as_people_type_them(text, ore):
    assert money.parse_kronor(text) == ore


@pytest.mark.parametrize("text", ["", None, "abc", "-5", "49,505", "1e3", "12.345", ",50", "1234567890",
                                  "1,2,3", "kr"])
def test_what_is_no_amount_parses_to_none(text):
    assert money.parse_kronor(text) is None


@pytest.mark.parametrize("net, vat, expected", [
    (19900, 25, 4975), (14950, 25, 3738),  # 3737.5 → 3738: half up
    (159200, 25, 39800), (2, 25, 1),  # 0.5 → 1
    (1, 25, 0),  # 0.25 → 0
    (14950, 12, 1794), (10, 6, 1),  # 0.6 → 1
    (19900, 0, 0),
])
def test_moms_is_rounded_half_up_to_whole_ore(net, vat, expected):
    assert money.moms(net, vat) == expected
    assert money.with_moms(net, vat) == net + expected


def test_the_example_prices_gross():
    assert money.format_kr(money.with_moms(14950, 25)) == "186,88 kr"  # 186,875 rounds up
    assert money.format_kr(money.with_moms(159200, 25)) == "1" + NBSP + "990 kr"


@pytest.mark.parametrize("net, share", [(19900, 14925), (14950, 11213),  # 11212.5 → 11213
                                        (2, 2),  # 1.5 → 2
                                        (1, 1),  # 0.75 → 1
                                        (0, 0)])
def test_the_developers_share_is_rounded_half_up(net, share):
    assert money.developer_share(net, 25) == share


@pytest.mark.parametrize("gross, moms_ore", [(24875, 4975), (18688, 3738), (199000, 39800), (3, 1), (0, 0),
                                             (-10000, -2000), (-18688, -3738)])
def test_a_split_always_adds_up(gross, moms_ore):
    parts = money.split(gross, moms_ore, 25)
    assert parts["net_ore"] == gross - moms_ore
    assert parts["developer_share_ore"] == money.developer_share(parts["net_ore"], 25)
    assert parts["developer_share_ore"] + parts["platform_fee_ore"] + parts["moms_ore"] == parts["gross_ore"] == gross


def test_negative_amounts_round_half_away_from_zero_like_their_positives():
    assert money.round_half_up(Decimal("-0.5")) == -1 and money.round_half_up(Decimal("0.5")) == 1
    assert money.developer_share(-14950, 25) == -money.developer_share(14950, 25)
    assert money.split(-18688, -3738, 25)["developer_share_ore"] == -money.split(18688, 3738, 25)["developer_share_ore"]


def test_a_reversals_share_is_proportional_and_rounded_half_up():
    assert money.proportion(14925, 10000, 24875) == 6000  # 60 % of the payment refunded
    assert money.proportion(4975, 12438, 24875) == 2488  # 2487.6 → 2488
    assert money.proportion(3, 1, 2) == 2 and money.proportion(-3, 1, 2) == -2  # ±1.5: half away from zero
    assert money.proportion(4975, 100, 0) == 0


@pytest.mark.parametrize("fee, vat, percent, param", [(25, 25, Decimal("40.00"), "40"),
                                                     (25, 12, Decimal("33.04"), "33.04"),
                                                     (25, 0, Decimal("25.00"), "25"),
                                                     (20, 25, Decimal("36.00"), "36")])
def test_the_fee_percent_stripe_is_given(fee, vat, percent, param):
    assert money.fee_percent(fee, vat) == percent
    assert money.fee_percent_param(fee, vat) == param


def test_the_developers_percent_is_what_the_fee_leaves():
    assert money.developer_percent(25) == 75 and money.developer_percent(0) == 100
