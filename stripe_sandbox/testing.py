"""Run a sandbox in a background thread for tests and demos.

    handle = start_sandbox()            # 127.0.0.1, a free port; accepts only API_KEY (or keys=[...])
    client = stripe.StripeClient(API_KEY, base_addresses=handle.base_addresses)
    ...
    handle.requests()                   # what the sandbox received (Idempotency-Key per request)
    handle.advance(days=30)             # the sandbox-wide clock, runs what falls due
    handle.stop()
"""

import json
import threading
import urllib.parse
import urllib.request

from werkzeug.serving import WSGIRequestHandler, make_server

from .server import Sandbox

API_KEY = "sk_test_sandbox"


class QuietHandler(WSGIRequestHandler):
    """No access log: test output stays readable."""

    def log_request(self, *args, **kwargs):
        pass


class SandboxHandle:
    def __init__(self, sandbox, server, thread, api_key=API_KEY):
        self.sandbox = sandbox
        self.api_key = api_key  # sent on the control endpoints too: they need the sandbox's key
        self.server = server
        self.thread = thread
        self.port = server.socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"

    @property
    def base_addresses(self):
        """For `stripe.StripeClient(key, base_addresses=handle.base_addresses)`."""
        return {"api": self.url, "connect": self.url, "files": self.url}

    def configure_global(self, stripe_module, api_key=API_KEY):
        """Point the `stripe` module's global configuration at this sandbox."""
        stripe_module.api_key = api_key
        stripe_module.api_base = self.url
        stripe_module.connect_api_base = self.url
        stripe_module.upload_api_base = self.url

    def _call(self, method, path, params=None):
        data = urllib.parse.urlencode(params or {}).encode() if method == "POST" else None
        if method == "GET" and params:
            path = f"{path}?{urllib.parse.urlencode(params)}"
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Authorization": f"Bearer {self.api_key}"})
        with urllib.request.urlopen(req, timeout=90) as resp:
            return json.loads(resp.read())

    def reset(self):
        self._call("POST", "/_sandbox/reset")

    def requests(self, path=None, method=None):
        """Every API request received: method, path, idempotency_key, stripe_account, status."""
        params = {k: v for k, v in (("path", path), ("method", method)) if v}
        return self._call("GET", "/_sandbox/requests", params)["data"]

    def deliveries(self, endpoint=None):
        """Webhook deliveries with their attempts, oldest first."""
        return self._call("GET", "/_sandbox/deliveries", {"endpoint": endpoint} if endpoint else None)["data"]

    def wait_for_deliveries(self, timeout=10):
        """Block until no webhook delivery is due (future retries do not count)."""
        return self._call("POST", "/_sandbox/drain", {"timeout": timeout})["idle"]

    def advance(self, days=0, hours=0, seconds=0, wait=True):
        out = self._call("POST", "/_sandbox/advance", {"days": days, "hours": hours, "seconds": seconds})
        if wait:
            self.wait_for_deliveries()
        return out["now"]

    def now(self):
        return self._call("GET", "/_sandbox/clock")["now"]

    def set_card_behavior(self, payment_method_or_customer, behavior):
        """behavior: succeed | fail | decline | dispute | 3ds (a customer id means its default card)."""
        return self._call("POST", f"/_sandbox/payment_methods/{payment_method_or_customer}/behavior",
                          {"behavior": behavior})

    def win_dispute(self, dispute_id):
        return self._call("POST", f"/_sandbox/disputes/{dispute_id}/win")

    def lose_dispute(self, dispute_id):
        return self._call("POST", f"/_sandbox/disputes/{dispute_id}/lose")

    def onboard(self, account_id):
        """Complete Connect onboarding without the browser form."""
        return self._call("POST", f"/_sandbox/accounts/{account_id}/onboard")

    def pay_checkout(self, session_id, card_number="4242424242424242", exp="12/34", cvc="123", name="Test Buyer"):
        """Pay a Checkout Session as the hosted page would; returns {"redirect": success URL}."""
        return self._call("POST", f"/_sandbox/checkout/{session_id}/pay",
                          {"card_number": card_number, "exp": exp, "cvc": cvc, "name": name})

    def delay(self, path, seconds, count=1):
        """Make the next `count` API requests to `path` take `seconds` longer (for races)."""
        return self._call("POST", "/_sandbox/delay", {"path": path, "seconds": seconds, "count": count})

    def fail(self, path, status=500, count=1):
        """Answer the next `count` requests to `path` with `status` (429 or 5xx), changing nothing."""
        return self._call("POST", "/_sandbox/fail", {"path": path, "status": status, "count": count})

    def stop(self):
        self.server.shutdown()
        self.thread.join(timeout=5)
        self.server.server_close()
        self.sandbox.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def start_sandbox(port=0, data=None, host="127.0.0.1", keys=(API_KEY,)) -> SandboxHandle:
    """A sandbox that accepts only `keys` (the API and its control endpoints alike)."""
    sandbox = Sandbox(data, api_keys=list(keys))
    server = make_server(host, port, sandbox, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name=f"stripe-sandbox-{port}", daemon=True)
    thread.start()
    return SandboxHandle(sandbox, server, thread, api_key=keys[0])
