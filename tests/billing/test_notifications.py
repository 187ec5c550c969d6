"""App notifications (DESIGN.md §6, QUALITY.md 35): written with the change, signed with the
landing secret, delivered after the commit, retried with growing delays after a failure,
delivered exactly once, never holding up the market."""
import datetime
import hashlib
import hmac
import json
import threading
import time

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from market.core import credentials
from market.notifications import outbox as notifications
from models import App, AppNotification, Subscription, utcnow
from tests import factories
from tests.billing.conftest import event, post_event, subscription_object


class Receiver:
    """An app's webhook endpoint on a free local port: records each POST, answers with the
    statuses it is told to (then 200)."""

    def __init__(self):
        self.received = []
        self.statuses = []
        self.delay = 0
        self.lock = threading.Lock()
        self.server = make_server("127.0.0.1", 0, self, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.socket.getsockname()[1]}/notifications"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def __call__(self, environ, start_response):
        request = Request(environ)
        body = request.get_data()
        if self.delay:
            time.sleep(self.delay)
        with self.lock:
            self.received.append((body, request.headers.get("Market-Signature")))
            status = self.statuses.pop(0) if self.statuses else 200
        return Response("ok", status=status)(environ, start_response)

    def stop(self):
        self.server.shutdown()
        self.thread.join(5)
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture
def listening_app(app, paid_app, receiver):
    listing, plan, developer = paid_app
    client, _ = factories.oauth_client(listing)
    App.update(webhook_url=receiver.url).where(App.id == listing.id).execute()
    app.config["OUTBOUND_ALLOWED_ORIGINS"] = receiver.url.rsplit("/", 1)[0]  # a local test receiver
    secret = credentials.landing_secret(app.config["SECRET_KEY"], client.client_id)
    return App.get_by_id(listing.id), plan, secret


