"""Webhook delivery: Stripe's signature scheme and a background thread with retries.

Deliveries are attempted in creation order (one thread, ordered by due time then sequence), so
each object's events arrive in the order they happened. A failed attempt (non-2xx, refused,
timeout) is retried with growing delays measured on the sandbox clock, so advancing the clock
compresses the three days of Stripe's retries into a test.
"""

import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.request

from .engine import WEBHOOK_RETRY_DELAYS

TIMEOUT = 10  # seconds an endpoint has to answer before the attempt counts as failed


def sign(payload: str, secret: str, timestamp: int | None = None) -> str:
    """`t=<unix>,v1=<hex HMAC-SHA256(secret, "t.payload")>`, as Stripe signs (wall-clock time, so
    the receiver's 300 s tolerance check passes even when the sandbox clock runs ahead)."""
    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{ts}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


class Deliverer(threading.Thread):
    """Picks due deliveries and posts them, at most one at a time per endpoint (so one endpoint's
    events keep their order) while a slow or dead endpoint does not hold up the others."""

    def __init__(self, engine):
        super().__init__(name="stripe-sandbox-webhooks", daemon=True)
        self.engine = engine
        self.stopping = False
        self.in_flight: set[str] = set()  # endpoint ids being posted to
        self.flight_lock = threading.Lock()

    def stop(self):
        self.stopping = True
        self.engine.wake_deliveries()

    def pick(self):
        """The earliest due delivery of each endpoint that is not busy, oldest first."""
        e = self.engine
        picked = []
        with e.lock, self.flight_lock:
            now = e.now()
            pending = sorted((d for d in e.deliveries if d["status"] == "pending" and d["next_attempt"] <= now),
                             key=lambda d: (d["next_attempt"], d["seq"]))
            busy = set(self.in_flight)
            for d in pending:
                if d["endpoint"] in busy:
                    continue
                busy.add(d["endpoint"])
                endpoint = e.objects.get(d["endpoint"])
                event = e.objects.get(d["event"])
                if endpoint is None or event is None or endpoint.get("_deleted"):
                    d["status"] = "failed"
                    continue
                self.in_flight.add(d["endpoint"])
                picked.append((d, endpoint["url"], endpoint["_secret"], json.dumps(e.render(event), indent=2)))
        return picked

    def run(self):
        while not self.stopping:
            picked = self.pick()
            for item in picked:
                threading.Thread(target=self.deliver, args=item, daemon=True).start()
            with self.engine.delivery_wakeup:
                self.engine.delivery_wakeup.wait(0.05 if picked else 0.2)

    def deliver(self, delivery, url, secret, payload):
        try:
            status, error = self.post(url, secret, payload)
            self.record(delivery, status, error)
        finally:
            with self.flight_lock:
                self.in_flight.discard(delivery["endpoint"])
            self.engine.wake_deliveries()

    def post(self, url, secret, payload):
        body = payload.encode()
        req = urllib.request.Request(url, data=body, method="POST", headers={
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            "Stripe-Signature": sign(payload, secret),
        })
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
                return resp.status, None
        except urllib.error.HTTPError as exc:
            return exc.code, None
        except (OSError, ValueError) as exc:
            return None, str(exc) or exc.__class__.__name__

    def record(self, delivery, status, error):
        e = self.engine
        with e.lock:
            # the list may have been replaced meanwhile (a rolled-back request, a reset): record on
            # the delivery as it is now, or not at all
            delivery = next((d for d in e.deliveries if d["id"] == delivery["id"]), None)
            if delivery is None:
                return
            now = e.now()
            delivery["attempts"].append({"at": now, "wall_time": int(time.time()), "status": status,
                                         "error": error})
            if status is not None and 200 <= status < 300:
                delivery["status"] = "succeeded"
            elif len(delivery["attempts"]) > len(WEBHOOK_RETRY_DELAYS):
                delivery["status"] = "failed"
            else:
                delivery["next_attempt"] = now + WEBHOOK_RETRY_DELAYS[len(delivery["attempts"]) - 1]
            e.mark_dirty()

    def idle(self):
        e = self.engine
        with e.lock, self.flight_lock:
            now = e.now()
            waiting = any(d["status"] == "pending" and d["next_attempt"] <= now for d in e.deliveries)
            return not waiting and not self.in_flight
