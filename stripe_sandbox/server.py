"""The WSGI application: Stripe's wire protocol in front of the engine, the hosted pages, and the
sandbox-only control endpoints under /_sandbox/."""

import hashlib
import hmac
import json
import os
import re
import threading
import time
import traceback

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from . import pages
from .api import ROUTES, Api, Ctx, Listing
from .engine import API_VERSION, DAY, Engine, list_object, token
from .errors import StripeError, invalid
from .params import Params, normalise_pairs, parse_pairs
from .webhooks import Deliverer

SANDBOX_ROUTES = [
    ("GET", "/_sandbox/requests", "requests"),
    ("GET", "/_sandbox/deliveries", "deliveries"),
    ("POST", "/_sandbox/reset", "reset"),
    ("POST", "/_sandbox/advance", "advance"),
    ("GET", "/_sandbox/clock", "clock"),
    ("POST", "/_sandbox/delay", "delay"),
    ("POST", "/_sandbox/fail", "fail"),
    ("POST", "/_sandbox/drain", "drain"),
    ("GET", "/_sandbox/balance", "balance"),
    ("POST", "/_sandbox/payment_methods/<id>/behavior", "card_behavior"),
    ("POST", "/_sandbox/disputes/<id>/<outcome>", "dispute_outcome"),
    ("POST", "/_sandbox/accounts/<id>/onboard", "onboard"),
    ("POST", "/_sandbox/checkout/<id>/pay", "checkout_pay"),
    ("GET", "/_sandbox/health", "health"),
]


# Control endpoints anyone may call: a liveness probe tells nothing and changes nothing.
OPEN_SANDBOX_ROUTES = {"health"}
VERSION_FORMAT = re.compile(r"^\d{4}-\d{2}-\d{2}(\.[a-z_]+)?$")


def keys_from_environment():
    """`STRIPE_SANDBOX_KEYS`: the secret keys the sandbox accepts, comma-separated."""
    return [k.strip() for k in os.environ.get("STRIPE_SANDBOX_KEYS", "").split(",") if k.strip()]


