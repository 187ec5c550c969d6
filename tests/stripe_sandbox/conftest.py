"""One sandbox for the whole session (a background thread on a free port), emptied before each
test; tests talk to it only through the `stripe` library and plain HTTP, as the market does."""

import http.server
import threading

import pytest
import requests
import stripe

from stripe_sandbox.testing import API_KEY, start_sandbox


@pytest.fixture(scope="session")
def sandbox():
    handle = start_sandbox()
    yield handle
    handle.stop()


@pytest.fixture(autouse=True)
def _fresh_sandbox(sandbox):
    sandbox.reset()
    yield


@pytest.fixture
def client(sandbox):
    # no automatic retries, so a test sees exactly the answer the sandbox gave
    return stripe.StripeClient(API_KEY, base_addresses=sandbox.base_addresses, max_network_retries=0)


@pytest.fixture
def browser():
    with requests.Session() as session:
        yield session


class Receiver:
    """A webhook endpoint in the test: verifies each delivery with `stripe.Webhook.construct_event`
    and can be told to fail (answer 500) for a while."""

    def __init__(self):
        self.events = []
        self.raw = []
        self.secrets = []
        self.failing = False
        self.rejected = 0
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                if receiver.failing:
                    receiver.rejected += 1
                    self.send_response(500)
                    self.end_headers()
                    return
                for secret in receiver.secrets:
                    try:
                        event = stripe.Webhook.construct_event(body, self.headers["Stripe-Signature"], secret)
                    except stripe.SignatureVerificationError:
                        continue
                    receiver.events.append(event)
                    receiver.raw.append((self.path, self.headers["Stripe-Signature"], body))
                    self.send_response(200)
                    self.end_headers()
                    return
                self.send_response(400)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def types(self):
        return [e.type for e in self.events]

    def of_type(self, kind):
        return [e for e in self.events if e.type == kind]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def hooks(client, receiver):
    """A platform endpoint and a Connect endpoint, both pointing at the receiver."""
    platform = client.v1.webhook_endpoints.create(params={"url": receiver.url + "/platform",
                                                          "enabled_events": ["*"]})
    connect = client.v1.webhook_endpoints.create(params={"url": receiver.url + "/connect",
                                                         "enabled_events": ["*"], "connect": True})
    receiver.secrets += [platform.secret, connect.secret]
    return platform, connect


@pytest.fixture
def plan(client):
    """What the market sets up for an app: a product, a monthly SEK price, 25 % moms."""
    product = client.v1.products.create(params={"name": "Time Tracker Pro", "metadata": {"app": "ttp"}})
    price = client.v1.prices.create(params={"product": product.id, "unit_amount": 19900, "currency": "sek",
                                            "recurring": {"interval": "month"}})
    moms = client.v1.tax_rates.create(params={"display_name": "Moms", "percentage": 25, "inclusive": False,
                                              "country": "SE"})
    return {"product": product, "price": price, "tax": moms}


@pytest.fixture
def developer(client, sandbox):
    """An Express account that finished onboarding."""
    account = client.v1.accounts.create(params={"type": "express", "country": "SE",
                                                "capabilities": {"transfers": {"requested": True}}})
    sandbox.onboard(account.id)
    return client.v1.accounts.retrieve(account.id)
