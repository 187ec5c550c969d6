"""The grace rule (DESIGN.md §3), its one owner: a past-due subscription still entitles for
`grace_days` after its first failed payment. In Python for one subscription (`entitles`,
`grace_deadline`) and in SQL for many (`entitling_condition`); both read the same vocabulary
on the model, and the tests hold them to the same answers."""
import datetime

from market.core.clock import utcnow
from models import Subscription


def grace_deadline(subscription, grace_days, now=None):
    """When a past-due subscription stops entitling (counted from its first failure)."""
    since = subscription.past_due_since or now or utcnow()
    return since + datetime.timedelta(days=grace_days)


def in_grace(subscription, grace_days, now=None):
    now = now or utcnow()
    return subscription.status in Subscription.DUNNING_STATUSES and now < grace_deadline(subscription, grace_days, now)


def entitles(subscription, grace_days, now=None):
    """Does this subscription entitle its company to its app right now?"""
    if subscription is None:
        return False
    if subscription.status in Subscription.ENTITLING_STATUSES:
        return True
    return in_grace(subscription, grace_days, now)


def entitling_condition(grace_days, now=None):
    """`entitles` as a peewee expression over Subscription, for counts and joins."""
    now = now or utcnow()
    grace_start = now - datetime.timedelta(days=grace_days)
    return (Subscription.status.in_(Subscription.ENTITLING_STATUSES)
            | (Subscription.status.in_(Subscription.DUNNING_STATUSES)
               & (Subscription.past_due_since.is_null() | (Subscription.past_due_since > grace_start))))


def grace_expired_condition(grace_days, now=None):
    """Past-due subscriptions whose grace has passed (the sweep ends them)."""
    now = now or utcnow()
    cutoff = now - datetime.timedelta(days=grace_days)
    return (Subscription.status.in_(Subscription.DUNNING_STATUSES) & Subscription.past_due_since.is_null(False)
            & (Subscription.past_due_since <= cutoff))
