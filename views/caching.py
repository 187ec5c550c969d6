"""What the store's pages keep between requests, in one place: the visitor page cache, the kept
fragments (data and HTML that are the same for every reader: category counts, featured and
newest cards, a company's ranking, an app's reviews) and the CSRF placeholder that lets a kept
form carry each reader's own token.

Everything kept lives in one bounded, least-recently-used `PageCache` per app and is keyed by
the store generation (market.catalog.store): every change to the store's data bumps it, so old
entries become unreachable and age out. A visitor without a session gets the whole page from
the cache, with an ETag so browsers and shared caches can revalidate cheaply (DESIGN.md §4).
"""
import secrets
import threading
from collections import OrderedDict
from functools import wraps

from flask import current_app, g, make_response, request, session
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup

from market.catalog import store
from views import wants_fragment
from views.locale import current_language

# Longer URLs (a 10 kB q) are served but not cached: they would crowd out real pages.
MAX_CACHED_PATH = 1000
# What the WSGI layer in front of Flask (views/visitor_cache.py) and this module tell each other
# in the request's environ: the generation it keyed by, and that an answer is a visitor page.
GENERATION_KEY = "market.store_generation"
CACHEABLE_KEY = "market.visitor_cacheable"
# Stands in for the reader's CSRF token in kept HTML; random, so no review text can contain it.
CSRF_MARK = "csrf-" + secrets.token_hex(16)


class PageCache:
    """Rendered visitor pages and kept fragments, least recently used first out. Keys carry the
    store generation, so a bump makes old entries unreachable and they age out."""

    def __init__(self, max_entries=2000):
        self.max_entries = max_entries
        self._entries = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key, value):
        if self.max_entries <= 0:
            return
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def __len__(self):
        return len(self._entries)


def page_cache():
    """The app's one cache (STORE_CACHE_SIZE entries)."""
    cache = current_app.extensions.get("store_page_cache")
    if cache is None:
        cache = PageCache(current_app.config.get("STORE_CACHE_SIZE", 2000))
        current_app.extensions["store_page_cache"] = cache
    return cache


def store_generation():
    """The store generation, read once per request."""
    if "store_generation" not in g:
        generation = request.environ.get(GENERATION_KEY)
        g.store_generation = store.store_generation() if generation is None else generation
    return g.store_generation


def kept(key, compute):
    """`compute()`, kept under `key` (a tuple starting with what it is) for as long as the store
    generation stays the same."""
    key = (*key, current_language(), store_generation())  # kept HTML holds the reader's words
    value = page_cache().get(key)
    if value is None:
        value = compute()
        page_cache().put(key, value)
    return value


def with_csrf(html, logged_in):
    """Kept HTML rendered with `csrf=CSRF_MARK`, with the reader's own token put in. Visitors'
    pages carry no token at all (they are shared); the mark is only in forms for logged-in
    readers."""
    return Markup(html.replace(CSRF_MARK, generate_csrf()) if logged_in else html)


def _anonymous_request():
    """No session or remember cookie at all: nothing personal can be on the page. Checked on
    the cookies, not the session, so a cache hit never touches (or creates) a session."""
    cookies = request.cookies
    return (current_app.config["SESSION_COOKIE_NAME"] not in cookies
            and current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token") not in cookies)


def visitor_cached(view):
    """A page that is the same for every visitor: served from the cache per store generation
    and revalidated by ETag; a logged-in reader's page is rendered anew and kept private."""
    @wraps(view)
    def wrapper(*args, **kwargs):
        if not _anonymous_request():
            response = make_response(view(*args, **kwargs))
            response.headers["Cache-Control"] = "private"
            response.vary.add("Cookie")
            return response
        generation = store_generation()  # the WSGI layer's, when it keyed this request
        layer_keeps = GENERATION_KEY in request.environ  # the layer keeps the whole answer
        fragment = wants_fragment()
        language = current_language()  # one shared copy per language (issue Q)
        etag = f"g{generation}-{language}-{'fragment' if fragment else 'page'}"
        if etag in request.if_none_match:
            response = current_app.response_class(status=304)
        else:
            key = (request.full_path, fragment, language, generation)
            cacheable = len(request.full_path) <= MAX_CACHED_PATH
            cached = page_cache().get(key) if cacheable and not layer_keeps else None
            if cached is None:
                response = make_response(view(*args, **kwargs))
                if cacheable and response.status_code == 200 and not layer_keeps:
                    page_cache().put(key, (response.get_data(), response.mimetype))
            else:
                body, mimetype = cached
                response = current_app.response_class(body, mimetype=mimetype)
            if response.status_code != 200:
                return response
        response.set_etag(etag)
        response.headers["Cache-Control"] = "public, max-age=0, must-revalidate"
        response.vary.add("HX-Request")
        response.vary.add("Cookie")
        response.vary.add("Accept-Language")
        if response.status_code == 200:
            request.environ[CACHEABLE_KEY] = True
        return response

    return wrapper


# --- the CSRF token's signature, kept per session ------------------------------------------------
# Flask-WTF signs the session's raw token anew on every page with a form (itsdangerous, ~0.3 ms of
# a logged-in page). With WTF_CSRF_TIME_LIMIT=None a signature never expires, so the one made for
# this raw token and key is as valid on the next page; it is kept per process (bounded), and the
# check on POST (flask_wtf's validate_csrf) is unchanged.
CSRF_SIGNATURES_MAX = 20000
_csrf_signatures = {}


def _reuse_csrf_signature():
    if current_app.config.get("WTF_CSRF_TIME_LIMIT") is not None:
        return
    if current_app.config["SESSION_COOKIE_NAME"] not in request.cookies:
        return  # a visitor has no token; touching the session would only cost
    raw = session.get("csrf_token")
    if isinstance(raw, str):
        signed = _csrf_signatures.get((current_app.secret_key, raw))
        if signed is not None:
            g.csrf_token = signed  # what flask_wtf.csrf.generate_csrf keeps for the request


def _keep_csrf_signature(response):
    signed = g.get("csrf_token")
    raw = session.get("csrf_token") if signed is not None else None
    if isinstance(raw, str):
        if len(_csrf_signatures) >= CSRF_SIGNATURES_MAX:
            _csrf_signatures.clear()  # rare, and only costs one signature per session again
        _csrf_signatures[(current_app.secret_key, raw)] = signed
    return response


# Templates build the same links on every page (the header, the footer, every app card), and
# werkzeug's URL building was ~10 % of a logged-in store page (issue R). A path depends only on
# the endpoint, its values and the script root (no url_defaults, no SERVER_NAME here), so the
# templates' url_for keeps what it built; relative endpoints ('.x') depend on the blueprint and
# _external/_anchor/... on more, so those are built every time. Bounded: cleared when full.
URLS_MAX = 20000


def _template_url_for(app):
    built = {}
    build = app.url_for

    def url_for(endpoint, **values):
        if endpoint[:1] == "." or not request:
            return build(endpoint, **values)
        try:
            # The type too: url_for writes True and 1 differently, and they hash the same.
            key = (endpoint, request.script_root, *sorted((k, type(v), v) for k, v in values.items()))
            url = built.get(key)
        except TypeError:  # a list of values, or values that do not compare
            return build(endpoint, **values)
        if url is None:
            url = build(endpoint, **values)
            if any(k[:1] == "_" for k in values):
                return url
            if len(built) >= URLS_MAX:
                built.clear()
            built[key] = url
        return url

    return url_for


def init_app(app):
    app.before_request(_reuse_csrf_signature)
    app.after_request(_keep_csrf_signature)
    app.jinja_env.globals["url_for"] = _template_url_for(app)
