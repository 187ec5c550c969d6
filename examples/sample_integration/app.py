"""Sample Integration: what a third-party app of the App Market looks like from the inside.

1. The App Market sends the customer to our landing page with `app`, `company`, `ts` and `hmac`;
   we check the signature and the time (security.check_landing), spend the link (it is good
   once), start our own session and redirect to the same page without the signature.
2. "Connect" runs the OAuth2 Authorization Code flow with PKCE (S256) and `access_type=offline`.
3. The callback checks `state` and `iss`, exchanges the code and keeps the tokens per company.
4. The company page reads the company's information and customers from the API, refreshing
   the access token (with rotation) when it has expired (market.Market.fresh_token).
5. A revoked grant (401, invalid_grant) or a lapsed subscription (403) gets a page that says so.
6. The notifications endpoint checks `Market-Signature` (security.check_notification).

One process can serve many apps (multi-app mode): the main app at `/`, and every app of
`apps` at `/apps/<slug>/`, each with its own client credentials and landing secret.
"""
import hmac
import json
import secrets
import threading

from flask import Blueprint, Flask, redirect, render_template, request, session, url_for

from . import words
from .market import AccessWithdrawn, Busy, Market, MarketError, SubscriptionLapsed, TokenStore
from .security import UsedLinks, check_landing, check_notification, link_id, pkce_pair
from .words import say

__all__ = ["check_landing", "check_notification", "create_app"]

SCOPE = "companyinformation customer"


class NotificationLog:
    """The market's events we received, newest first, per company (in memory: a demo)."""

    def __init__(self, keep=20):
        self._lock = threading.Lock()
        self._by_company = {}
        self._seen = set()
        self._keep = keep

    def add(self, event):
        """False for a retry of an event we already have (the market retries until a 2xx)."""
        with self._lock:
            if event["id"] in self._seen:
                return False
            self._seen.add(event["id"])
            events = self._by_company.setdefault(event.get("company"), [])
            events.insert(0, event)
            del events[self._keep:]
            return True

    def of(self, company):
        with self._lock:
            return list(self._by_company.get(company, []))


