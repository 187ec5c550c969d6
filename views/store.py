"""The store's pages: home, /apps (search, filters, sort, paging) and one app's page.

For a visitor without a session these pages are the same for everyone: they set no cookie,
carry no CSRF token and are served from an in-process cache per store generation, with an
ETag so browsers and shared caches can revalidate cheaply (DESIGN.md §4).
"""
from functools import wraps

from flask import Blueprint, current_app, g, make_response, render_template, request
from markupsafe import Markup

from market.catalog import store
from views import render_page, wants_fragment

bp = Blueprint("store", __name__)

# Longer URLs (a 10 kB q) are served but not cached: they would crowd out real pages.
MAX_CACHED_PATH = 1000


def _page_cache():
    cache = current_app.extensions.get("store_page_cache")
    if cache is None:
        cache = store.PageCache(current_app.config.get("STORE_CACHE_SIZE", 2000))
        current_app.extensions["store_page_cache"] = cache
    return cache


def _store_generation():
    """Read once per request."""
    if "store_generation" not in g:
        g.store_generation = store.store_generation()
    return g.store_generation


def _shared(name, compute):
    """Store data that is the same for everyone (category counts, featured and newest apps),
    kept per store generation beside the visitor pages: a logged-in customer's page would
    otherwise count and sort every published app on each request."""
    key = ("shared", name, _store_generation())
    value = _page_cache().get(key)
    if value is None:
        value = compute()
        _page_cache().put(key, value)
    return value


@bp.app_template_global()
def kept_cards(name, cards):
    """The cards of a list that is the same for everyone (`name`: featured, newest), rendered
    once per store generation: a logged-in customer's home page is rendered anew on each view,
    and its 20-odd cards cost more than the rest of it."""
    key = ("cards-html", name, _store_generation())
    html = _page_cache().get(key)
    if html is None:
        html = Markup(render_template("partials/_app_cards.html", cards=cards))
        _page_cache().put(key, html)
    return html


def _anonymous_request():
    """No session or remember cookie at all: nothing personal can be on the page. Checked on
    the cookies, not the session, so a cache hit never touches (or creates) a session."""
    cookies = request.cookies
    return (current_app.config["SESSION_COOKIE_NAME"] not in cookies
            and current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token") not in cookies)


def visitor_cached(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        if not _anonymous_request():
            response = make_response(view(*args, **kwargs))
            response.headers["Cache-Control"] = "private"
            response.vary.add("Cookie")
            return response
        generation = g.store_generation = store.store_generation()
        fragment = wants_fragment()
        etag = f"g{generation}-{'fragment' if fragment else 'page'}"
        if etag in request.if_none_match:
            response = current_app.response_class(status=304)
        else:
            key = (request.full_path, fragment, generation)
            cacheable = len(request.full_path) <= MAX_CACHED_PATH
            cached = _page_cache().get(key) if cacheable else None
            if cached is None:
                response = make_response(view(*args, **kwargs))
                if cacheable and response.status_code == 200:
                    _page_cache().put(key, (response.get_data(), response.mimetype))
            else:
                body, mimetype = cached
                response = current_app.response_class(body, mimetype=mimetype)
            if response.status_code != 200:
                return response
        response.set_etag(etag)
        response.headers["Cache-Control"] = "public, max-age=0, must-revalidate"
        response.vary.add("HX-Request")
        response.vary.add("Cookie")
        return response

    return wrapper


@bp.get("/")
@visitor_cached
def home():
    from views.recommended import recommended_cards  # issue I: eligibility rule and personal ranking

    cards, personal = recommended_cards()
    return render_page("store/home.html", categories=_shared("categories", store.categories),
                       featured=_shared("featured", store.featured_apps), recommended_cards=cards,
                       personal=personal, newest=_shared("newest", store.newest_apps))


@bp.get("/apps")
@visitor_cached
def apps():
    categories = _shared("categories", store.categories)
    browse = store.parse_browse(request.args, {c["slug"] for c in categories})
    if len(request.full_path) <= MAX_CACHED_PATH:
        # The same results for everyone: a logged-in search with many hits costs PostgreSQL
        # ~10 ms of CPU (count and sort every match), so it is kept like the visitors' page.
        results = _shared(("browse", request.full_path), lambda: store.browse_apps(browse))
    else:
        results = store.browse_apps(browse)
    return render_page("store/apps.html", "results", categories=categories, browse=browse, results=results)


@bp.get("/apps/<slug>")
@visitor_cached
def app_page(slug):
    # The same for every reader until the store changes; a logged-in reader's page is rendered
    # anew, but not its listing.
    page = _shared(("app", slug), lambda: store.published_app(slug))
    if page is None:
        return render_page("store/not_found.html", status=404, slug=slug)
    return render_page("store/app.html", page=page)
