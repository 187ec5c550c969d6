"""App notifications (DESIGN.md §6, QUALITY.md 35): signed JSON events to an app's webhook URL
when a company's subscription or connection changes.

An event is written to the AppNotification outbox in the same transaction as the change, so it
exists exactly when the change does, and is sent only after that transaction has committed: by
a background sender in the serving process (market.notifications.web, woken at the end of the
request that wrote it), by `flask --app app notify`, and by the hourly sweep. A failing or slow
app endpoint is retried with growing delays and never holds up the market or another app:
each app with due events gets its own turn on a bounded pool of senders (per-app batch claims),
every call goes through market/outbound/http.py (public addresses only, no redirects, capped
size and time), failures are only recorded, and each row's delivered_at is its own moment. This module is the outbox itself: writing events, finding the due
ones, one delivery attempt and its bookkeeping.
"""
import concurrent.futures
import datetime
import json
import logging
import secrets
import time

from peewee import fn

from market.catalog import listings
from market.core import credentials
from market.notifications import signals
from market.outbound import http as outbound_http
from models import App, AppNotification, MoneyBack, db, utcnow

log = logging.getLogger(__name__)

EVENT_TYPES = ("subscription.created", "subscription.updated", "subscription.canceled", "connection.revoked",
               "subscription.price_change_scheduled", "subscription.price_change_withdrawn")
# After the first attempt fails: 1 min, 5 min, 30 min, 2 h, 12 h; then the market gives up.
RETRY_DELAYS = (datetime.timedelta(minutes=1), datetime.timedelta(minutes=5),
                datetime.timedelta(minutes=30), datetime.timedelta(hours=2), datetime.timedelta(hours=12))
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
TOTAL_TIMEOUT = 5  # seconds per attempt, all included: an app's endpoint never holds a sender for long
SENDERS = 4  # threads sending at once, each to one app
BATCH = 10  # events of one app claimed at a time
# A sender claims due events by moving their next attempt this far ahead, so two senders
# (threads, processes, the sweep) never post the same event at once. Longer than a batch takes.
CLAIM_LEASE = datetime.timedelta(seconds=BATCH * TOTAL_TIMEOUT + 60)


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
    data = {"subscription": subscription_data(subscription)}
    if kind == "subscription.canceled" and MoneyBack.select().where(
            MoneyBack.subscription == subscription.id).exists():
        data["reason"] = "refunded"  # ended with money back (issue T)
    return enqueue(subscription.app, kind, subscription.company, data, now)


def price_change(subscription, kind, old_amount, new_amount, effective_on, now=None):
    """subscription.price_change_scheduled / _withdrawn: amounts in öre, the date ISO."""
    return enqueue(subscription.app, kind, subscription.company,
                   {"old_amount": old_amount, "new_amount": new_amount, "effective_on": effective_on.isoformat(),
                    "subscription": subscription_data(subscription)}, now)


def connection_revoked(company, app, now=None):
    return enqueue(app, "connection.revoked", company, {"connection": {"revoked": True}}, now)


# ---------------------------------------------------------------------------- sending
def _clock(now):
    """The moment an attempt ends: the real clock, or, when the caller gave `now` (the sweep
    and tests moving time), `now` plus the real time since; so each row's delivered_at is when
    that row was delivered, never the batch's start."""
    if now is None:
        return utcnow
    offset = now - utcnow()
    return lambda: utcnow() + offset


def _due_rows(now):
    return AppNotification.select().where(
        AppNotification.delivered_at.is_null(), AppNotification.attempts < MAX_ATTEMPTS,
        AppNotification.next_attempt_at <= now)


def due(now=None, limit=100):
    now = now or utcnow()
    return list(_due_rows(now).order_by(AppNotification.next_attempt_at, AppNotification.id).limit(limit))


def due_apps(now=None, limit=100):
    """The ids of apps with events due, the longest-waiting first."""
    now = now or utcnow()
    first_due = fn.MIN(AppNotification.next_attempt_at)
    query = (_due_rows(now).select(AppNotification.app).group_by(AppNotification.app)
             .order_by(first_due, AppNotification.app).limit(limit))
    return [row.app_id for row in query]


def claim_batch(app_id, now, limit=BATCH):
    """Claim up to `limit` of one app's due events, oldest first, in one transaction: each row's
    next attempt moves CLAIM_LEASE ahead only if no other sender moved it first (on PostgreSQL a
    concurrent claimer waits for this transaction and then finds the row changed; SQLite's
    BEGIN IMMEDIATE runs claims one after another), so two senders never send the same event.
    Returns the claimed rows, each with the due time it had (to give back what is not sent)."""
    lease = now + CLAIM_LEASE
    claimed = []
    with db.atomic():
        rows = list(_due_rows(now).where(AppNotification.app == app_id)
                    .order_by(AppNotification.next_attempt_at, AppNotification.id).limit(limit))
        for row in rows:
            taken = AppNotification.update(next_attempt_at=lease).where(
                AppNotification.id == row.id, AppNotification.delivered_at.is_null(),
                AppNotification.next_attempt_at == row.next_attempt_at).execute() == 1
            if taken:
                claimed.append(row)
    return claimed, lease


