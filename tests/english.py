"""What the suite's reader sees: the conftest's client asks for English (issue Q), so a test
that writes the amount or the date it expects on a page writes it as English does."""
from market.core import clock, money


def day(when):
    """"16 Dec 2026"."""
    return clock.format_day(when, "en")


def kr(ore):
    """"1,234.50 kr", "199 kr"."""
    return money.format_kr(ore, "en")


def price(ore):
    """"199 kr/month excl. VAT"."""
    return money.format_price(ore, "en")
