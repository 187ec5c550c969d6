"""Signed webhook deliveries: Stripe's signature, payloads, order, retries and catching up."""

import stripe

from stripe_sandbox.engine import WEBHOOK_RETRY_DELAYS

from .helpers import checkout, pay


def test_deliveries_verify_with_the_library_and_come_in_order(client, plan, developer, hooks, receiver,
                                                              browser, sandbox):
    session = checkout(client, plan, developer)
    pay(browser, session.url)
    assert sandbox.wait_for_deliveries()
    types = receiver.types()
    for kind in ("checkout.session.completed", "customer.subscription.created", "invoice.created",
                 "invoice.finalized", "invoice.paid", "invoice.payment_succeeded", "charge.succeeded"):
        assert kind in types, kind
    # creation order per object: the invoice is created, finalized, then paid
    inv = [t for t in types if t.startswith("invoice.")]
    assert inv == ["invoice.created", "invoice.finalized", "invoice.paid", "invoice.payment_succeeded"]
    sub_events = [t for t in types if t.startswith("customer.subscription.")]
    assert sub_events[0] == "customer.subscription.created"
    assert types.index("customer.subscription.created") < types.index("invoice.created")
    # platform events never go to the Connect endpoint
    assert all(path == "/platform" for path, _, body in receiver.raw if '"account.updated"' not in body)
    created = receiver.of_type("customer.subscription.created")[0]
    assert created.data.object.status == "incomplete"
    updated = receiver.of_type("customer.subscription.updated")[-1]
    assert updated.data.object.status == "active" and updated.data.previous_attributes.status == "incomplete"


def test_signature_is_stripes_scheme(client, hooks, receiver, sandbox):
    platform, _ = hooks
    client.v1.customers.create(params={"email": "sig@example.com"})
    sandbox.wait_for_deliveries()
    path, header, body = receiver.raw[0]
    parts = dict(p.split("=", 1) for p in header.split(","))
    assert set(parts) == {"t", "v1"}
    stripe.WebhookSignature.verify_header(body, header, platform.secret, tolerance=300)
    try:
        stripe.Webhook.construct_event(body + " ", header, platform.secret)
    except stripe.SignatureVerificationError:
        pass
    else:
        raise AssertionError("a changed body must not verify")


def test_enabled_events_filter(client, receiver, sandbox):
    endpoint = client.v1.webhook_endpoints.create(params={"url": receiver.url + "/only",
                                                          "enabled_events": ["product.created"]})
    receiver.secrets.append(endpoint.secret)
    client.v1.customers.create(params={"email": "x@example.com"})
    client.v1.products.create(params={"name": "P"})
    sandbox.wait_for_deliveries()
    assert receiver.types() == ["product.created"]


def test_endpoint_down_for_a_day_catches_up(client, hooks, receiver, sandbox):
    platform, _ = hooks
    receiver.failing = True
    client.v1.customers.create(params={"email": "down@example.com"})
    sandbox.wait_for_deliveries()
    assert receiver.rejected == 1
    # while it is down, the events stay listed as not delivered
    missed = client.v1.events.list(params={"delivery_success": False}).data
    assert [e.type for e in missed] == ["customer.created"]
    sandbox.advance(seconds=WEBHOOK_RETRY_DELAYS[0] + 1)
    assert receiver.rejected == 2
    receiver.failing = False
    sandbox.advance(days=1)
    assert receiver.types() == ["customer.created"]
    assert client.v1.events.list(params={"delivery_success": False}).data == []
    [delivery] = sandbox.deliveries(endpoint=platform.id)
    assert delivery["status"] == "succeeded"
    assert [a["status"] for a in delivery["attempts"]] == [500, 500, 200]
    # the retries came with growing delays on the sandbox clock
    at = [a["at"] for a in delivery["attempts"]]
    assert at[1] - at[0] >= WEBHOOK_RETRY_DELAYS[0] and at[2] - at[1] >= WEBHOOK_RETRY_DELAYS[1]


def test_endpoint_that_never_answers_is_given_up_after_three_days(client, receiver, sandbox):
    endpoint = client.v1.webhook_endpoints.create(params={"url": "http://127.0.0.1:9/nothing-listens",
                                                          "enabled_events": ["*"]})
    client.v1.customers.create(params={"email": "void@example.com"})
    sandbox.wait_for_deliveries()
    for _ in range(len(WEBHOOK_RETRY_DELAYS) + 1):
        sandbox.advance(hours=13)
    [delivery] = sandbox.deliveries(endpoint=endpoint.id)
    assert delivery["status"] == "failed" and len(delivery["attempts"]) == len(WEBHOOK_RETRY_DELAYS) + 1
    assert all(a["status"] is None and a["error"] for a in delivery["attempts"])
    assert sum(WEBHOOK_RETRY_DELAYS) <= 3 * 86400


def test_events_api_retrieve_and_list(client, sandbox):
    customer = client.v1.customers.create(params={"email": "ev@example.com"})
    client.v1.customers.update(customer.id, params={"name": "Ev AB"})
    events = client.v1.events.list(params={"types": ["customer.created", "customer.updated"]}).data
    assert [e.type for e in events] == ["customer.updated", "customer.created"]
    assert events[0].data.previous_attributes.name is None
    again = client.v1.events.retrieve(events[1].id)
    assert again.data.object.id == customer.id and again.request.idempotency_key
    assert client.v1.events.list(params={"type": "customer.*"}).data[0].id == events[0].id


def test_a_slow_endpoint_does_not_hold_up_the_others(client, sandbox, receiver):
    import http.server
    import threading
    import time

    release = threading.Event()

    class Slow(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            release.wait(10)  # stuck until the test has seen the other endpoint served
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    slow = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    slow.daemon_threads = True
    threading.Thread(target=slow.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        client.v1.webhook_endpoints.create(params={"url": f"http://127.0.0.1:{slow.server_address[1]}/",
                                                   "enabled_events": ["*"]})
        fast = client.v1.webhook_endpoints.create(params={"url": receiver.url + "/fast", "enabled_events": ["*"]})
        receiver.secrets.append(fast.secret)
        for i in range(3):
            client.v1.customers.create(params={"email": f"s{i}@example.com"})
        deadline = time.monotonic() + 8
        while len(receiver.events) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert [e.data.object.email for e in receiver.events] == ["s0@example.com", "s1@example.com",
                                                                  "s2@example.com"]
    finally:
        release.set()
        slow.shutdown()
        slow.server_close()
    assert sandbox.wait_for_deliveries(timeout=10)