def verify(body, header, secret, tolerance=300):
    """As an app would, without the market's code: t=..., v1=HMAC-SHA256(secret, "t.body")."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    expected = hmac.new(secret.encode(), parts["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"]) and abs(time.time() - int(parts["t"])) <= tolerance


def test_subscription_changes_are_signed_and_delivered_once(app, client, fake_stripe, customer, listening_app,
                                                            receiver):
    listing, plan, secret = listening_app
    _, company = customer
    sub = subscription_object("sub_note", "active", company, listing, plan)
    fake_stripe.subscriptions["sub_note"] = sub
    assert post_event(client, event("customer.subscription.created", sub)).status_code == 200
    # The same state again (another event about it) tells the app nothing new.
    assert post_event(client, event("customer.subscription.updated", sub)).status_code == 200
    canceling = dict(sub, cancel_at_period_end=True)
    fake_stripe.subscriptions["sub_note"] = canceling
    assert post_event(client, event("customer.subscription.updated", canceling)).status_code == 200
    ended = dict(canceling, status="canceled", ended_at=int(time.time()))
    fake_stripe.subscriptions["sub_note"] = ended
    assert post_event(client, event("customer.subscription.deleted", ended)).status_code == 200
    rows = list(AppNotification.select().order_by(AppNotification.id))
    assert [r.type for r in rows] == ["subscription.created", "subscription.updated", "subscription.canceled"]
    assert receiver.received == []  # tests send nothing in the background: delivery is explicit

    assert notifications.deliver_due(app.config) == {"delivered": 3, "failed": 0}
    assert notifications.deliver_due(app.config) == {"delivered": 0, "failed": 0}
    assert len(receiver.received) == 3
    payloads = []
    for body, header in receiver.received:
        assert verify(body, header, secret)
        assert not verify(body, header, "not-the-landing-secret")
        payloads.append(json.loads(body))
    assert [p["type"] for p in payloads] == [r.type for r in rows]
    assert len({p["id"] for p in payloads}) == 3
    first = payloads[0]
    assert first["app"] == listing.slug and first["company"] == company.public_id
    assert first["data"]["subscription"]["status"] == "active"
    assert first["data"]["subscription"]["plan"] == plan.name
    assert payloads[1]["data"]["subscription"]["cancel_at_period_end"] is True
    assert payloads[2]["data"]["subscription"]["status"] == "canceled"
    assert "id" not in first["data"]["subscription"]  # no market row ids leak to the app
    assert all(r.delivered_at is not None and r.attempts == 1 for r in AppNotification.select())


def test_a_failing_endpoint_is_retried_with_growing_delays(app, customer, listening_app, receiver):
    listing, plan, secret = listening_app
    _, company = customer
    receiver.statuses = [500, 503]
    now = utcnow()
    sub = factories.subscription(company, listing, plan=plan)
    from models import db

    with db.atomic():
        notifications.subscription_changed(sub, "subscription.updated", now)
    assert notifications.deliver_due(app.config, now) == {"delivered": 0, "failed": 1}
    row = AppNotification.get()
    assert (row.attempts, row.delivered_at) == (1, None) and "500" in row.last_error
    # The delay counts from when the attempt ended (a moment after `now`).
    assert now + datetime.timedelta(minutes=1) <= row.next_attempt_at < now + datetime.timedelta(minutes=1, seconds=5)
    # Not due before its time.
    assert notifications.deliver_due(app.config, now + datetime.timedelta(seconds=59)) == {"delivered": 0,
                                                                                            "failed": 0}
    later = row.next_attempt_at
    assert notifications.deliver_due(app.config, later)["failed"] == 1
    row = AppNotification.get()
    # the delay grows
    assert later + datetime.timedelta(minutes=5) <= row.next_attempt_at < later + datetime.timedelta(minutes=5,
                                                                                                      seconds=5)
    done = row.next_attempt_at
    assert notifications.deliver_due(app.config, done) == {"delivered": 1, "failed": 0}
    row = AppNotification.get()
    assert row.attempts == 3 and done <= row.delivered_at < done + datetime.timedelta(seconds=5)
    assert row.last_error == ""
    # All three attempts carried the same event, each correctly signed.
    bodies = {body for body, _ in receiver.received}
    assert len(receiver.received) == 3 and len(bodies) == 1
    assert all(verify(body, header, secret) for body, header in receiver.received)


def test_the_market_gives_up_and_an_unreachable_app_never_raises(app, customer, listening_app):
    listing, plan, _ = listening_app
    _, company = customer
    App.update(webhook_url="http://127.0.0.1:9/nothing-listens-here").where(App.id == listing.id).execute()
    app.config["OUTBOUND_ALLOWED_ORIGINS"] = "http://127.0.0.1:9"  # let through, so it is the connection that fails
    now = utcnow()
    sub = factories.subscription(company, listing, plan=plan)
    notifications.subscription_changed(sub, "subscription.updated", now)
    moment = now
    for _ in range(notifications.MAX_ATTEMPTS):
        assert notifications.deliver_due(app.config, moment) == {"delivered": 0, "failed": 1}
        moment = AppNotification.get().next_attempt_at
    row = AppNotification.get()
    assert row.attempts == notifications.MAX_ATTEMPTS and row.delivered_at is None
    assert "Error" in row.last_error
    assert notifications.due(moment + datetime.timedelta(days=30)) == []  # given up


def test_concurrent_senders_deliver_each_event_once(app, customer, listening_app, receiver):
    listing, plan, _ = listening_app
    _, company = customer
    receiver.delay = 0.2  # both senders are busy at once
    sub = factories.subscription(company, listing, plan=plan)
    for kind in ("subscription.created", "subscription.updated", "subscription.canceled"):
        notifications.subscription_changed(sub, kind)
    barrier = threading.Barrier(4)
    results = []

    def sender():
        from models import db

        with app.app_context(), db.connection_context():
            barrier.wait()
            results.append(notifications.deliver_due(app.config))

    threads = [threading.Thread(target=sender) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sum(r["delivered"] for r in results) == 3
    assert len(receiver.received) == 3
    assert len({json.loads(body)["id"] for body, _ in receiver.received}) == 3


def test_an_app_without_webhook_url_gets_no_outbox_rows_and_a_failed_change_leaves_none(
        app, client, fake_stripe, customer, paid_app, monkeypatch):
    listing, plan, _ = paid_app
    _, company = customer
    sub = subscription_object("sub_quiet", "active", company, listing, plan)
    fake_stripe.subscriptions["sub_quiet"] = sub
    assert post_event(client, event("customer.subscription.created", sub)).status_code == 200
    assert Subscription.select().count() == 1 and AppNotification.select().count() == 0
    # With a webhook URL: a change whose transaction fails leaves no event behind.
    App.update(webhook_url="http://127.0.0.1:9/n").where(App.id == listing.id).execute()
    from market.stats import app_stats

    def boom(*args, **kwargs):
        raise RuntimeError("the database went away mid-change")

    monkeypatch.setattr(app_stats, "refresh_app", boom)
    changed = dict(sub, cancel_at_period_end=True)
    fake_stripe.subscriptions["sub_quiet"] = changed
    assert post_event(client, event("customer.subscription.updated", changed)).status_code == 500
    assert AppNotification.select().count() == 0
    assert Subscription.get().cancel_at_period_end is False


def test_notify_command_sends_what_is_due(app, runner, customer, listening_app, receiver):
    listing, plan, _ = listening_app
    _, company = customer
    sub = factories.subscription(company, listing, plan=plan)
    notifications.subscription_changed(sub, "subscription.created")
    result = runner.invoke(args=["notify"])
    assert result.exit_code == 0, result.output
    assert "delivered 1" in result.output
    assert len(receiver.received) == 1


def test_the_sample_integration_verifies_and_shows_them(app, customer, listening_app):
    """The market's real delivery to the sample integration's /notifications."""
    from examples.sample_integration.app import create_app as create_integration

    listing, plan, secret = listening_app
    _, company = customer
    integration = create_integration("http://127.0.0.1:1", "client-x", "s", "http://127.0.0.1:1/callback",
                                     secret, secret_key="k", notification_secrets=["another-apps-secret"])
    integration.extensions["sample_tokens"].put(company.public_id, {"access_token": "a", "token_type": "Bearer"})
    server = make_server("127.0.0.1", 0, integration, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.socket.getsockname()[1]}/notifications"
        app.config["OUTBOUND_ALLOWED_ORIGINS"] = url.rsplit("/", 1)[0]
        App.update(webhook_url=url).where(App.id == listing.id).execute()
        sub = factories.subscription(company, listing, plan=plan, cancel_at_period_end=True)
        notifications.subscription_changed(sub, "subscription.updated")
        notifications.connection_revoked(company, listing)
        assert notifications.deliver_due(app.config) == {"delivered": 2, "failed": 0}
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()
    # connection.revoked made the integration forget the company's tokens at once.
    assert integration.extensions["sample_tokens"].get(company.public_id) is None
    browser = integration.test_client()
    browser.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"  # the suite reads English
    with browser.session_transaction() as session:
        session["app:sample-integration"] = {"company": company.public_id}  # its per-app state
    page = browser.get("/notifications").get_data(as_text=True)
    assert 'data-type="connection.revoked"' in page
    assert "subscription.updated: active, plan Standard, cancels at period end" in page
    # Forged or replayed-late events are refused.
    body = json.dumps({"id": "evt_forged", "type": "connection.revoked", "company": company.public_id}).encode()
    forged = browser.post("/notifications", data=body, headers={
        "Market-Signature": credentials.sign_payload("guessed-secret", body)})
    stale = browser.post("/notifications", data=body, headers={
        "Market-Signature": credentials.sign_payload(secret, body, now=time.time() - 301)})
    assert (forged.status_code, stale.status_code) == (400, 400)
    assert browser.get("/notifications").get_data(as_text=True).count('class="notification"') == 2
    # Events of another app whose landing secret it was given (the demo's paid app) are taken.
    other = json.dumps({"id": "evt_other", "type": "subscription.created", "company": company.public_id,
                        "data": {"subscription": {"status": "trialing"}}}).encode()
    assert browser.post("/notifications", data=other, headers={
        "Market-Signature": credentials.sign_payload("another-apps-secret", other)}).status_code == 200
    assert "subscription.created: trialing" in browser.get("/notifications").get_data(as_text=True)
