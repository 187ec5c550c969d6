"""App notifications (DESIGN.md §6, QUALITY.md 35): signed JSON events to an app's webhook URL
when a company's subscription or connection changes.

An event is written to the AppNotification outbox in the same transaction as the change, so it
exists exactly when the change does, and is sent only after that transaction has committed: by
a background sender in the serving process (market.notifications.web, woken at the end of the
request that wrote it), by `flask --app app notify`, and by the hourly sweep. A failing or slow
app endpoint is retried with growing delays and never holds up the market: short timeouts,
failures only recorded. This module is the outbox itself: writing events, finding the due
ones, one delivery attempt and its bookkeeping.
"""
import datetime
import json
import logging
import secrets

from market.catalog import listings
from market.core import credentials
from market.notifications import signals
from models import App, AppNotification, utcnow

log = logging.getLogger(__name__)

EVENT_TYPES = ("subscription.created", "subscription.updated", "subscription.canceled", "connection.revoked")
# After the first attempt fails: 1 min, 5 min, 30 min, 2 h, 12 h; then the market gives up.
RETRY_DELAYS = (datetime.timedelta(minutes=1), datetime.timedelta(minutes=5),
                datetime.timedelta(minutes=30), datetime.timedelta(hours=2), datetime.timedelta(hours=12))
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
TIMEOUT = (2, 5)  # connect, read: an app's endpoint never holds a market thread for long
# A sender claims a due event by moving its next attempt this far ahead, so two senders (threads,
# processes, the sweep) never post the same event at once.
CLAIM_LEASE = datetime.timedelta(minutes=2)


def _iso(value):
    return value.replace(microsecond=0).isoformat() + "Z" if value else None


def subscription_data(subscription):
    plan = subscription.plan
    return {
        "status": subscription.status,
        "plan": plan.name if plan is not None else None,
        "price_ore": subscription.price_ore,
        "current_period_end": _iso(subscription.current_period_end),
        "cancel_at_period_end": bool(subscription.cancel_at_period_end),
        "trial_end": _iso(subscription.trial_end),
    }


def enqueue(app, kind, company, data=None, now=None):
    """Write one event to the outbox (call inside the transaction that makes the change).
    Apps without a webhook URL get nothing."""
    if kind not in EVENT_TYPES:
        raise ValueError(f"unknown notification type {kind}")
    if not isinstance(app, App):
        app = App.get_by_id(app)
    if not app.webhook_url:
        return None
    now = now or utcnow()
    event_id = "evt_" + secrets.token_hex(16)
    payload = {"id": event_id, "type": kind, "created": int(now.replace(tzinfo=datetime.UTC).timestamp()),
               "app": app.slug, "company": company.public_id, "data": data or {}}
    row = AppNotification.create(app=app, event_id=event_id, type=kind,
                                 payload=json.dumps(payload, separators=(",", ":"), sort_keys=True),
                                 next_attempt_at=now, created_at=now)
    signals.queued.send(row)
    return row


def subscription_changed(subscription, kind, now=None):
    return enqueue(subscription.app, kind, subscription.company,
                   {"subscription": subscription_data(subscription)}, now)


def connection_revoked(company, app, now=None):
    return enqueue(app, "connection.revoked", company, {"connection": {"revoked": True}}, now)


# ---------------------------------------------------------------------------- sending
def _claim(row, now):
    return AppNotification.update(next_attempt_at=now + CLAIM_LEASE).where(
        AppNotification.id == row.id, AppNotification.delivered_at.is_null(),
        AppNotification.next_attempt_at == row.next_attempt_at).execute() == 1


def _post(url, body, signature):
    import requests

    response = requests.post(url, data=body, timeout=TIMEOUT, allow_redirects=False,
                             headers={"Content-Type": "application/json", "Market-Signature": signature,
                                      "User-Agent": "AppMarket-Notifications/1"})
    if 200 <= response.status_code < 300:
        return None
    return f"HTTP {response.status_code}"


def deliver(config, row, now=None):
    """One attempt at one claimed event; records the outcome. True when delivered."""
    now = now or utcnow()
    app = App.get_by_id(row.app_id)
    # Signed with the app's landing secret: the one secret the app already holds from us.
    secret = listings.landing_secret(config["SECRET_KEY"], app)
    body = row.payload.encode()
    if not app.webhook_url or secret is None:
        error = "the app has no webhook URL or no OAuth client"
    else:
        try:
            error = _post(app.webhook_url, body, credentials.sign_payload(secret, body))
        except Exception as exc:  # noqa: BLE001 - whatever the app's endpoint does is recorded, never raised
            error = f"{type(exc).__name__}: {exc}"[:500]
    attempts = row.attempts + 1
    if error is None:
        AppNotification.update(attempts=attempts, delivered_at=now, last_error="").where(
            AppNotification.id == row.id).execute()
        return True
    delay = RETRY_DELAYS[min(attempts - 1, len(RETRY_DELAYS) - 1)]
    AppNotification.update(attempts=attempts, last_error=error, next_attempt_at=now + delay).where(
        AppNotification.id == row.id).execute()
    log.info("notification %s to %s failed (attempt %s): %s", row.event_id, app.slug, attempts, error)
    return False


def due(now=None, limit=100):
    now = now or utcnow()
    return list(AppNotification.select()
                .where(AppNotification.delivered_at.is_null(), AppNotification.attempts < MAX_ATTEMPTS,
                       AppNotification.next_attempt_at <= now)
                .order_by(AppNotification.next_attempt_at, AppNotification.id).limit(limit))


def deliver_due(config, now=None, limit=100):
    """Send what is due; returns {"delivered": n, "failed": n}. Safe to run in many places at
    once: each event is claimed before it is sent."""
    now = now or utcnow()
    delivered = failed = 0
    for row in due(now, limit):
        if not _claim(row, now):
            continue
        if deliver(config, row, now):
            delivered += 1
        else:
            failed += 1
    return {"delivered": delivered, "failed": failed}


def history(app, limit=20):
    return list(AppNotification.select().where(AppNotification.app == app)
                .order_by(AppNotification.id.desc()).limit(limit))
