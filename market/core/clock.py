"""The market's clock: times are stored as naive UTC datetimes and shown in Europe/Stockholm.

One definition of "now", so tests that move time (time-machine) move every room at once.
"""
import datetime
from zoneinfo import ZoneInfo

STOCKHOLM = ZoneInfo("Europe/Stockholm")


def utcnow():
    """Now, as the naive UTC datetime every table stores."""
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


def local_date(moment):
    """The calendar date in Stockholm of a stored (naive UTC) datetime."""
    return moment.replace(tzinfo=datetime.UTC).astimezone(STOCKHOLM).date()