def integration_blueprint(name, url_prefix, *, slug, app_name, market, landing_secret, used_links,
                          notification_secrets=()):
    """All the pages of one app. `name` tells the blueprints apart; the session keeps each
    app's state under its own key, since all the apps share one cookie."""
    bp = Blueprint(name, __name__, url_prefix=url_prefix)
    notifications = NotificationLog()
    bp.notifications = notifications
    key = "app:" + slug

    def state():
        return session.get(key) or {}

    def set_state(**values):
        session[key] = values

    def page(template, status=200, **context):
        return render_template(template, market_url=market.url, slug=slug, app_name=app_name, **context), status

    @bp.get("/")
    def landing():
        params = request.args
        if any(field in params for field in ("app", "company", "ts", "hmac")):
            return take_landing_link(params)
        current = state()
        company = current.get("company") or current.get("landing_company")
        if company and market.tokens.get(company):
            set_state(company=company)
            return redirect(url_for(".company"))
        if current.get("landing_company"):
            return page("landing.html")
        return page("welcome.html")

    def take_landing_link(params):
        """A signed link from the market: good once, within 300 s. Its first use starts our
        session and redirects to the clean URL (so the signature leaves the address bar and
        the history); a second use only works in the browser that already holds that session."""
        problem = check_landing(params, market.client_id, landing_secret)
        if problem:
            # security.check_landing answers in English (copy it as it is); the page says it in the reader's words.
            return page("message.html", 403, title=say("This link cannot be used"), message=say(problem))
        link = link_id(params)
        if not used_links.claim(f"{market.client_id}:{link}", params["ts"]):
            if state().get("link") == link:
                return redirect(url_for(".landing"), 303)
            return page("message.html", 200, title=say("This link was already used"),
                        message=say("A link from the App Market opens %(app)s once. To open it again, press "
                                    "Activate (or Open) in the App Market.", app=app_name))
        set_state(landing_company=params["company"], link=link)
        return redirect(url_for(".landing"), 303)

    @bp.get("/connect")
    def connect():
        current = state()
        if not current.get("landing_company"):
            return page("message.html", 403, title=say("Start in the App Market"),
                        message=say("Activate %(app)s from the App Market first; it brings you here.", app=app_name))
        verifier, challenge = pkce_pair()
        oauth_state = secrets.token_urlsafe(24)
        set_state(**current, oauth_state=oauth_state, code_verifier=verifier)
        return redirect(market.authorization_url(oauth_state, challenge), 303)

    @bp.get("/callback")
    def callback():
        current = state()
        expected, verifier = current.pop("oauth_state", None), current.pop("code_verifier", None)
        set_state(**current)
        if not expected or not hmac.compare_digest(expected, request.args.get("state", "")):
            return page("message.html", 400, title=say("Please start again"),
                        message=say("This answer from the App Market does not match a connection we started."))
        # RFC 9207: the answer must come from the market we sent the customer to.
        if request.args.get("iss", "").rstrip("/") != market.url:
            return page("message.html", 400, title=say("Please start again"),
                        message=say("This answer does not come from the App Market we asked."))
        if "error" in request.args:
            # The market's error_description is the OAuth protocol's (English), shown as it came.
            description = request.args.get("error_description") or say("The App Market did not give access.")
            return page("message.html", 403, title=say("Not connected"), message=description)
        try:
            token = market.exchange_code(request.args.get("code", ""), verifier)
            company = market.whoami(token)
        except AccessWithdrawn:
            return page("message.html", 400, title=say("Not connected"),
                        message=say("The App Market refused the code (invalid_grant). Please connect again."))
        except MarketError:
            return page("message.html", 502, title=say("Not connected"),
                        message=say("The App Market did not tell us which company connected. Please connect again."))
        market.tokens.put(company, token)
        set_state(company=company)
        return redirect(url_for(".company"), 303)

    @bp.get("/company")
    def company():
        company_id = state().get("company")
        if not company_id:
            return redirect(url_for(".landing"))
        try:
            information = market.get(company_id, "/companyinformation")["CompanyInformation"]
            customers = market.get(company_id, "/customers?limit=5")
            subscription = market.get(company_id, "/subscription")["Subscription"]
        except AccessWithdrawn:
            return page("message.html", 401, title=say("Access withdrawn"),
                        message=say("Access to your App Market account was withdrawn; activate again from the "
                                    "App Market."))
        except SubscriptionLapsed as lapsed:
            # The reason is the API's message, in English as the platform's API is.
            return page("message.html", 403, title=say("Subscription lapsed"),
                        message=say("Your company's subscription to this app has lapsed: %(reason)s",
                                    reason=lapsed.reason))
        except Busy as busy:
            return page("message.html", 503, title=say("A moment, please"),
                        message=say("The App Market asks us to slow down; try again in %(seconds)s seconds.",
                                    seconds=busy.retry_after))
        except MarketError:
            return page("message.html", 502, title=say("App Market unreachable"),
                        message=say("We could not reach the App Market just now. Please try again."))
        return page("company.html", information=information, customers=customers["Customers"],
                    total_customers=customers["MetaInformation"]["@TotalResources"], subscription=subscription,
                    notifications=notifications.of(company_id))

    @bp.post("/notifications")
    def receive_notification():
        body = request.get_data(cache=False)
        problem = "no secret"
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
            market.tokens.forget(event.get("company"))
        return {"received": True}

    @bp.get("/notifications")
    def notifications_page():
        current = state()
        company_id = current.get("company") or current.get("landing_company")
        if not company_id:
            return redirect(url_for(".landing"))
        return page("notifications.html", notifications=notifications.of(company_id))

    @bp.post("/disconnect")
    def disconnect():
        company_id = state().get("company")
        if company_id:
            market.tokens.forget(company_id)
        session.pop(key, None)
        return redirect(url_for(".landing"), 303)

    return bp


def create_app(market_url, client_id, client_secret, redirect_uri, landing_secret, *, secret_key=None,
               token_file=None, scope=SCOPE, timeout=10, notification_secrets=(), apps=(), public_url=None,
               slug="sample-integration", app_name="Sample Integration"):
    """The integration's WSGI app. The main app is served at `/`; each entry of `apps` (dicts
    with `slug`, `client_id`, `client_secret`, `landing_secret` and optionally `name`) at
    `/apps/<slug>/`, with the redirect URI `<public_url>/apps/<slug>/callback`."""
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
    words.init_app(app)
    used_links = UsedLinks()
    tokens = TokenStore(token_file)
    app.extensions["sample_tokens"] = tokens
    main = integration_blueprint(
        "main", None, slug=slug, app_name=app_name, landing_secret=landing_secret, used_links=used_links,
        notification_secrets=notification_secrets,
        market=Market(market_url, client_id, client_secret, redirect_uri, scope, tokens, timeout))
    app.register_blueprint(main)
    app.extensions["sample_notifications"] = main.notifications
    base = (public_url or redirect_uri.rsplit("/", 1)[0]).rstrip("/")
    for entry in apps:
        other_tokens = TokenStore(f"{token_file}.{entry['slug']}" if token_file else None)
        other = Market(market_url, entry["client_id"], entry["client_secret"],
                       f"{base}/apps/{entry['slug']}/callback", scope, other_tokens, timeout)
        app.register_blueprint(integration_blueprint(
            "app_" + entry["slug"].replace("-", "_"), f"/apps/{entry['slug']}", slug=entry["slug"],
            app_name=entry.get("name") or entry["slug"], market=other, landing_secret=entry["landing_secret"],
            used_links=used_links))

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("Content-Security-Policy",
                                    "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    return app
