"""`flask --app app sweep`, run hourly (DESIGN.md §3): time alone ends entitlements, so
someone must revoke what companies gave apps once their payment grace has passed."""
import datetime

import accounts
import billing
import entitlements
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
                entitlements.entitlement_lost(subscription.company, subscription.app)
                ended += 1
    return ended


def run(config, now=None):
    ended = end_expired_grace(config["BILLING_GRACE_DAYS"], now)
    forgotten = accounts.forget_old_failures(now)
    return {"entitlements_ended": ended, "login_failures_forgotten": forgotten}
