"""Dunning: the grace rule (DESIGN.md §3), its one owner, and what follows from it.

A past-due subscription still entitles for `grace_days` after its first failed payment. In
Python for one subscription (`entitles`, `grace_deadline`) and in SQL for many
(`entitling_condition`); both read the same vocabulary on the model, and the tests hold them
to the same answers. Here too: who is in dunning (the banner on every page, the developer's
list) and the end of an expired grace (the hourly sweep calls `end_expired_grace`).
"""
import datetime

from market.billing import history as subscription_history
from market.billing import signals
from market.billing.transactions import write_transaction
from market.core.clock import utcnow
from market.data import prepared
from models import App, Company, Subscription


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


# ---------------------------------------------------------------------------- who is in dunning
def payment_problems(company, grace_days):
    """The company's subscriptions in dunning, for the banner on every page: [(app, deadline)]."""
    # On every page a company user sees: its SQL is built once (prepared.py).
    rows = prepared.select("payment_problems", _payment_problems_query, getattr(company, "id", company))
    return [(s.app, grace_deadline(s, grace_days)) for s in rows]


def _payment_problems_query(company_id):
    return (Subscription.select(Subscription, App).join(App)
            .where(Subscription.company == company_id, Subscription.status.in_(Subscription.DUNNING_STATUSES))
            .order_by(Subscription.past_due_since))


def customers_in_dunning(developer, grace_days, app=None):
    """The developer's customers whose payment failed (past_due, in grace) or whose grace ended
    (unpaid): dicts with company, app, status, since and the grace deadline."""
    query = (Subscription.select(Subscription, App, Company).join(App).switch(Subscription).join(Company)
             .where(App.developer == developer, Subscription.status.in_(Subscription.OVERDUE_STATUSES)))
    if app is not None:
        query = query.where(Subscription.app == app)
    return [{"company": s.company, "app": s.app, "status": s.status, "since": s.past_due_since,
             "deadline": grace_deadline(s, grace_days) if s.past_due_since else None}
            for s in query.order_by(Subscription.past_due_since, Subscription.id)]


# ---------------------------------------------------------------------------- the end of a grace
def end_expired_grace(config, now=None):
    """Past-due subscriptions whose grace has passed become `unpaid` (the state Stripe itself
    moves them to): once per subscription, the company loses the app (signals.access_ended:
    its tokens are revoked) and the app is told (signals.subscription_changed). Returns how
    many ended."""
    now = now or utcnow()
    ended = 0
    overdue = list(Subscription.select()
                   .where(grace_expired_condition(config["BILLING_GRACE_DAYS"], now))
                   .order_by(Subscription.id))
    for subscription in overdue:
        with write_transaction():
            # The status guard makes the update the claim: two sweeps at once end it once.
            claimed = Subscription.update(status="unpaid", updated_at=now).where(
                Subscription.id == subscription.id,
                Subscription.status.in_(Subscription.DUNNING_STATUSES)).execute()
            if claimed:
                signals.access_ended.send(subscription.company, app=subscription.app, config=config, now=now)
                ended_row = Subscription.get_by_id(subscription.id)
                subscription_history.record(ended_row, now)
                signals.subscription_changed.send(ended_row, kind="subscription.updated", config=config, now=now)
                ended += 1
    return ended
