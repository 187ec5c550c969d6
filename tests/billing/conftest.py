"""Helpers for the billing tests: signed Stripe events built by hand, a stand-in for the
Stripe objects the handlers re-fetch, and a paid app whose developer can be paid."""
import itertools
import json
import threading
import time

import pytest
import stripe

from market.billing import signals, webhooks
from market.oauth import on_billing as oauth_on_billing
from models import Developer, Plan
from tests import factories

SECRET = "whsec_test_market"
CONNECT_SECRET = "whsec_test_market_connect"
_ids = itertools.count(1)


def sign(payload, secret=SECRET, timestamp=None):
    text = payload if isinstance(payload, str) else payload.decode()
    return stripe.WebhookSignature.generate_signature_header(text, secret, timestamp)


def event(kind, obj, created=None, event_id=None, account=None):
    body = {"id": event_id or f"evt_{next(_ids):06d}{int(time.time() * 1000)}", "object": "event",
            "api_version": "2026-10-28.endive", "created": created or int(time.time()), "type": kind,
            "data": {"object": obj}, "livemode": False, "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None}}
    if account:
        body["account"] = account
    return body


def post_event(client, body, secret=None, timestamp=None, connect=None):
    """Posted as Stripe would: a connected account's event (`account` set) to the Connect
    endpoint with its secret, any other to the platform's; `connect` and `secret` override."""
    connect = bool(body.get("account")) if connect is None else connect
    secret = secret or (CONNECT_SECRET if connect else SECRET)
    payload = json.dumps(body)
    return client.post("/stripe/webhook?connect=1" if connect else "/stripe/webhook", data=payload,
                       content_type="application/json",
                       headers={"Stripe-Signature": sign(payload, secret, timestamp)})


def post_events_at_once(app, bodies):
    """Each event posted from its own thread and client, all released together (Stripe sends
    a new subscription's first events in parallel): the status codes, in the order answered."""
    statuses, barrier = [], threading.Barrier(len(bodies))

    def deliver(body):
        browser = app.test_client()
        barrier.wait()
        statuses.append(post_event(browser, body).status_code)

    threads = [threading.Thread(target=deliver, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return statuses


def subscription_object(sub_id, status, company, app, plan, *, price_id="price_test", start=None,
                        end=None, cancel_at_period_end=False, trial_end=None, metadata=True, customer=None,
                        canceled_at=None, ended_at=None):
    start = start or int(time.time())
    end = end or start + 30 * 86400
    return {
        "id": sub_id, "object": "subscription", "status": status,
        "customer": customer or company.stripe_customer_id or "cus_test",
        "cancel_at_period_end": cancel_at_period_end, "trial_end": trial_end,
        "canceled_at": canceled_at, "ended_at": ended_at, "application_fee_percent": 40.0,
        "transfer_data": {"destination": app.developer.stripe_account_id, "amount_percent": None},
        "metadata": ({"company_id": str(company.id), "app_id": str(app.id), "plan_id": str(plan.id),
                      "installation": _installation()} if metadata else {}),
        "items": {"object": "list", "data": [{
            "id": "si_" + sub_id, "object": "subscription_item", "current_period_start": start,
            "current_period_end": end, "quantity": 1,
            "price": {"id": price_id, "object": "price", "unit_amount": plan.price_ore, "currency": "sek"},
        }]},
    }


def invoice_object(invoice_id, sub, net, moms_percent=25, paid_at=None):
    moms = (net * moms_percent + 50) // 100
    return {
        "id": invoice_id, "object": "invoice", "status": "paid", "currency": "sek",
        "customer": sub["customer"], "subtotal": net, "total": net + moms,
        "total_excluding_tax": net, "amount_paid": net + moms,
        "total_taxes": [{"amount": moms, "tax_behavior": "exclusive", "taxable_amount": net,
                         "type": "tax_rate_details"}] if moms_percent else [],
        "parent": {"type": "subscription_details",
                   "subscription_details": {"subscription": sub["id"], "metadata": sub["metadata"]}},
        "status_transitions": {"paid_at": paid_at or int(time.time())},
    }


def _installation():
    from models import MarketSetting

    return MarketSetting.get(MarketSetting.name == "installation_id").value


class FakeStripe:
    """What `webhooks` re-fetches: the current subscription objects and the fees taken."""

    def __init__(self):
        self.subscriptions = {}
        self.payments = {}
        self.fetches = 0

    def fetch_subscription(self, config, sub_id):
        self.fetches += 1
        if sub_id not in self.subscriptions:
            raise stripe.InvalidRequestError(f"No such subscription: '{sub_id}'", "id")
        return json.loads(json.dumps(self.subscriptions[sub_id]))

    def fetch_payment(self, config, invoice):
        return self.payments.get(invoice["id"], {"charge": None, "fee": None})


@pytest.fixture
def fake_stripe(monkeypatch):
    fake = FakeStripe()
    monkeypatch.setattr(webhooks, "fetch_subscription", fake.fetch_subscription)
    monkeypatch.setattr(webhooks, "fetch_payment", fake.fetch_payment)
    return fake


@pytest.fixture
def lost():
    """A stand-in for the OAuth engineer's token revocation (billing's access_ended): records
    each call."""
    calls = []

    def record(company, app, config, now):
        calls.append((company.id, app.id))

    signals.access_ended.disconnect(oauth_on_billing.revoke_grant_of_lost_access)
    with signals.access_ended.connected_to(record):
        yield calls
    signals.access_ended.connect(oauth_on_billing.revoke_grant_of_lost_access)


@pytest.fixture
def paid_app(app):
    developer = factories.developer(stripe_account_id="acct_test_dev", payouts_enabled=True)
    listing = factories.app_listing(developer_obj=developer, price_ore=19900)
    plan = Plan.get(Plan.app == listing)
    return listing, plan, Developer.get_by_id(developer.id)


@pytest.fixture
def customer(app):
    admin = factories.customer_admin()
    company = admin.company
    company.stripe_customer_id = "cus_test_" + str(company.id)
    company.save()
    return admin, company


# ---------------------------------------------------------------------------- against the sandbox
@pytest.fixture(scope="session")
def sandbox():
    from stripe_sandbox.testing import start_sandbox

    handle = start_sandbox()
    yield handle
    handle.stop()


@pytest.fixture
def live_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveMarket:
    """The market served on a real port, so the sandbox can deliver webhooks and a browser-like
    `requests` session can follow the redirects to Checkout and back."""

    def __init__(self, app, sandbox, port):
        import requests

        self.app = app
        self.sandbox = sandbox
        self.url = f"http://127.0.0.1:{port}"
        self.requests = requests

    def browser(self):
        session = self.requests.Session()
        session.headers["Accept-Language"] = "en"  # the suite reads English (tests/conftest.py)
        return session

    def login(self, email, password=factories.PASSWORD):
        import re

        http = self.browser()
        page = http.get(self.url + "/login", timeout=10)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        response = http.post(self.url + "/login", data={"email": email, "password": password,
                                                         "csrf_token": token}, timeout=10,
                             allow_redirects=False)
        assert response.status_code == 303, response.text
        # Login starts a new session, so the form token comes from a page seen after it.
        page = http.get(self.url + "/account/apps", timeout=10)
        http.csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        return http

    def post(self, http, path, data=None):
        form = dict(data or {})
        form.setdefault("csrf_token", http.csrf)
        return http.post(self.url + path, data=form, timeout=30, allow_redirects=False)

    def settle(self):
        assert self.sandbox.wait_for_deliveries(timeout=20)


@pytest.fixture
def market(app, sandbox, live_port):
    import threading

    from werkzeug.serving import make_server

    from market.jobs import stripe_setup
    from stripe_sandbox.testing import QuietHandler

    sandbox.reset()
    server = make_server("127.0.0.1", live_port, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    live = LiveMarket(app, sandbox, live_port)
    summary = stripe_setup.prepare_demo(app.config, live.url + "/stripe/webhook")
    app.config["STRIPE_WEBHOOK_SECRET"] = summary["webhook_secret"]
    app.config["STRIPE_CONNECT_WEBHOOK_SECRET"] = summary["connect_webhook_secret"]
    yield live
    try:
        sandbox.wait_for_deliveries(timeout=10)
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()


def sandbox_config(sandbox, port, **extra):
    from stripe_sandbox.testing import API_KEY

    return {"STRIPE_API_BASE": sandbox.url, "STRIPE_SECRET_KEY": API_KEY,
            "MARKET_URL": f"http://127.0.0.1:{port}", **extra}


def onboard_developer(live, developer, email):
    """Through the sandbox's hosted onboarding form, as the developer's browser would."""
    import re
    from urllib.parse import urljoin

    from market.billing import connect

    link = connect.onboarding_link(live.app.config, developer, email)
    http = live.browser()
    page = http.get(link, timeout=10)
    action = urljoin(link, re.search(r'<form[^>]*action="([^"]+)"', page.text).group(1))
    fields = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', page.text))
    fields["business_type"] = "company"
    response = http.post(action, data=fields, timeout=10, allow_redirects=False)
    assert response.status_code == 303
    assert response.headers["Location"] == live.url + "/developer/payouts"
    live.settle()
