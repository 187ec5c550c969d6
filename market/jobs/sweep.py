"""`flask --app app sweep`, run hourly (DESIGN.md §3): time alone ends entitlements, so
someone must revoke what companies gave apps once their payment grace has passed, tell the
apps, age the store's statistics and retry app notifications that are due."""
import datetime

from market.accounts import auth as accounts
from market.billing import checkout as billing
from market.billing import history as subscription_history
from market.notifications import outbox as notifications
from market.stats import app_stats as stats
from models import Subscription, utcnow


def end_expired_grace(grace_days, now=None):
    """Past-due subscriptions whose grace has passed become `unpaid` (the state Stripe itself
    moves them to) and their entitlement-lost hooks run, once per subscription."""
    now = now or utcnow()
    cutoff = now - datetime.timedelta(days=grace_days)
    ended = 0
    overdue = list(Subscription.select()
                   .where(Subscription.status == "past_due", Subscription.past_due_since.is_null(False),
                          Subscription.past_due_since <= cutoff)
                   .order_by(Subscription.id))
    for subscription in overdue:
        with billing.write_transaction():
            # The status guard makes the update the claim: two sweeps at once end it once.
            claimed = Subscription.update(status="unpaid", updated_at=now).where(
                Subscription.id == subscription.id, Subscription.status == "past_due").execute()
            if claimed:
                billing.lose_entitlement(subscription.company, subscription.app, now)
                ended_row = Subscription.get_by_id(subscription.id)
                subscription_history.record(ended_row, now)
                notifications.subscription_changed(ended_row, "subscription.updated", now)
                ended += 1
    return ended


def run(config, now=None):
    grace_days = config["BILLING_GRACE_DAYS"]
    ended = end_expired_grace(grace_days, now)
    aged = stats.age_all(now, grace_days)
    forgotten = accounts.forget_old_failures(now)
    sent = notifications.deliver_due(config, now)
    changed_plans, _, _ = billing.apply_due_plan_changes(config, now)
    return {"entitlements_ended": ended, "stats_changed": aged, "login_failures_forgotten": forgotten,
            "notifications_delivered": sent["delivered"], "notifications_failed": sent["failed"],
            "plan_changes_applied": changed_plans}
