"""Entitlement (DESIGN.md §3): may this company use this app right now?

Computed when checked (consent, token refresh, every API call), so time alone ends it; the
grace rule is billing's (market.billing.dunning), the current subscription billing's too.
When billing ends an entitlement it sends signals.access_ended, and the oauth room withdraws
what the company had given the app (market/oauth/on_billing.py, connected in market.wiring).
"""
from dataclasses import dataclass

from market.billing import dunning
from market.billing.subscriptions import current_subscription
from market.core import words
from market.core.clock import utcnow
from models import Subscription

__all__ = ["Entitlement", "check", "current_subscription", "is_entitled"]


@dataclass(frozen=True)
class Entitlement:
    allowed: bool
    reason: str
    subscription: Subscription | None = None


def check(company, app, grace_days, now=None):
    now = now or utcnow()
    if app.status == "suspended":
        return Entitlement(False, words.marked("This app has been suspended by the App Market."))
    test_of = getattr(company, "test_of_developer_id", None)
    if test_of is not None:
        # A developer's test company is never billed: entitled to its own developer's apps
        # (published or not) and to nothing else.
        if app.developer_id == test_of:
            return Entitlement(True, "Your own app, in your test company.")
        return Entitlement(False, words.marked("A test company can use only its own developer's apps."))
    if app.is_free:
        return Entitlement(True, "Free app.")
    subscription = current_subscription(company, app)
    if subscription is None:
        return Entitlement(False, words.marked("Your company has no active subscription to this app. Buy it in the App Market."))
    if subscription.status in Subscription.ENTITLING_STATUSES:
        return Entitlement(True, "Subscription " + subscription.status + ".", subscription)
    if dunning.entitles(subscription, grace_days, now):
        deadline = dunning.grace_deadline(subscription, grace_days, now)
        return Entitlement(True, f"Payment failed; access continues until {deadline:%Y-%m-%d}.", subscription)
    return Entitlement(False, words.marked("The subscription's payment failed and the grace period has ended. "
                                           "Update your card under My apps."), subscription)


def is_entitled(company, app, grace_days, now=None):
    return check(company, app, grace_days, now).allowed
