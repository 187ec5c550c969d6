"""Sample Integration: what a third-party app of the App Market looks like from the inside.

1. The App Market sends the customer to our landing page `/` with `app`, `company`, `ts` and
   `hmac`; we check the signature with our landing secret and that `ts` is within 300 s.
2. "Connect" runs the OAuth2 Authorization Code flow with PKCE (S256) and `access_type=offline`
   through Authlib's standard client, against the market's /oauth-v1/auth and /oauth-v1/token.
3. `/callback` takes the code, gets the tokens and keeps them per company.
4. `/company` reads the company's information and customers from the platform API; Authlib
   refreshes the access token when it has expired (and we save the rotated pair).
5. A revoked grant (401, invalid_grant) or a lapsed subscription (403) gets a page that says so.
6. `/notifications` receives the market's signed events (subscription.*, connection.revoked),
   checks `Market-Signature` (t=..., v1=HMAC-SHA256(landing secret, "t.body"), 300 s), and the
   company page shows them; connection.revoked forgets the company's tokens at once.
"""
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from urllib.parse import urlencode

import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from flask import Flask, redirect, render_template, request, session, url_for

LANDING_MAX_AGE = 300
SCOPE = "companyinformation customer"
# The API's error code for a company whose entitlement to the app has ended.
NOT_ENTITLED_CODE = 2000663


class TokenStore:
    """Tokens per company (the market's public company id), in memory and, when a path is
    given, in a small JSON file so a restart keeps the connections."""

    def __init__(self, path=None):
        self._path = path
        self._lock = threading.Lock()
        self._tokens = {}
        if path and os.path.exists(path):
            with open(path, encoding="utf-8") as handle:
                self._tokens = json.load(handle)

    def get(self, company):
        with self._lock:
            token = self._tokens.get(company)
            return dict(token) if token else None

    def put(self, company, token):
        with self._lock:
            self._tokens[company] = dict(token)
            self._save()

    def forget(self, company):
        with self._lock:
            self._tokens.pop(company, None)
            self._save()

    def _save(self):
        if self._path:
            temporary = self._path + ".tmp"
            with open(temporary, "w", encoding="utf-8") as handle:
                json.dump(self._tokens, handle)
            os.replace(temporary, self._path)


