"""Visitor pages answered before Flask (issue R): a thin WSGI layer over the visitor page cache.

A visitor (no `market_session` or remember cookie at all) gets the same page as every other
visitor of the same language and store generation (DESIGN.md §4), so a page Flask already
rendered for one is answered here without routing, sessions, CSRF or a database connection:
its stored status, headers (CSP, X-Content-Type-Options, Referrer-Policy, HSTS in production,
Vary, ETag, Cache-Control, exactly as Flask sent them), and body, `304` for a matching
If-None-Match, the body gzipped once for clients that accept gzip.

What may be stored is Flask's to say: `views.caching.visitor_cached` marks a visitor answer
(`environ[CACHEABLE]`); anything else (logged-in pages, errors, redirects, an answer setting a
cookie) passes through untouched. Keys are the path and query, fragment or page (HX-Request),
language (views/locale.py's rule, from the `lang` cookie and Accept-Language) and store
generation. The generation is read from the database at most every `STORE_GENERATION_TTL`
seconds per worker (0.25 in production; a change is seen by every server within that), and
again right after any request of this process that could have changed the store. The stored
bytes are bounded by `PAGE_CACHE_MB` (default 32) per worker, least recently used out first.
"""
import gzip
import os
import threading
import time
from collections import OrderedDict

from werkzeug.http import parse_cookie

from market.catalog import store
from models import db
from views.caching import CACHEABLE_KEY as CACHEABLE
from views.caching import GENERATION_KEY as GENERATION
from views.locale import COOKIE as LANG_COOKIE
from views.locale import visitor_language

MAX_KEY_LENGTH = 1000  # as views.caching.MAX_CACHED_PATH: a 10 kB query is served, not stored
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_NOT_MODIFIED_DROPPED = frozenset({"content-length", "content-type", "content-encoding"})


class Entry:
    __slots__ = ("key", "status", "headers", "body", "etag", "gzip_headers", "gzip_body", "size")

    def __init__(self, key, status, headers, body):
        self.key = key
        self.status = status
        vary = [v.strip() for name, value in headers if name.lower() == "vary" for v in value.split(",")]
        if "Accept-Encoding" not in vary:
            vary.append("Accept-Encoding")  # this layer may answer gzip: caches must keep them apart
        kept = [(n, v) for n, v in headers if n.lower() not in ("vary", "content-length")]
        kept.append(("Vary", ", ".join(v for v in vary if v)))
        self.headers = kept + [("Content-Length", str(len(body)))]
        self.body = body
        self.etag = next((v for n, v in headers if n.lower() == "etag"), None)
        self.gzip_headers = self.gzip_body = None
        self.size = len(body) + sum(len(n) + len(v) for n, v in self.headers) + 200

    def gzipped(self):
        if self.gzip_body is None:
            # Once per entry, on the first client that accepts gzip; a race only compresses twice.
            body = gzip.compress(self.body, compresslevel=6, mtime=0)
            self.gzip_headers = [(n, v) for n, v in self.headers if n.lower() != "content-length"] + [
                ("Content-Encoding", "gzip"), ("Content-Length", str(len(body)))]
            self.gzip_body = body
        return self.gzip_headers, self.gzip_body


class ByteBoundedCache:
    """Least recently used out first, the stored bytes (bodies, gzipped bodies, headers) kept
    under `max_bytes`."""

    def __init__(self, max_bytes):
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key, entry):
        if entry.size * 4 > self.max_bytes:
            return  # one page must not push out a quarter of the others (and never the bound)
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.bytes -= old.size
            self._entries[key] = entry
            self.bytes += entry.size
            self._trim()

    def grew(self, entry, extra):
        """`entry` now also holds `extra` bytes (its gzipped body)."""
        with self._lock:
            if self._entries.get(entry.key) is entry:
                entry.size += extra
                self.bytes += extra
                self._trim()

    def _trim(self):
        while self.bytes > self.max_bytes and self._entries:
            _, old = self._entries.popitem(last=False)
            self.bytes -= old.size

    def __len__(self):
        return len(self._entries)


