"""Money: the market's only money arithmetic, parsing and formatting.

Amounts are integers in öre everywhere; only this module turns them into text or takes them
from text, and only this module rounds. Prices are net (excluding moms); moms and the 75/25
split follow DESIGN.md §2: the developer's share is round-half-up of (100 − fee) % of the
net, and everything else follows by subtraction, so the parts always add up.
"""
import functools
import re
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from babel.numbers import format_decimal

from market.core import words

NBSP = "\u00a0"  # thousands are grouped with a no-break space, so "1 234 kr" never wraps

_KRONOR = re.compile(r"(\d{1,9})(?:[.,](\d{1,2}))?")


def round_half_up(value):
    """A Fraction, Decimal or int, rounded half up to a whole number (of öre)."""
    value = Fraction(value)
    return int((value + Fraction(1, 2)) // 1) if value >= 0 else -round_half_up(-value)


def moms(net_ore, vat_percent):
    """The moms on a net amount, rounded half up to whole öre."""
    return round_half_up(Fraction(int(net_ore)) * Fraction(vat_percent) / 100)


def with_moms(net_ore, vat_percent):
    """Net plus moms: what the customer pays."""
    return int(net_ore) + moms(net_ore, vat_percent)


def developer_share(net_ore, platform_fee_percent):
    """(100 − PLATFORM_FEE_PERCENT) % of the net, rounded half up to whole öre."""
    return round_half_up(Fraction(int(net_ore)) * (100 - Fraction(platform_fee_percent)) / 100)


def developer_percent(platform_fee_percent):
    """The developer's part of the net in percent: what the platform's fee leaves (75 at 25)."""
    return 100 - platform_fee_percent


def split(gross_ore, moms_ore, platform_fee_percent):
    """A paid amount's parts: net, moms, gross, the developer's share and the platform's fee."""
    net = gross_ore - moms_ore
    developer = developer_share(net, platform_fee_percent)
    return {"gross_ore": gross_ore, "moms_ore": moms_ore, "net_ore": net,
            "developer_share_ore": developer, "platform_fee_ore": net - developer}


def proportion(part_ore, amount_ore, whole_ore):
    """part × amount / whole, rounded half up: a reversal's share of one part of a payment."""
    if not whole_ore:
        return 0
    return round_half_up(Fraction(int(part_ore)) * int(amount_ore) / int(whole_ore))


def fee_percent(platform_fee_percent, vat_percent):
    """The application fee percent of the invoice total that leaves the platform its share of
    the net plus the moms it remits: 100 − (100 − fee) × 100 / (100 + moms) (DESIGN.md §2),
    to two decimals as Stripe takes it."""
    exact = 100 - Fraction(100 - platform_fee_percent) * 100 / (100 + vat_percent)
    value = Decimal(exact.numerator) / Decimal(exact.denominator)
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def fee_percent_param(platform_fee_percent, vat_percent):
    """fee_percent as Stripe's form parameter: at most two decimals, no trailing zeros."""
    text = f"{fee_percent(platform_fee_percent, vat_percent):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def parse_kronor(text):
    """'199', '49,50', '49.50', '1 234,50' or '199 kr' → öre; None when it is no such amount."""
    text = str(text or "").strip().replace(" ", "").replace(NBSP, "")
    if text.lower().endswith("kr"):
        text = text[:-2]
    match = _KRONOR.fullmatch(text)
    if not match:
        return None
    return int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0"))


def format_number(ore, locale=words.DEFAULT):
    """Öre as the reader's language writes the amount, through Babel: whole kronor without
    decimals ("199"), any other amount with two; Swedish "1 234,50", English "1,234.50"."""
    ore = int(ore)
    if isinstance(locale, str):
        return _format_number(ore, locale)  # the same amount in the same language: the same text
    return _format_number.__wrapped__(ore, locale)


@functools.lru_cache(maxsize=4096)
def _format_number(ore, locale):
    pattern = "#,##0.00" if ore % 100 else "#,##0"
    return format_decimal(Decimal(ore) / 100, format=pattern, locale=_babel_locale(locale))


def format_kr(ore, locale=words.DEFAULT):
    """"199 kr", "149,50 kr", "1 234,50 kr" ("1,234.50 kr" in English, never "SEK"): every
    amount on every page, one way."""
    return f"{format_number(ore, locale)} kr"


def format_price(ore, locale=words.DEFAULT):
    """A plan's monthly price as the market shows it: "199 kr/mån exkl. moms"."""
    return words.say(locale, "%(amount)s/month excl. VAT", amount=format_kr(ore, locale))


def _babel_locale(locale):
    return words.supported(locale) or words.DEFAULT


def format_input(ore):
    """Öre as a price form takes it back: "199" or "49,50", with neither grouping nor unit, so
    a form shown again with its value saves the same price."""
    return format_number(ore, words.SWEDISH).replace(NBSP, "")


def format_plain(ore):
    """Öre as machine-readable kronor for CSV files and the API: "-12.50", "199.00"."""
    ore = int(ore)
    sign = "-" if ore < 0 else ""
    whole, part = divmod(abs(ore), 100)
    return f"{sign}{whole}.{part:02d}"