def landing_signature(landing_secret, app, company, ts):
    """HMAC-SHA256(landing secret, urlencode(sorted([app, company, ts]))), lowercase hex."""
    message = urlencode(sorted([("app", app), ("company", company), ("ts", ts)]))
    return hmac.new(landing_secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def check_landing(params, client_id, landing_secret, now=None):
    """None when the market's landing parameters are genuine and fresh, else the reason."""
    fields = {name: params.get(name) for name in ("app", "company", "ts", "hmac")}
    if not all(isinstance(v, str) and v for v in fields.values()):
        return "The link from the App Market is incomplete."
    if fields["app"] != client_id:
        return "This link was made for another app."
    if not fields["ts"].isdigit() or len(fields["ts"]) > 12:
        return "The link's time stamp is not valid."
    now = time.time() if now is None else now
    if abs(now - int(fields["ts"])) > LANDING_MAX_AGE:
        return "The link from the App Market has expired. Please activate the app again from the App Market."
    expected = landing_signature(landing_secret, fields["app"], fields["company"], fields["ts"])
    if not hmac.compare_digest(expected, fields["hmac"].lower()):
        return "The link's signature is not valid. Please activate the app from the App Market."
    return None


def check_notification(body, header, landing_secret, now=None):
    """None when the market signed `body` (bytes) with our landing secret within 300 s."""
    try:
        parts = dict(item.split("=", 1) for item in (header or "").split(","))
        ts = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        return "missing or malformed Market-Signature"
    now = time.time() if now is None else now
    if abs(now - ts) > LANDING_MAX_AGE:
        return "signature too old"
    expected = hmac.new(landing_secret.encode(), str(ts).encode() + b"." + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, given):
        return "bad signature"
    return None


class NotificationLog:
    """The market's events we received, newest first, per company (in memory: a demo)."""

    def __init__(self, keep=20):
        self._lock = threading.Lock()
        self._by_company = {}
        self._seen = set()
        self._keep = keep

    def add(self, event):
        with self._lock:
            if event["id"] in self._seen:
                return False  # a retry of an event we already have
            self._seen.add(event["id"])
            events = self._by_company.setdefault(event.get("company"), [])
            events.insert(0, event)
            del events[self._keep:]
            return True

    def of(self, company):
        with self._lock:
            return list(self._by_company.get(company, []))


class AccessWithdrawn(Exception):
    """The company revoked our access, or the grant ended: connect again from the market."""


class Busy(Exception):
    """The API's rate limit: 25 requests per 5 s per client and company."""

    def __init__(self, retry_after):
        super().__init__(retry_after)
        self.retry_after = retry_after


class SubscriptionLapsed(Exception):
    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


def create_app(market_url, client_id, client_secret, redirect_uri, landing_secret, *, secret_key=None,
               token_file=None, scope=SCOPE, timeout=10, notification_secrets=()):
    app = Flask(__name__)
    market_url = market_url.rstrip("/")
    app.config.update(
        SECRET_KEY=secret_key or secrets.token_hex(32),
        # The market and this app may share a host on different ports, and browsers share
        # cookies between ports: our own name keeps the two sessions apart.
        SESSION_COOKIE_NAME="sample_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        MARKET_URL=market_url,
    )
    tokens = TokenStore(token_file)
    app.extensions["sample_tokens"] = tokens
    notifications = NotificationLog()
    app.extensions["sample_notifications"] = notifications
    authorize_url = market_url + "/oauth-v1/auth"
    token_url = market_url + "/oauth-v1/token"

    def oauth_session(**kwargs):
        return OAuth2Session(client_id, client_secret, scope=scope, redirect_uri=redirect_uri,
                             code_challenge_method="S256", default_timeout=timeout, **kwargs)

    def api_session(company):
        token = tokens.get(company)
        if token is None:
            raise AccessWithdrawn()

        def save_token(token, refresh_token=None, access_token=None):
            tokens.put(company, token)

        return oauth_session(token=token, token_endpoint=token_url, update_token=save_token)

    def api_get(client, company, path):
        try:
            response = client.get(market_url + "/api/v1" + path)
        except OAuthError as error:
            # The refresh was refused: revoked, replayed, expired or the entitlement ended.
            tokens.forget(company)
            raise AccessWithdrawn() from error
        if response.status_code == 401:
            tokens.forget(company)
            raise AccessWithdrawn()
        if response.status_code == 403:
            info = response.json().get("ErrorInformation", {})
            if info.get("code") == NOT_ENTITLED_CODE:
                raise SubscriptionLapsed(info.get("message", "The subscription has lapsed."))
        if response.status_code == 429:
            raise Busy(response.headers.get("Retry-After", "5"))
        response.raise_for_status()
        return response.json()

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("Content-Security-Policy",
                                    "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        return response

    def page(template, status=200, **context):
        return render_template(template, market_url=market_url, **context), status

    @app.get("/")
    def landing():
        params = request.args
        if not any(name in params for name in ("app", "company", "ts", "hmac")):
            if session.get("company") and tokens.get(session["company"]):
                return redirect(url_for("company"))
            return page("welcome.html")
        problem = check_landing(params, client_id, landing_secret)
        if problem:
            return page("message.html", 403, title="This link cannot be used", message=problem)
        company = params["company"]
        session.clear()
        session["landing_company"] = company
        if tokens.get(company):
            session["company"] = company
            return redirect(url_for("company"))
        return page("landing.html")

    @app.get("/connect")
    def connect():
        if not session.get("landing_company"):
            return page("message.html", 403, title="Start in the App Market",
                        message="Activate Sample Integration from the App Market first; it brings you here.")
        verifier = generate_token(64)
        url, state = oauth_session().create_authorization_url(authorize_url, code_verifier=verifier,
                                                              access_type="offline")
        session["oauth_state"] = state
        session["code_verifier"] = verifier
        return redirect(url, 303)

    @app.get("/callback")
    def callback():
        state = session.pop("oauth_state", None)
        verifier = session.pop("code_verifier", None)
        if not state or not hmac.compare_digest(state, request.args.get("state", "")):
            return page("message.html", 400, title="Please start again",
                        message="This answer from the App Market does not match a connection we started.")
        # RFC 9207: the answer must come from the market we sent the customer to.
        if request.args.get("iss", "").rstrip("/") != market_url:
            return page("message.html", 400, title="Please start again",
                        message="This answer does not come from the App Market we asked.")
        if "error" in request.args:
            description = request.args.get("error_description") or "The App Market did not give access."
            return page("message.html", 403, title="Not connected", message=description)
        try:
            with oauth_session() as client:
                token = client.fetch_token(token_url, code=request.args.get("code", ""),
                                           code_verifier=verifier, grant_type="authorization_code")
        except OAuthError as error:
            return page("message.html", 400, title="Not connected",
                        message=f"The App Market refused the code ({error.error}). Please connect again.")
        with oauth_session(token=token) as client:
            answer = client.get(market_url + "/api/v1/me")
        if answer.status_code != 200:
            return page("message.html", 502, title="Not connected",
                        message="The App Market did not tell us which company connected. Please connect again.")
        company = answer.json()["Me"]["Company"]["Id"]
        tokens.put(company, token)
        session.clear()
        session["company"] = company
        return redirect(url_for("company"), 303)

    @app.get("/company")
    def company():
        company_id = session.get("company")
        if not company_id:
            return redirect(url_for("landing"))
        try:
            with api_session(company_id) as client:
                information = api_get(client, company_id, "/companyinformation")["CompanyInformation"]
                customers = api_get(client, company_id, "/customers?limit=5")
                subscription = api_get(client, company_id, "/subscription")["Subscription"]
        except AccessWithdrawn:
            return page("message.html", 401, title="Access withdrawn",
                        message="Access to your App Market account was withdrawn; activate again from "
                                "the App Market.")
        except SubscriptionLapsed as lapsed:
            return page("message.html", 403, title="Subscription lapsed",
                        message="Your company's subscription to this app has lapsed: " + lapsed.reason)
        except Busy as busy:
            return page("message.html", 503, title="A moment, please",
                        message=f"The App Market asks us to slow down; try again in {busy.retry_after} seconds.")
        except requests.RequestException:
            return page("message.html", 502, title="App Market unreachable",
                        message="We could not reach the App Market just now. Please try again.")
        return page("company.html", information=information, customers=customers["Customers"],
                    total_customers=customers["MetaInformation"]["@TotalResources"], subscription=subscription,
                    notifications=notifications.of(company_id))

    @app.post("/notifications")
    def receive_notification():
        body = request.get_data(cache=False)
        # Our own landing secret, plus those of other apps whose events the demo sends us.
        for secret in (landing_secret, *notification_secrets):
            problem = check_notification(body, request.headers.get("Market-Signature"), secret)
            if problem is None:
                break
        if problem:
            return {"error": problem}, 400
        try:
            event = json.loads(body)
        except ValueError:
            event = None
        if not isinstance(event, dict) or not all(isinstance(event.get(k), str) for k in ("id", "type")):
            return {"error": "not an App Market event"}, 400
        if notifications.add(event) and event["type"] == "connection.revoked":
            tokens.forget(event.get("company"))
        return {"received": True}

    @app.get("/notifications")
    def notifications_page():
        company_id = session.get("company") or session.get("landing_company")
        if not company_id:
            return redirect(url_for("landing"))
        return page("notifications.html", notifications=notifications.of(company_id))

    @app.post("/disconnect")
    def disconnect():
        if session.get("company"):
            tokens.forget(session["company"])
        session.clear()
        return redirect(url_for("landing"), 303)

    return app
