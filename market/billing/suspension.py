"""What an admin's suspension of an app does to its subscriptions (DESIGN.md §3): every live
one is set to cancel at period end and its company told; a restore undoes exactly those.

Called by the admin's view after the catalog has hidden or restored the app: these call
Stripe, so they cannot be signal handlers.
"""
import json
import logging

from market.billing import gateway, market_settings, subscriptions
from market.billing.company_mail import tell_company_admins
from market.billing.transactions import write_transaction
from market.core.clock import utcnow
from market.outbound import mail
from models import Subscription

log = logging.getLogger(__name__)


def _suspension_key(app):
    return f"suspension_canceled:{app.id}"


def on_app_suspended(config, app, now=None):
    """An admin suspended the app: every live subscription is set to cancel at period end (at
    Stripe, imported ones locally) and its company told. The ones this did are remembered, so
    a restore undoes exactly those. Returns how many were set."""
    now = now or utcnow()
    live = list(Subscription.select().where(Subscription.app == app,
                                             Subscription.status.in_(Subscription.LIVE_STATUSES),
                                             Subscription.cancel_at_period_end == False)  # noqa: E712
                .order_by(Subscription.id))
    done = []
    for subscription in live:
        try:
            row = subscriptions.set_cancel_at_period_end(config, subscription, True, "suspend", now)
        except gateway.StripeError as error:
            log.warning("suspension of %s: subscription %s not canceled at Stripe: %s",
                        app.slug, subscription.id, error)
            continue
        done.append(subscription.id)
        when = f" on {row.current_period_end:%Y-%m-%d}" if row.current_period_end else ""
        # The mail goes out after the transaction: no lock held while a mail server answers.
        with mail.held_until_done(), write_transaction():
            tell_company_admins(
                config, subscription.company, f"{app.name} has been suspended",
                f"{app.name} has been suspended by the App Market and can no longer be used. Your "
                f"subscription will not renew: it ends at the end of the paid period{when}, and you "
                f"will not be charged again for it.")
    with write_transaction():
        previous = json.loads(market_settings.setting(_suspension_key(app)) or "[]")
        market_settings.set_setting(_suspension_key(app), json.dumps(sorted(set(previous) | set(done))))
    return len(done)


def on_app_restored(config, app, now=None):
    """The suspension is lifted: the subscriptions it set to cancel, and that have not ended
    yet, renew again. Returns how many."""
    now = now or utcnow()
    ids = json.loads(market_settings.setting(_suspension_key(app)) or "[]")
    restored = 0
    for subscription in Subscription.select().where(Subscription.id.in_(ids or [0])).order_by(Subscription.id):
        if subscription.status not in Subscription.LIVE_STATUSES or not subscription.cancel_at_period_end:
            continue
        if subscription.current_period_end and subscription.current_period_end <= now:
            continue
        try:
            subscriptions.set_cancel_at_period_end(config, subscription, False, "restore", now)
        except gateway.StripeError as error:
            log.warning("restore of %s: subscription %s not resumed at Stripe: %s",
                        app.slug, subscription.id, error)
            continue
        restored += 1
    with write_transaction():
        market_settings.delete_setting(_suspension_key(app))
    return restored