class Sandbox:
    def __init__(self, data_file=None, base_url="http://127.0.0.1", api_keys=None):
        # Only the keys it was started with: a sandbox anyone can drive with any sk_test_ key
        # lets anyone on the machine reset it, move its clock or pay for others.
        keys = [k for k in (api_keys if api_keys is not None else keys_from_environment()) if k]
        if not keys:
            raise ValueError("the Stripe sandbox needs the secret keys it accepts "
                             "(STRIPE_SANDBOX_KEYS, --key-file, or api_keys=)")
        bad = [k for k in keys if not k.startswith("sk_test_") or len(k) < 10]
        if bad:
            raise ValueError("sandbox keys must look like sk_test_... (at least 10 characters)")
        self.api_keys = tuple(keys)
        self.engine = Engine(data_file, base_url=base_url)
        self.api = Api(self.engine)
        rules = [Rule(path, methods=[method], endpoint=("api", name)) for method, path, name in ROUTES]
        rules += [Rule(path, methods=[method], endpoint=("sandbox", name)) for method, path, name in SANDBOX_ROUTES]
        rules += [Rule(path, methods=methods, endpoint=("page", name)) for methods, path, name in pages.ROUTES]
        self.url_map = Map(rules, strict_slashes=False)
        self.delays: dict[str, list] = {}  # path -> [seconds, remaining count]: the "slow request" hook
        self.failures: dict[str, list] = {}  # path -> [status, remaining count]: injected outages
        self.pending_3ds: dict[tuple, dict] = {}  # (cookie, session id) -> card waiting for confirmation
        self.deliverer = Deliverer(self.engine)
        self.deliverer.start()
        self.closed = threading.Event()
        if data_file:
            threading.Thread(target=self._saver, name="stripe-sandbox-saver", daemon=True).start()

    def _saver(self):
        while not self.closed.wait(0.3):
            self.engine.flush()

    def close(self):
        self.closed.set()
        self.deliverer.stop()
        self.deliverer.join(timeout=5)
        self.engine.flush()

    # ------------------------------------------------------------------ WSGI
    def __call__(self, environ, start_response):
        request = Request(environ)
        try:
            response = self.dispatch(request)
        except HTTPException as exc:
            response = exc.get_response(environ)
        return response(environ, start_response)

    def dispatch(self, request):
        adapter = self.url_map.bind_to_environ(request.environ)
        try:
            (area, name), args = adapter.match()
        except HTTPException as exc:
            if request.path.startswith("/v1/"):
                if getattr(exc, "code", 404) == 405:
                    err = invalid(f"Unrecognized request URL ({request.method}: {request.path}).")
                else:
                    err = StripeError(404, f"Unrecognized request URL ({request.method}: {request.path}). "
                                           "Please see https://stripe.com/docs or we can help at "
                                           "https://support.stripe.com/.")
                with self.engine.lock:  # unknown URLs are requests received too
                    self.engine.request_log.append({
                        "id": None, "method": request.method, "path": request.path,
                        "query": request.query_string.decode("latin-1"),
                        "idempotency_key": request.headers.get("Idempotency-Key"),
                        "stripe_account": request.headers.get("Stripe-Account"), "status": err.status,
                        "replayed": False, "time": self.engine.now()})
                return self.error_response(err, None)
            raise
        if area == "api":
            return self.handle_api(request, name, args)
        if area == "sandbox":
            if name not in OPEN_SANDBOX_ROUTES:
                try:
                    self.authenticate(request)
                except StripeError as err:
                    return self.error_response(err, None)
            return getattr(self, "sandbox_" + name)(request, **args)
        return pages.handle(self, request, name, args)

    def base_url(self, request):
        return request.host_url.rstrip("/")

    def error_response(self, err, request_id, version=API_VERSION):
        resp = Response(json.dumps(err.to_json(request_id), indent=2), status=err.status,
                        content_type="application/json")
        if request_id:
            resp.headers["Request-Id"] = request_id
        resp.headers["Stripe-Version"] = version
        return resp

    # ------------------------------------------------------------------ the API
    def authenticate(self, request):
        auth = request.headers.get("Authorization", "")
        key = None
        if auth.startswith("Bearer "):
            key = auth[7:].strip()
        elif request.authorization and request.authorization.type == "basic":
            key = request.authorization.username
        if not key:
            raise StripeError(401, "You did not provide an API key. You need to provide your API key in the "
                                   "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                                   "YOUR_SECRET_KEY').")
        if not any(hmac.compare_digest(key.encode(), known.encode()) for known in self.api_keys):
            shown = key[:8] + "*" * max(0, len(key) - 12) + key[-4:] if len(key) > 12 else key
            raise StripeError(401, f"Invalid API Key provided: {shown}", code="api_key_invalid")
        return key

    def api_version(self, request):
        """`Stripe-Version` as asked (answered in the response, as Stripe does), else the
        sandbox's own; a malformed one is Stripe's 400."""
        asked = (request.headers.get("Stripe-Version") or "").strip()
        if not asked:
            return API_VERSION
        if not VERSION_FORMAT.match(asked):
            raise StripeError(400, f"Invalid Stripe API version: {asked[:64]}", code="invalid_api_version")
        return asked

    def read_params(self, request):
        if request.method == "POST":
            ctype = request.mimetype
            raw = request.get_data(cache=True)
            if raw and ctype not in ("application/x-www-form-urlencoded", ""):
                raise invalid("Invalid request: the body must be application/x-www-form-urlencoded.")
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise invalid("Invalid request: the body is not valid UTF-8.") from None
            from urllib.parse import parse_qsl
            try:
                pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=False)
            except ValueError:
                raise invalid("Invalid request: the body could not be parsed.") from None
        else:
            pairs = list(request.args.items(multi=True))
        pairs = normalise_pairs(pairs)
        return pairs, parse_pairs(pairs)

    def handle_api(self, request, name, args):
        e = self.engine
        request_id = "req_" + token(14)
        key = request.headers.get("Idempotency-Key")
        account = request.headers.get("Stripe-Account") or None
        entry = {"id": request_id, "method": request.method, "path": request.path,
                 "query": request.query_string.decode("latin-1"), "idempotency_key": key,
                 "stripe_account": account, "status": None, "replayed": False, "time": None}
        with e.lock:
            e.request_log.append(entry)
            entry["time"] = e.now()
        scope = fingerprint = None
        version = API_VERSION
        try:
            self.authenticate(request)
            version = self.api_version(request)
            pairs, data = self.read_params(request)
            if request.method == "POST" and key:
                scope = f"{account or ''}|{key}"
                fingerprint = hashlib.sha256(json.dumps(
                    [request.method, request.path, sorted(pairs)]).encode()).hexdigest()
                with e.lock:
                    stored = e.idempotency.get(scope)
                    if stored and stored.get("at", e.now()) < e.now() - 24 * 3600:
                        stored = None  # Stripe keeps keys for 24 hours
                        e.idempotency.pop(scope, None)
                    if stored and stored["fingerprint"] != fingerprint:
                        scope = None  # not ours: leave the stored result alone
                        raise StripeError(400, "Keys for idempotent requests can only be used with the same "
                                               "parameters they were first used with. Try using a key other "
                                               f"than '{key}' if you meant to execute a different request.",
                                          type="idempotency_error")
                    if stored and stored["state"] == "running":
                        scope = None
                        raise StripeError(409, "There is currently another in-progress request using this "
                                               f"Stripe-Idempotency-Key '{key}'. Please try again later.",
                                          type="idempotency_error", code="idempotency_key_in_use")
                    if stored:
                        entry["replayed"] = True
                        entry["status"] = stored["status"]
                        resp = self.json_response(stored["body"], stored["status"], request_id, key, version)
                        resp.headers["Idempotent-Replayed"] = "true"
                        resp.headers["Original-Request"] = stored["request_id"]
                        return resp
                    e.idempotency[scope] = {"state": "running", "fingerprint": fingerprint}
            self.maybe_delay(request.path)
            self.maybe_fail(request.path)
            with e.lock:
                if account and (account not in e.objects or e.objects[account]["object"] != "account"):
                    raise StripeError(403, f"The provided key does not have access to account '{account}' (or "
                                           "that account does not exist). Application access may have been "
                                           "revoked.", code="account_invalid")
                e.base_url = self.base_url(request)  # hosted-page links name the address the client used
                e.run_due()
                e._request = {"id": request_id, "idempotency_key": key}
                checkpoint = e.checkpoint() if request.method != "GET" else None
                try:
                    body = self.call(name, args, data, Ctx(account, self.base_url(request)))
                except StripeError as err:
                    if checkpoint is not None and err.status != 402:
                        e.rollback(checkpoint)
                    raise
                except Exception:
                    if checkpoint is not None:
                        e.rollback(checkpoint)
                    raise
                finally:
                    e._request = None
                status = 200
                if scope:
                    e.idempotency[scope] = {"state": "done", "fingerprint": fingerprint, "status": 200,
                                            "body": body, "request_id": request_id, "at": e.now()}
                entry["status"] = status
                if request.method != "GET":
                    e.mark_dirty()
            return self.json_response(body, status, request_id, key, version)
        except StripeError as err:
            with e.lock:
                entry["status"] = err.status
                if scope:
                    if err.status == 402:
                        # a card error is a result: the same key gets the same decline
                        e.idempotency[scope] = {"state": "done", "fingerprint": fingerprint, "status": 402,
                                                "body": err.to_json(request_id), "request_id": request_id,
                                                "at": e.now()}
                        e.mark_dirty()
                    else:
                        e.idempotency.pop(scope, None)
            return self.error_response(err, request_id, version)
        except Exception:  # noqa: BLE001 - the sandbox answers Stripe's api_error, never a bare 500 page
            traceback.print_exc()
            with e.lock:
                entry["status"] = 500
                if scope:
                    e.idempotency.pop(scope, None)
            return self.error_response(StripeError(500, "An unexpected error occurred in the Stripe sandbox.",
                                                   type="api_error"), request_id)

    def maybe_delay(self, path):
        with self.engine.lock:
            hook = self.delays.get(path)
            if not hook or hook[1] <= 0:
                return
            hook[1] -= 1
            seconds = hook[0]
        time.sleep(seconds)

    def maybe_fail(self, path):
        with self.engine.lock:
            hook = self.failures.get(path)
            if not hook or hook[1] <= 0:
                return
            hook[1] -= 1
            status = hook[0]
        if status == 429:
            raise StripeError(429, "Too many requests hit the API too quickly.", type="invalid_request_error",
                              code="rate_limit")
        raise StripeError(status, "The Stripe sandbox was told to fail this request.", type="api_error")

    def call(self, name, args, data, ctx):
        p = Params(data)
        expand = p.str_list("expand") or []
        result = getattr(self.api, name)(ctx, p, **args)
        if isinstance(result, Listing):
            page = self.api.paginate(p, result.objects, result.url)
            p.done()
            out = list_object([self.engine.render(o) for o in page["objects"]], page["url"], page["has_more"])
            for path in expand:
                out = self.engine._expand(out, path.split("."))
            return out
        p.done()
        if isinstance(result, dict) and "_seq" in result:
            return self.engine.render(result, expand)
        for path in expand:
            result = self.engine._expand(result, path.split("."))
        return result

    def json_response(self, body, status, request_id, key, version=API_VERSION):
        resp = Response(json.dumps(body, indent=2), status=status, content_type="application/json")
        resp.headers["Request-Id"] = request_id
        resp.headers["Stripe-Version"] = version
        if key:
            resp.headers["Idempotency-Key"] = key
        return resp

    # ------------------------------------------------------------------ sandbox-only endpoints
    def ok(self, body, status=200):
        return Response(json.dumps(body, indent=2), status=status, content_type="application/json")

    def sandbox_health(self, request):
        return self.ok({"ok": True})

    def sandbox_requests(self, request):
        with self.engine.lock:
            data = list(self.engine.request_log)
        path = request.args.get("path")
        if path:
            data = [r for r in data if r["path"].startswith(path)]
        method = request.args.get("method")
        if method:
            data = [r for r in data if r["method"] == method.upper()]
        return self.ok({"data": data})

    def sandbox_deliveries(self, request):
        with self.engine.lock:
            data = json.loads(json.dumps(self.engine.deliveries))
        endpoint = request.args.get("endpoint")
        if endpoint:
            data = [d for d in data if d["endpoint"] == endpoint]
        return self.ok({"data": data})

    def sandbox_reset(self, request):
        with self.engine.lock:
            self.engine.reset()
            self.delays.clear()
            self.failures.clear()
            self.engine.save()
        return self.ok({"reset": True})

    def _form_int(self, request, key):
        value = request.values.get(key, "")
        if value == "":
            return 0
        try:
            return int(value)
        except ValueError:
            raise invalid(f"Invalid integer: {value}", param=key) from None

    def sandbox_advance(self, request):
        try:
            seconds = (self._form_int(request, "days") * DAY + self._form_int(request, "hours") * 3600
                       + self._form_int(request, "seconds"))
        except StripeError as err:
            return self.error_response(err, None)
        if seconds < 0:
            return self.error_response(invalid("The clock only moves forward.", param="seconds"), None)
        with self.engine.lock:
            self.engine.advance(seconds)
            self.engine.mark_dirty()
            now = self.engine.now()
        if request.values.get("wait") == "true":
            self.wait_idle(float(request.values.get("timeout", "30")))
        return self.ok({"now": now, "offset": self.engine.offset})

    def sandbox_clock(self, request):
        with self.engine.lock:
            return self.ok({"now": self.engine.now(), "offset": self.engine.offset})

    def sandbox_delay(self, request):
        path = request.values.get("path", "")
        try:
            seconds = float(request.values.get("seconds", "1"))
            count = int(request.values.get("count", "1"))
        except ValueError:
            return self.error_response(invalid("seconds and count must be numbers"), None)
        with self.engine.lock:
            self.delays[path] = [min(seconds, 30.0), count]
        return self.ok({"path": path, "seconds": seconds, "count": count})

    def sandbox_fail(self, request):
        """Answer the next `count` requests to `path` with `status` (429 → RateLimitError, 5xx →
        APIError), before they touch anything: for testing how the market copes with Stripe down."""
        path = request.values.get("path", "")
        try:
            status = int(request.values.get("status", "500"))
            count = int(request.values.get("count", "1"))
        except ValueError:
            return self.error_response(invalid("status and count must be integers"), None)
        if status not in (429, 500, 502, 503, 504):
            return self.error_response(invalid("status must be 429, 500, 502, 503 or 504", param="status"), None)
        with self.engine.lock:
            self.failures[path] = [status, count]
        return self.ok({"path": path, "status": status, "count": count})

    def wait_idle(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.deliverer.idle():
                return True
            time.sleep(0.02)
        return False

    def sandbox_drain(self, request):
        try:
            timeout = float(request.values.get("timeout", "10"))
        except ValueError:
            timeout = 10.0
        return self.ok({"idle": self.wait_idle(min(timeout, 60.0))})

    def sandbox_balance(self, request):
        with self.engine.lock:
            account = request.args.get("account") or None
            return self.ok({"platform": self.engine.balance(None)["available"][0]["amount"],
                            "account": account and self.engine.balance(account)["available"][0]["amount"]})

    def sandbox_card_behavior(self, request, id):
        behavior = request.values.get("behavior", "")
        if behavior not in ("succeed", "fail", "decline", "dispute", "3ds"):
            return self.error_response(invalid("behavior must be one of succeed, fail, decline, dispute, 3ds",
                                               param="behavior"), None)
        with self.engine.lock:
            obj = self.engine.objects.get(id)
            if obj and obj["object"] == "customer":
                obj = self.engine.default_pm(obj)
            if not obj or obj["object"] != "payment_method":
                return self.error_response(StripeError(404, f"No such payment method or customer: '{id}'"),
                                           None)
            obj["_behavior"] = behavior
            self.engine.mark_dirty()
            return self.ok({"payment_method": obj["id"], "behavior": behavior})

    def sandbox_dispute_outcome(self, request, id, outcome):
        if outcome not in ("win", "lose"):
            return self.error_response(StripeError(404, "Use /win or /lose."), None)
        with self.engine.lock:
            dispute = self.engine.objects.get(id)
            if not dispute or dispute["object"] != "dispute":
                return self.error_response(StripeError(404, f"No such dispute: '{id}'"), None)
            try:
                self.engine.close_dispute(dispute, won=outcome == "win")
            except StripeError as err:
                return self.error_response(err, None)
            self.engine.mark_dirty()
            return self.ok(self.engine.render(dispute))

    def sandbox_onboard(self, request, id):
        with self.engine.lock:
            acct = self.engine.objects.get(id)
            if not acct or acct["object"] != "account":
                return self.error_response(StripeError(404, f"No such account: '{id}'"), None)
            self.engine.complete_onboarding(acct)
            self.engine.mark_dirty()
            return self.ok(self.engine.render(acct))

    def sandbox_checkout_pay(self, request, id):
        """Pay a Checkout Session without the browser form (same rules as the hosted page)."""
        with self.engine.lock:
            session = self.engine.objects.get(id)
            if not session or session["object"] != "checkout.session":
                return self.error_response(StripeError(404, f"No such checkout.session: '{id}'"), None)
        outcome = pages.pay_session(self, id, {
            "card_number": request.values.get("card_number", "4242 4242 4242 4242"),
            "exp": request.values.get("exp", "12/34"), "cvc": request.values.get("cvc", "123"),
            "name": request.values.get("name", "Test Buyer"),
            "email": request.values.get("email", "buyer@example.com")}, confirm_3ds=True)
        if outcome.get("error"):
            return self.ok({"error": outcome["error"]}, status=402)
        return self.ok({"redirect": outcome["redirect"], "session": outcome["session"]})


def make_app(data_file=None, api_keys=None):
    return Sandbox(data_file, api_keys=api_keys)


__all__ = ["Sandbox", "make_app"]