class VisitorCache:
    """WSGI middleware: `app.wsgi_app = VisitorCache(app, app.wsgi_app)`."""

    def __init__(self, app, wsgi_app):
        self.app = app
        self.wsgi_app = wsgi_app
        megabytes = app.config.get("PAGE_CACHE_MB", os.environ.get("PAGE_CACHE_MB") or 32)
        self.cache = ByteBoundedCache(int(float(megabytes) * 1024 * 1024))
        default_ttl = 0 if app.config["MARKET_ENV"] == "test" else 0.25
        self.ttl = float(app.config.get("STORE_GENERATION_TTL", default_ttl))
        self._generation = None
        self._read_at = -1e9
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ the store generation
    def generation(self):
        now = time.monotonic()
        if now - self._read_at < self.ttl and self._generation is not None:
            return self._generation
        with self._lock:
            if now - self._read_at < self.ttl and self._generation is not None:
                return self._generation  # another thread read it while this one waited
            with db.connection_context():
                value = store.store_generation()
            # The time the read started: a bump committed after that is seen by the next read.
            self._generation, self._read_at = value, now
            return value

    def forget_generation(self):
        """After a request that may have changed the store: read the generation anew next time,
        so this worker's own changes are visible at once."""
        self._read_at = -1e9

    # ------------------------------------------------------------------ requests
    def __call__(self, environ, start_response):
        method = environ.get("REQUEST_METHOD", "GET")
        if method != "GET":
            if method not in SAFE_METHODS:
                try:
                    return self.wsgi_app(environ, start_response)
                finally:
                    self.forget_generation()
            return self.wsgi_app(environ, start_response)
        config = self.app.config
        cookie_header = environ.get("HTTP_COOKIE", "")
        if cookie_header:
            cookies = parse_cookie(cookie_header)
            if config["SESSION_COOKIE_NAME"] in cookies or config.get("REMEMBER_COOKIE_NAME",
                                                                         "remember_token") in cookies:
                return self.wsgi_app(environ, start_response)  # not a visitor
            lang = cookies.get(LANG_COOKIE)
        else:
            lang = None
        path = environ.get("PATH_INFO", "")
        query = environ.get("QUERY_STRING", "")
        if not config.get("STORE_CACHE_SIZE", 2000) or len(path) + len(query) >= MAX_KEY_LENGTH:
            return self.wsgi_app(environ, start_response)
        language = visitor_language(lang, environ.get("HTTP_ACCEPT_LANGUAGE"), config.get("PSEUDO_LOCALE"))
        generation = self.generation()
        # The HTMX headers as sent: a fragment, a history restore's full page (views.wants_fragment).
        key = (path, query, environ.get("HTTP_HX_REQUEST"), environ.get("HTTP_HX_HISTORY_RESTORE_REQUEST"),
               language, generation)
        entry = self.cache.get(key)
        if entry is None:
            environ[GENERATION] = generation
            # Flask calls start_response before it returns the body, so by then whether the
            # answer may be kept is known: a keepable one is held back and answered from its entry.
            delayed = []

            def hold(status, headers, exc_info=None):
                if exc_info is not None or not environ.get(CACHEABLE):
                    return start_response(status, headers, exc_info)
                delayed.append((status, headers))
                return _refuse_write

            body_iter = self.wsgi_app(environ, hold)
            if not delayed:
                return body_iter
            status, headers = delayed[0]
            if not status.startswith("200") or any(n.lower() == "set-cookie" for n, _ in headers):
                start_response(status, headers)
                return body_iter
            try:
                body = b"".join(body_iter)
            finally:
                if hasattr(body_iter, "close"):
                    body_iter.close()
            entry = Entry(key, status, headers, body)
            self.cache.put(key, entry)
        return self.answer(entry, environ, start_response)

    def answer(self, entry, environ, start_response):
        if entry.etag and entry.etag in environ.get("HTTP_IF_NONE_MATCH", ""):
            if _etag_matches(entry.etag, environ["HTTP_IF_NONE_MATCH"]):
                start_response("304 Not Modified",
                               [(n, v) for n, v in entry.headers if n.lower() not in _NOT_MODIFIED_DROPPED])
                return []
        if "gzip" in environ.get("HTTP_ACCEPT_ENCODING", "") and _accepts_gzip(environ["HTTP_ACCEPT_ENCODING"]):
            had = entry.gzip_body is not None
            headers, body = entry.gzipped()
            if not had:
                self.cache.grew(entry, len(body) + 60)
            start_response(entry.status, headers)
            return [body]
        start_response(entry.status, entry.headers)
        return [entry.body]


def _refuse_write(data):
    raise RuntimeError("the visitor cache does not support write() from start_response")


def _etag_matches(etag, header):
    if header.strip() == "*":
        return True
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate.startswith("W/"):
            candidate = candidate[2:]
        if candidate == etag:
            return True
    return False


def _accepts_gzip(header):
    for part in header.split(","):
        name, _, params = part.strip().partition(";")
        if name.strip().lower() in ("gzip", "x-gzip"):
            q = params.strip()
            return not (q.startswith("q=") and _q(q[2:]) == 0)
    return False


def _q(value):
    try:
        return float(value)
    except ValueError:
        return 1.0


def init_app(app):
    """In front of everything Flask does: called last in create_app."""
    layer = VisitorCache(app, app.wsgi_app)
    app.wsgi_app = layer
    app.extensions["visitor_cache"] = layer
    return layer
