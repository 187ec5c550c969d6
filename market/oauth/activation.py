"""Activation (DESIGN.md §2, §6): the only way a company starts using an app is through the
app's landing page, reached with a signed, short-lived link.

The landing page gets `app` (the client id), `company` (the company's opaque public id), `ts`
(Unix seconds) and `hmac` = lowercase hex HMAC-SHA256(landing secret,
urlencode(sorted([app, company, ts]))); the app accepts it within ±300 s.
"""
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from market.catalog import listings
from market.core import credentials, words
from market.entitlement import rules as entitlements
from market.oauth import gate
from models import App, OAuthClient


class ActivationRefused(Exception):
    """The company cannot activate the app now; `reason` says why in the customer's words."""

    def __init__(self, reason, kind):
        super().__init__(reason)
        self.reason = reason
        self.kind = kind  # not_published | not_entitled | no_landing_page | no_client


def activatable_app(slug, company=None):
    """A published (or suspended) app by slug, or None: drafts, rejected and unknown apps are
    not found, except the developer's own unpublished app for its test company."""
    app = App.get_or_none(App.slug == slug)
    if app is None or app.status == "suspended" or gate.app_may_serve(app, company):
        return app
    return None


def _with_params(url, params):
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query.extend(params.items())
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", urlencode(query), ""))


def landing_url(company, app, secret_key, grace_days, now=None):
    """The signed landing-page URL that activates `app` for `company`; raises ActivationRefused
    when the company is not entitled or the app cannot be activated."""
    if not gate.app_may_serve(app, company):
        raise ActivationRefused(gate.refusal(app), "not_published")
    entitlement = entitlements.check(company, app, grace_days)
    if not entitlement.allowed:
        raise ActivationRefused(entitlement.reason, "not_entitled")
    if not app.landing_url or urlsplit(app.landing_url).scheme not in ("http", "https"):
        raise ActivationRefused(words.marked("This app has no landing page yet, so it cannot be activated. "
                                             "Its developer must add one."), "no_landing_page")
    client = OAuthClient.get_or_none(OAuthClient.app == app)
    if client is None:
        raise ActivationRefused(words.marked("This app has no API client yet, so it cannot be activated."), "no_client")
    secret = listings.landing_secret(secret_key, client)
    params = credentials.landing_params(secret, client.client_id, company.public_id, now=now)
    return _with_params(app.landing_url, params)