def _release(rows, lease):
    """Give claimed rows back, due as they were, without counting an attempt."""
    for row in rows:
        AppNotification.update(next_attempt_at=row.next_attempt_at).where(
            AppNotification.id == row.id, AppNotification.delivered_at.is_null(),
            AppNotification.next_attempt_at == lease).execute()


def _post(config, url, body, signature):
    response = outbound_http.post(config, url, body, headers={
        "Content-Type": "application/json", "Market-Signature": signature,
        "User-Agent": "AppMarket-Notifications/1"}, total=TOTAL_TIMEOUT)
    if 200 <= response.status < 300:
        return None
    if 300 <= response.status < 400:
        return f"HTTP {response.status} (redirects are not followed)"
    return f"HTTP {response.status}"


def deliver(config, row, now=None, clock=None):
    """One attempt at one claimed event; records the outcome. True when delivered."""
    clock = clock or _clock(now)
    app = App.get_by_id(row.app_id)
    # Signed with the app's landing secret: the one secret the app already holds from us.
    secret = listings.landing_secret(config["SECRET_KEY"], app)
    body = row.payload.encode()
    if not app.webhook_url or secret is None:
        error = "the app has no webhook URL or no OAuth client"
    else:
        try:
            error = _post(config, app.webhook_url, body, credentials.sign_payload(secret, body))
        except Exception as exc:  # noqa: BLE001 - whatever the app's endpoint does is recorded, never raised
            error = f"{type(exc).__name__}: {exc}"[:500]
    moment = clock()  # when this row's attempt ended
    attempts = row.attempts + 1
    if error is None:
        AppNotification.update(attempts=attempts, delivered_at=moment, last_error="").where(
            AppNotification.id == row.id).execute()
        return True
    delay = RETRY_DELAYS[min(attempts - 1, len(RETRY_DELAYS) - 1)]
    AppNotification.update(attempts=attempts, last_error=error, next_attempt_at=moment + delay).where(
        AppNotification.id == row.id).execute()
    log.info("notification %s to %s failed (attempt %s): %s", row.event_id, app.slug, attempts, error)
    return False


def send_app(config, app_id, now, clock, stop_at=None):
    """One sender's turn at one app: claim a batch of its due events and send them in order.
    After a failure the rest of the batch is given back (the endpoint is down or slow: the next
    round tries again), and so is what is left when `stop_at` (time.monotonic()) has passed."""
    delivered = failed = 0
    rows, lease = claim_batch(app_id, now)
    for index, row in enumerate(rows):
        if stop_at is not None and time.monotonic() >= stop_at:
            _release(rows[index:], lease)
            break
        if deliver(config, row, clock=clock):
            delivered += 1
        else:
            failed += 1
            _release(rows[index + 1:], lease)
            break
    return delivered, failed


def _send_app_in_thread(config, app_id, now, clock, stop_at):
    with db.connection_context():
        return send_app(config, app_id, now, clock, stop_at)


def deliver_due(config, now=None, limit=100, budget=None):
    """Send what is due; returns {"delivered": n, "failed": n}. Each app with due events gets
    its own turn, on a bounded pool of SENDERS threads: a slow or failing endpoint holds up only
    its own app's events. `budget` (seconds) stops starting new sends after that long (the sweep
    passes one). Safe to run in many places at once: each batch is claimed before it is sent.
    Call it outside a transaction: the senders use connections of their own."""
    now = now or utcnow()
    clock = _clock(now)
    stop_at = time.monotonic() + budget if budget is not None else None
    apps = due_apps(now, limit)
    delivered = failed = 0
    if not apps:
        return {"delivered": 0, "failed": 0}
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(SENDERS, len(apps)),
                                               thread_name_prefix="app-notifications") as pool:
        futures = [pool.submit(_send_app_in_thread, config, app_id, now, clock, stop_at) for app_id in apps]
        for future in futures:
            try:
                sent, not_sent = future.result()
            except Exception:  # noqa: BLE001 - one app's database hiccup does not stop the others
                log.exception("sending an app's notifications failed")
                continue
            delivered += sent
            failed += not_sent
    return {"delivered": delivered, "failed": failed}


def history(app, limit=20):
    return list(AppNotification.select().where(AppNotification.app == app)
                .order_by(AppNotification.id.desc()).limit(limit))
