"""Why billing says no: the refusals a customer, a developer or an admin reads.

They carry no HTTP status; the views map each kind to one (views/billing.py). A BuyRefused
that is neither of the two narrower kinds means "not now" (the view answers 409).

Each is a words.Refusal: its English msgid (marked with words.marked, so the catalogues must
translate it) and the values of its placeholders, so a page says it in the reader's language
(`said(refused)`); `.message` and `str()` are the English sentence, for logs, tests and the API.
A value may be a Phrase or a function of the locale: an amount or a date is written the way the
reader's language writes it.
"""
import datetime

from market.core import clock, money, words


def day(when):
    """A date (or a stored moment, put on Stockholm's calendar) in a refusal, as a function of
    the locale: "2027-01-31" in English, the way the forms take a date and the English messages
    have always written it, "31 jan. 2027" in Swedish (clock.format_day)."""
    date = clock.local_date(when) if isinstance(when, datetime.datetime) else when

    def said(locale):
        return date.isoformat() if locale == words.ENGLISH else clock.format_day(date, locale)
    return said


def kronor(ore):
    """An amount in a refusal, as a function of the locale: "1 234,50 kr", "1,234.50 kr"."""
    return lambda locale: money.format_kr(ore, locale)


def price(ore):
    """A plan's monthly price in a refusal: "199 kr/mån exkl. moms", "199 kr/month excl. VAT"."""
    return lambda locale: money.format_price(ore, locale)


class BuyRefused(words.Refusal):
    """Buy, or a change to a subscription, cannot go ahead; the message says why."""


class NotFound(BuyRefused):
    """What the customer acts on is not there: an app not on sale, no subscription to change,
    no plan change waiting, no billing account yet, nothing of the app to remove."""


class InvalidChoice(BuyRefused):
    """The customer chose something that cannot be chosen: a plan the app does not have, the
    plan it is already on, buying a free app."""


class AlreadyEntitled(Exception):
    """The company may already use the app: there is nothing to buy."""


class AlreadyPaid(Exception):
    """The open Checkout Session was completed at Stripe; the webhook is on its way."""


class RefundRefused(words.Refusal):
    """The admin's refund cannot be made as asked; the message says what to correct."""


class MoneyBackRefused(BuyRefused):
    """Money back (issue T) is not offered for this subscription now: outside the window, already
    given once, nothing paid. The view answers 409 with the message."""
