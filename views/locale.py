"""The reader's language (DESIGN.md §10): the web glue between the request and the catalogues.

Swedish first, English on request. The language is, in order: the `lang` cookie (set only by
the footer's switch, `GET /lang/<code>`, and by saving the choice on /account), the user's saved
choice, `Accept-Language`, Swedish. Visitor pages are shared per language, so they answer with
`Vary: Accept-Language, Cookie` and no visitor page ever sets a cookie.

The words themselves come from market.core.words, which the domain uses for mail too; this
module hands the same compiled translations to Flask-Babel for templates, flashes and errors.
"""
from functools import cached_property, lru_cache

from flask import Blueprint, current_app, g, redirect, request
from flask_babel import Babel, Domain, get_locale
from flask_login import current_user
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

from market.core import clock, words
from views.security import safe_next

bp = Blueprint("locale", __name__)

COOKIE = "lang"
COOKIE_MAX_AGE = 365 * 24 * 3600


class MarketWords(Domain):
    """Flask-Babel's domain, reading market.core.words' catalogues (compiled in memory)."""

    def get_translations(self):
        return words.translations(current_language())


class MarketBabel(Babel):
    """Flask-Babel with the market's own domain (Babel names its domain by a string only)."""

    @cached_property
    def domain_instance(self):
        return MarketWords()


def current_language():
    """The reader's language code: "sv", "en" (or the tests' pseudo-locale), once per request."""
    try:
        return g.market_language
    except AttributeError:
        pass
    except RuntimeError:  # no request: the domain's default
        return words.DEFAULT
    g.market_language = language = _choose()
    return language


def _choose():
    if current_app.config.get("PSEUDO_LOCALE"):
        return words.PSEUDO
    cookie = request.cookies.get(COOKIE)
    if words.supported(cookie) is None and current_app.config["SESSION_COOKIE_NAME"] in request.cookies \
            and current_user.is_authenticated:
        saved = words.supported(getattr(current_user.user, "language", None))
        if saved:
            return saved
    return visitor_language(cookie, request.headers.get("Accept-Language"))


def visitor_language(cookie, accept_language, pseudo=False):
    """The language of a reader without a saved choice, from the `lang` cookie's and the
    Accept-Language header's values alone: the one rule shared by Flask's pages and the visitor
    cache in front of Flask (views/visitor_cache.py), which must key pages as Flask chooses."""
    if pseudo:
        return words.PSEUDO
    chosen = words.supported(cookie)
    if chosen:
        return chosen
    header = accept_language or ""
    # Browsers send a handful of distinct headers; parsing each once keeps a cache hit cheap
    # (long ones, which no browser sends, are parsed every time rather than kept).
    return _best_accepted(header) if len(header) <= 200 else _parse_best(header)


def _parse_best(header):
    return parse_accept_header(header, LanguageAccept).best_match(words.LANGUAGES) or words.DEFAULT


_best_accepted = lru_cache(maxsize=512)(_parse_best)


def said(refusal):
    """A domain refusal (market.core.words.Refusal) in the reader's language; any other
    exception's English text as it is."""
    if isinstance(refusal, (words.Refusal, words.Phrase)):
        return refusal.said_in(current_language())
    # A message the domain wrote as a constant (words.marked): its translation, if it has one.
    return words.translations(current_language()).gettext(str(refusal))


def html_lang():
    """The `lang` of <html>: the pseudo-locale's pages still say which language they stand for."""
    language = current_language()
    return words.DEFAULT if language == words.PSEUDO else language


def remember(response, code):
    """The switch's cookie, written as issue Q pins it: a year, the whole site, sent on links
    from other sites too (Lax), Secure in production. Not HttpOnly-critical: it is no secret."""
    secure = "; Secure" if current_app.config["MARKET_ENV"] == "production" else ""
    response.headers.add("Set-Cookie", f"{COOKIE}={code}; Path=/; Max-Age={COOKIE_MAX_AGE}; SameSite=Lax{secure}")
    return response


@bp.get("/lang/<code>")
def switch(code):
    """The footer's switch: back to the same page in the chosen language. Changes nothing on
    the server, so it is a GET a link can make, with or without JavaScript."""
    code = words.supported(code)
    target = safe_next(request.args.get("next"))
    if code is None:
        return redirect(target, 303)
    return remember(redirect(target, 303), code)


def add_vary(response):
    """A page's words depend on the language: caches must keep the languages apart."""
    if response.mimetype == "text/html":
        response.vary.add("Accept-Language")
        response.vary.add("Cookie")
    return response


def _translations():
    """What MarketWords.get_translations gives, without Flask-Babel's per-call lookup of its
    domain in `g` (templates call `_()` hundreds of times a page: My apps, issue R)."""
    return words.translations(current_language())


def init_app(app):
    MarketBabel(app, locale_selector=lambda: html_lang(), default_timezone=clock.STOCKHOLM.key)
    # The same callables Flask-Babel installs, reading the market's domain directly.
    app.jinja_env.install_gettext_callables(
        gettext=lambda s: _translations().ugettext(s),
        ngettext=lambda s, p, n: _translations().ungettext(s, p, n),
        newstyle=True,
        pgettext=lambda c, s: _translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: _translations().unpgettext(c, s, p, n),
    )
    app.register_blueprint(bp)
    app.after_request(add_vary)

    app.add_template_global(said)  # `{{ said(card.reason) }}`: the domain's phrases, translated

    @app.context_processor
    def language_context():
        return {"html_lang": html_lang(), "languages": [(code, words.NAMES[code]) for code in words.LANGUAGES]}


__all__ = ["current_language", "get_locale", "html_lang", "init_app", "remember", "said", "visitor_language"]
