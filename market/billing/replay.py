"""`flask stripe-replay` and the admin's replay button: Stripe's events since a moment that
the market has not stored, handled exactly as if delivered (after_events.process)."""
import datetime
import json
import logging

from market.billing import after_events, gateway
from models import StripeEvent

log = logging.getLogger(__name__)


def replay_events(config, since):
    """Stripe's events created since `since` (Unix seconds), those the market has not stored
    handled exactly as if delivered. Returns counts by outcome."""
    counts = {"seen": 0, "handled": 0, "duplicate": 0, "ignored": 0, "foreign": 0, "failed": 0}
    listing = gateway.stripe_client(config).v1.events.list({"created": {"gte": int(since)}, "limit": 100})
    # Back to the wire's JSON: the library turns decimal strings into Decimal.
    events = [json.loads(json.dumps(event.to_dict(), default=str)) for event in listing.auto_paging_iter()]
    for event in sorted(events, key=lambda e: (e.get("created") or 0)):
        counts["seen"] += 1
        if StripeEvent.select().where(StripeEvent.event_id == event["id"]).exists():
            counts["duplicate"] += 1
            continue
        try:
            outcome = after_events.process(config, event)
        except Exception:  # noqa: BLE001 - one bad event must not stop the replay; counted
            log.exception("replay of %s failed", event.get("id"))
            counts["failed"] += 1
            continue
        counts[outcome] += 1
    return counts


def parse_since(text):
    """An ISO date or datetime (UTC) or Unix seconds → Unix seconds; ValueError otherwise."""
    text = (text or "").strip()
    if text.isdigit():
        return int(text)
    value = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    return int(value.timestamp())
