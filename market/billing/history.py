"""Each subscription's MRR history (models.SubscriptionChange), so the developer dashboard's
past months use the price that was paid then, and a plan change is one expansion or
contraction, never read back from invoices.

`record` is called in the same transaction as every change of a subscription's status or price
(webhooks.apply_subscription, a failed payment, dunning ending a grace); `record_imported`
derives the history of imported subscriptions from their own dates (the old billing system kept
none), marked `imported`.

What a subscription adds to MRR: its `price_ore` while it is `active` or `past_due`, else 0 (the
same rule as the dashboard's MRR right now, so the chart's last point is that figure).
"""
from peewee import fn

from models import App, Subscription, SubscriptionChange, db

MRR_STATUSES = Subscription.PAYING_STATUSES
# Never paid for: such a subscription has no history before it starts counting.
NEVER_STARTED = ("incomplete", "incomplete_expired")
BATCH = 1000


def mrr_of(status, price_ore):
    return int(price_ore or 0) if status in MRR_STATUSES else 0


def _last_change(subscription_id):
    return (SubscriptionChange.select()
            .where(SubscriptionChange.subscription == subscription_id)
            .order_by(SubscriptionChange.at.desc(), SubscriptionChange.id.desc())
            .first())


def _counted_before(subscription):
    return SubscriptionChange.select().where(SubscriptionChange.subscription == subscription.id,
                                             SubscriptionChange.mrr_after_ore > 0).exists()


def _company_had_app(subscription):
    """Another subscription of the same company to the same app once counted for MRR."""
    return SubscriptionChange.select().where(
        SubscriptionChange.company == subscription.company_id, SubscriptionChange.app == subscription.app_id,
        SubscriptionChange.subscription != subscription.id, SubscriptionChange.mrr_after_ore > 0).exists()


def _trialed(subscription):
    return subscription.trial_end is not None or SubscriptionChange.select().where(
        SubscriptionChange.subscription == subscription.id, SubscriptionChange.kind == "trial_start").exists()


def kind_of_change(subscription, before_ore, after_ore, first):
    """The movement a change from `before_ore` to `after_ore` of MRR is, or None for none."""
    if before_ore == after_ore:
        return "trial_start" if first and subscription.status == "trialing" else None
    if before_ore == 0:
        if _counted_before(subscription) or _company_had_app(subscription):
            return "reactivation"
        return "trial_conversion" if _trialed(subscription) else "new"
    if after_ore == 0:
        return "churn"
    return "expansion" if after_ore > before_ore else "contraction"


def record(subscription, at, developer_id=None):
    """After `subscription` was saved: a history row if what it adds to MRR moved (or its trial
    started). MRR before is the last row's, so the history is a chain whatever wrote it.
    Returns the new row or None."""
    last = _last_change(subscription.id)
    before = last.mrr_after_ore if last is not None else 0
    after = mrr_of(subscription.status, subscription.price_ore)
    kind = kind_of_change(subscription, before, after, last is None)
    if kind is None:
        return None
    if last is not None and last.at > at:
        at = last.at  # a clock that went backwards must not reorder the chain
    if developer_id is None:
        developer_id = App.select(App.developer).where(App.id == subscription.app_id).scalar()
    return SubscriptionChange.create(
        subscription=subscription.id, company=subscription.company_id, app=subscription.app_id,
        developer=developer_id, at=at, kind=kind, mrr_before_ore=before, mrr_after_ore=after)


def _imported_rows(sub, developer_id, had_app):
    """The history an imported subscription's own columns tell: trial, start, end."""
    base = {"subscription": sub.id, "company": sub.company_id, "app": sub.app_id, "developer": developer_id,
            "imported": True}
    rows = []
    if sub.trial_end is not None:
        rows.append({**base, "at": sub.created_at, "kind": "trial_start", "mrr_before_ore": 0, "mrr_after_ore": 0})
    if sub.status in NEVER_STARTED or sub.status == "trialing":
        return rows
    start = sub.trial_end or sub.created_at
    end = sub.ended_at if sub.status == "canceled" else (
        None if sub.status in MRR_STATUSES else sub.ended_at or sub.updated_at)
    if end is not None and end <= start:
        return rows  # ended before it was ever paid for (a trial canceled)
    price = int(sub.price_ore or 0)
    if price <= 0:
        return rows
    kind = "reactivation" if had_app else "trial_conversion" if sub.trial_end is not None else "new"
    rows.append({**base, "at": start, "kind": kind, "mrr_before_ore": 0, "mrr_after_ore": price})
    if end is not None:
        rows.append({**base, "at": end, "kind": "churn", "mrr_before_ore": price, "mrr_after_ore": 0})
    return rows


def record_imported():
    """History rows for imported subscriptions that have none yet (the seed, a restored backup).
    Returns how many rows were written."""
    has_history = SubscriptionChange.select(SubscriptionChange.id).where(
        SubscriptionChange.subscription == Subscription.id)
    query = (Subscription.select(Subscription, App.developer.alias("developer_id"))
             .join(App, on=(Subscription.app == App.id))
             .where(Subscription.imported == True, ~fn.EXISTS(has_history))  # noqa: E712
             .order_by(Subscription.company, Subscription.app, Subscription.created_at, Subscription.id))
    rows, written, seen = [], 0, set()
    with db.atomic():
        for sub in query.objects().iterator():
            key = (sub.company_id, sub.app_id)
            made = _imported_rows(sub, sub.developer_id, key in seen)
            if any(row["mrr_after_ore"] > 0 for row in made):
                seen.add(key)
            rows.extend(made)
            if len(rows) >= BATCH:
                SubscriptionChange.insert_many(rows).execute()
                written, rows = written + len(rows), []
        if rows:
            SubscriptionChange.insert_many(rows).execute()
            written += len(rows)
    return written

