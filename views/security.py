"""What every response and every cookie-authenticated request goes through: CSRF, security
headers and CSP (QUALITY.md 24, 26), safe redirects (QUALITY.md 28)."""
from urllib.parse import urlsplit

from flask import abort, current_app, jsonify, request
from flask_wtf.csrf import CSRFProtect
from werkzeug.exceptions import BadRequest

from market.core import words

csrf = CSRFProtect()

# Routes that authenticate otherwise (signatures, client credentials, bearer tokens) and so
# carry no CSRF token. This is the one list (QUALITY.md 24); blueprints register through
# `csrf_exempt` so the list is also visible at run time in `app.config["CSRF_EXEMPT"]`.
CSRF_EXEMPT_ENDPOINTS = set()


def csrf_exempt(view):
    """Mark a view as authenticated by something other than the session cookie."""
    CSRF_EXEMPT_ENDPOINTS.add(f"{view.__module__}.{view.__name__}")
    return csrf.exempt(view)


CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    # No form-action: it would block the 303s to Stripe Checkout, landing pages and
    # OAuth redirect URIs, which browsers check against it.
])


SECURITY_HEADERS = (
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ("X-Frame-Options", "DENY"),
)
HSTS = ("Strict-Transport-Security", "max-age=63072000; includeSubDomains")


def set_security_headers(response):
    # One pass over the headers a view set (a view may set its own CSP), not one scan per name.
    present = {name.lower() for name, _ in response.headers}
    for name, value in SECURITY_HEADERS:
        if name.lower() not in present:
            response.headers.add(name, value)
    if current_app.config["MARKET_ENV"] == "production" and "strict-transport-security" not in present:
        response.headers.add(*HSTS)
    if request.headers.get("HX-Request"):
        # Fragment and full page share a URL, so caches must keep them apart.
        response.vary.add("HX-Request")
    return response


def safe_next(target, default="/"):
    """Only local paths: never another host, scheme-relative `//evil` or `/\\evil`."""
    if not target or not isinstance(target, str):
        return default
    target = target.strip()
    if not target.startswith("/") or target.startswith("//") or target.startswith("/\\"):
        return default
    if "\\" in target or any(ord(c) < 32 for c in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


def refuse_nul_characters():
    """PostgreSQL cannot store or even compare text holding NUL, and no person types one: a path
    or form with one is refused here, before any view queries with it (a 500)."""
    if request.blueprint == "api":
        return None  # the API checks its own input and answers in JSON (a NUL number is its 404)
    if any(isinstance(value, str) and "\x00" in value for value in (request.view_args or {}).values()):
        abort(404)  # nothing of that name exists
    # Query strings are left to the pages: the store reads a bad one as its defaults.
    values = []
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        values += [v for _, vs in request.form.lists() for v in vs]
    if not any(isinstance(value, str) and "\x00" in value for value in values):
        return None
    # English for the JSON clients; the error page says it in the reader's language (errors.py).
    message = words.marked("The request held a NUL character, which the market does not accept.")
    if request.blueprint == "oauth" and request.endpoint != "oauth.authorize":
        # Token, revocation and introspection clients read an RFC 6749 JSON error.
        return jsonify(error="invalid_request", error_description=message), 400
    error = BadRequest(message)
    error.market_message = True
    raise error


def init_app(app):
    csrf.init_app(app)
    # App-wide, so no view or domain function ever queries with NUL (PostgreSQL's DataError).
    app.before_request(refuse_nul_characters)
    app.after_request(set_security_headers)
