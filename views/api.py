"""The platform API under /api/v1 (DESIGN.md §6): bearer tokens from the OAuth2 flow only.

Every route is CSRF-exempt because it is authenticated by the bearer token, never by the
session cookie. Each call goes through the same steps: the token (401), the rate limit per
client and company (429), the scope (403), the entitlement (403), then the view.
"""
import json
import math
import time
from functools import wraps

from authlib.oauth2 import OAuth2Error
from flask import Blueprint, current_app, g, jsonify, request
from limits import RateLimitItemPerSecond
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from market.api import health as api_health
from market.api import openapi as api_openapi
from market.api import resources as api
from market.api.resources import ApiError
from market.oauth import connections, tokens
from market.oauth import web as oauth_web
from views.security import csrf_exempt

bp = Blueprint("api", __name__, url_prefix="/api/v1")

MAX_BODY_BYTES = 64 * 1024
RATE_WINDOW_SECONDS = 5
RATE_CALLS = 25
RATE_LIMIT = f"{RATE_CALLS} per {RATE_WINDOW_SECONDS} seconds"


class RateLimit:
    """25 calls per 5 s per client and company (QUALITY.md 13), counted by `limits` in
    RATELIMIT_STORAGE_URI (Redis when several servers share the load), else in this process's
    memory. A moving window: a fixed one would let a client send 50 calls across a window
    boundary.

    `limits` is called directly rather than through Flask-Limiter: the API has one limit on one
    key, and Flask-Limiter's per-request work (resolving decorated limits, exemptions, its request
    context) cost more CPU than the counting itself (bench/README.md, issue R)."""

    PREFIX = "market-api"

    def __init__(self):
        self.item = RateLimitItemPerSecond(RATE_CALLS, RATE_WINDOW_SECONDS)
        self._last = None  # the storage of the app made last, for tools outside a request

    def init_app(self, app):
        uri = app.config.get("RATELIMIT_STORAGE_URI") or "memory://"
        app.config["RATELIMIT_STORAGE_URI"] = uri
        store = storage_from_string(uri)
        app.extensions["api_rate_limit"] = self._last = (store, MovingWindowRateLimiter(store))

    def _of_app(self):
        return current_app.extensions["api_rate_limit"] if current_app else self._last

    @property
    def storage(self):
        return self._of_app()[0]

    def hit(self, key):
        """Count one call for `key`; the seconds until the next is allowed, or None if allowed."""
        _, strategy = self._of_app()
        if strategy.hit(self.item, self.PREFIX, key):
            return None
        reset_at = strategy.get_window_stats(self.item, self.PREFIX, key).reset_time
        return min(RATE_WINDOW_SECONDS, max(1, math.ceil(reset_at - time.time())))

    def reset(self):
        self.storage.reset()


limiter = RateLimit()


def init_app(app):
    limiter.init_app(app)
    app.extensions["api_health"] = api_health.new_counters()


@bp.before_request
def _start_clock():
    g.api_started = time.perf_counter()


@bp.after_request
def _count_call(response):
    """Every answered call of a known app counts for its API health (market/api/health.py)."""
    grant = g.get("api_grant")
    app_id = grant.app.id if grant is not None else g.get("api_token_app")
    if app_id is not None and "api_started" in g:
        latency_ms = (time.perf_counter() - g.api_started) * 1000
        counters = current_app.extensions["api_health"]
        counters.call(app_id, response.status_code, latency_ms,
                      company_id=grant.company.id if grant is not None else None,
                      token_error=g.get("api_token_app") is not None)
        api_health.flush_if_due(current_app.config, counters)
    return response


def _token_app(presented):
    """The app of a token the API refused (expired, revoked), for its health figures."""
    row = tokens.token_by_access(presented.strip())
    return row.client.app_id if row is not None else None


def error_response(status, message, code, headers=None):
    response = jsonify({"ErrorInformation": {"error": 1, "message": message, "code": code}})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


# The HTTP status of each kind of domain error (market.api.resources).
STATUS_OF = {
    api.BAD_REQUEST: 400,
    api.UNAUTHENTICATED: 401,
    api.MISSING_SCOPE: 403,
    api.NOT_ENTITLED: 403,
    api.NOT_FOUND: 404,
    api.TOO_LARGE: 413,
    api.UNSUPPORTED_MEDIA_TYPE: 415,
    api.BUSY: 503,
}


@bp.errorhandler(ApiError)
def api_error(error):
    status = STATUS_OF[error.kind]
    headers = {}
    if status == 401:
        headers["WWW-Authenticate"] = www_authenticate()
    elif error.kind == api.MISSING_SCOPE:
        # RFC 6750 §3.1: the scope the call needs, so the app knows what to ask the company for.
        scope = f', scope="{error.scope}"' if getattr(error, "scope", None) else ""
        headers["WWW-Authenticate"] = f'Bearer realm="{REALM}", error="insufficient_scope"{scope}'
    return error_response(status, error.message, error.code, headers)


REALM = "api"


