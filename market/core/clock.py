"""The market's clock: times are stored as naive UTC datetimes and shown in Europe/Stockholm.

One definition of "now", so tests that move time (time-machine) move every room at once.
"""
import datetime
import functools
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime

from market.core import words

STOCKHOLM = ZoneInfo("Europe/Stockholm")


def utcnow():
    """Now, as the naive UTC datetime every table stores."""
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


def local_date(moment):
    """The calendar date in Stockholm of a stored (naive UTC) datetime."""
    return moment.replace(tzinfo=datetime.UTC).astimezone(STOCKHOLM).date()


def format_day(when, locale="sv"):
    """A date as a sentence writes it in the reader's language: "16 dec. 2026", "16 Dec 2026"
    ("" for none). A stored datetime is first put on Stockholm's calendar."""
    if not when:
        return ""
    if isinstance(when, datetime.datetime):
        when = local_date(when)
    if isinstance(locale, str) and type(when) is datetime.date:
        return _format_day(when, locale)  # the same day in the same language: the same text
    return format_date(when, "d MMM y", locale=_locale(locale))


@functools.lru_cache(maxsize=4096)
def _format_day(when, locale):
    return format_date(when, "d MMM y", locale=_locale(locale))


def format_time(moment, locale="sv", zone=False):
    """A stored (naive UTC) moment on Stockholm's clock: "16 dec. 2026 14:05", with the zone
    named ("14:05 svensk tid") where a reader compares it with other clocks."""
    if not moment:
        return ""
    text = format_datetime(moment.replace(tzinfo=datetime.UTC), "d MMM y HH:mm", tzinfo=STOCKHOLM,
                           locale=_locale(locale))
    return words.say(locale, "%(time)s Stockholm time", time=text) if zone else text


def _locale(locale):
    return locale if locale in ("sv", "en") else "sv"
