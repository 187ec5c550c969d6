"""Entitlement (DESIGN.md §3): may this company use this app right now?

Computed when checked (consent, token refresh, every API call), so time alone ends it. When
it ends, the hooks registered here revoke what the company had given the app (oauth2.py
registers the token revocation).
"""
import datetime
from dataclasses import dataclass

from models import Subscription, utcnow

LIVE_STATUSES = ("trialing", "active", "past_due")

_lost_hooks = []


@dataclass(frozen=True)
class Entitlement:
    allowed: bool
    reason: str
    subscription: Subscription | None = None


def current_subscription(company, app):
    """The company's newest subscription to the app that is not over, or None."""
    return (Subscription.select()
            .where(Subscription.company == company, Subscription.app == app,
                   Subscription.status.in_(LIVE_STATUSES))
            .order_by(Subscription.created_at.desc(), Subscription.id.desc())
            .first())


def check(company, app, grace_days, now=None):
    now = now or utcnow()
    if app.status == "suspended":
        return Entitlement(False, "This app has been suspended by the App Market.")
    if app.is_free:
        return Entitlement(True, "Free app.")
    subscription = current_subscription(company, app)
    if subscription is None:
        return Entitlement(False, "Your company has no active subscription to this app. Buy it in the App Market.")
    if subscription.status in ("trialing", "active"):
        return Entitlement(True, "Subscription " + subscription.status + ".", subscription)
    since = subscription.past_due_since or now
    deadline = since + datetime.timedelta(days=grace_days)
    if now < deadline:
        return Entitlement(True, f"Payment failed; access continues until {deadline:%Y-%m-%d}.", subscription)
    return Entitlement(False, "The subscription's payment failed and the grace period has ended. "
                              "Update your card under My apps.", subscription)


def is_entitled(company, app, grace_days, now=None):
    return check(company, app, grace_days, now).allowed


def on_lost(hook):
    """Register `hook(company, app)`, called when a company's entitlement to an app ends."""
    _lost_hooks.append(hook)
    return hook


def entitlement_lost(company, app):
    for hook in _lost_hooks:
        hook(company, app)