def www_authenticate():
    """RFC 6750 §3.1: a request without credentials learns only the scheme and realm; an error
    code is for a token that was sent and refused."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return f'Bearer realm="{REALM}", error="invalid_token"'
    return f'Bearer realm="{REALM}"'


@bp.errorhandler(HTTPException)
def http_error(error):
    messages = {
        400: ("The request could not be understood.", api.CODE_BAD_REQUEST),
        404: ("There is no such resource.", api.CODE_NOT_FOUND),
        405: ("This resource does not accept that method.", api.CODE_METHOD),
        413: (f"The body is larger than {MAX_BODY_BYTES} bytes.", api.CODE_TOO_LARGE),
        415: ("Send JSON with Content-Type: application/json.", api.CODE_MEDIA_TYPE),
    }
    message, code = messages.get(error.code, ("The request failed.", api.CODE_SERVER))
    headers = {}
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        headers["Allow"] = ", ".join(error.valid_methods)
    return error_response(error.code or 500, message, code, headers)


@bp.errorhandler(Exception)
def unexpected_error(error):
    current_app.logger.exception("API call failed")
    return error_response(500, "The call could not be completed. Nothing was changed.", api.CODE_SERVER)


def _authenticate():
    """The token through the oauth room's ResourceProtector (the one definition of a valid access
    token), its failures in the API's error shape."""
    if "Access-Token" in request.headers or "Client-Secret" in request.headers:
        raise ApiError(api.UNAUTHENTICATED, api.RETIRED_FLOW_MESSAGE, api.CODE_RETIRED_FLOW)
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(api.UNAUTHENTICATED, "An access token is required: send 'Authorization: Bearer <token>' "
                       "from the OAuth2 Authorization Code flow (/oauth-v1/auth).", api.CODE_INVALID_TOKEN)
    try:
        token = oauth_web.require_oauth.acquire_token()
    except OAuth2Error:
        g.api_token_app = _token_app(token)
        raise ApiError(api.UNAUTHENTICATED, "The access token is invalid, expired or revoked.",
                       api.CODE_INVALID_TOKEN) from None
    return api.grant_of(token.row)


def api_call(scope=None, entitlement=True):
    """Token, rate limit, scope, entitlement, then the view; a successful call marks the
    connection used."""

    def decorate(view):
        @wraps(view)
        def checked(*args, **kwargs):
            grant = g.api_grant
            if scope is not None:
                api.require_scope(grant, scope)
            if entitlement:
                api.require_entitlement(grant, current_app.config["BILLING_GRACE_DAYS"])
            response = view(grant, *args, **kwargs)
            if response.status_code < 400:
                connections.mark_connection_used(current_app.config, grant.connection)
            return response

        @wraps(view)
        def endpoint(*args, **kwargs):
            g.api_grant = grant = _authenticate()
            retry_after = limiter.hit(grant.rate_key)
            if retry_after is not None:
                return error_response(429, f"Too many requests: at most {RATE_LIMIT} per client and company.",
                                      api.CODE_RATE_LIMITED, {"Retry-After": str(retry_after)})
            return checked(*args, **kwargs)

        return csrf_exempt(endpoint)

    return decorate


def _json_body():
    content_type = (request.mimetype or "").lower()
    if content_type != "application/json":
        raise ApiError(api.UNSUPPORTED_MEDIA_TYPE, "Send JSON with Content-Type: application/json.",
                       api.CODE_MEDIA_TYPE)
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise ApiError(api.TOO_LARGE, f"The body is larger than {MAX_BODY_BYTES} bytes.", api.CODE_TOO_LARGE)
    raw = request.stream.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(api.TOO_LARGE, f"The body is larger than {MAX_BODY_BYTES} bytes.", api.CODE_TOO_LARGE)
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ApiError(api.BAD_REQUEST, "The body is not valid JSON.", api.CODE_BAD_REQUEST) from None


def _ok(payload, status=200):
    response = jsonify(payload)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/openapi.json")
def openapi():
    return jsonify(api_openapi.SPEC)


@bp.get("/me")
@api_call()
def me(grant):
    return _ok(api.me(grant))


@bp.get("/companyinformation")
@api_call(scope="companyinformation")
def company_information(grant):
    return _ok(api.company_information(grant))


@bp.get("/subscription")
@api_call(entitlement=False)
def subscription(grant):
    # Answers even when the entitlement has ended, so the app can tell its user why.
    return _ok(api.subscription(grant, current_app.config["BILLING_GRACE_DAYS"]))


@bp.get("/customers")
@api_call(scope="customer")
def customers(grant):
    page, limit = api.parse_paging(request.args)
    return _ok(api.list_customers(grant, page, limit))


@bp.post("/customers")
@api_call(scope="customer")
def create_customer(grant):
    columns = api.parse_new_customer(_json_body())
    return _ok(api.create_customer(grant, columns), 201)


@bp.get("/customers/<customer_number>")
@api_call(scope="customer")
def customer(grant, customer_number):
    return _ok(api.get_customer(grant, customer_number))


@bp.get("/invoices")
@api_call(scope="invoice")
def invoices(grant):
    page, limit = api.parse_paging(request.args)
    return _ok(api.list_invoices(grant, page, limit))


@bp.get("/invoices/<document_number>")
@api_call(scope="invoice")
def invoice(grant, document_number):
    return _ok(api.get_invoice(grant, document_number))
