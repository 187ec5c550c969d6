"""The store's pages: home, /apps (search, filters, sort, paging) and one app's page.

For a visitor without a session these pages are the same for everyone: they set no cookie,
carry no CSRF token and are served from the visitor page cache (views/caching.py).
"""
from flask import Blueprint, render_template, request
from flask_login import current_user
from markupsafe import Markup

from market.accounts import companies
from market.billing import price_schedule, subscriptions
from market.catalog import categories, listings, store
from market.oauth import connections as oauth2
from views import locale, render_page
from views.caching import MAX_CACHED_PATH, kept, visitor_cached
from views.recommended import recommended_cards

bp = Blueprint("store", __name__)


def _shared(name, compute):
    """Store data that is the same for everyone (category counts, featured and newest apps),
    kept per store generation beside the visitor pages: a logged-in customer's page would
    otherwise count and sort every published app on each request."""
    return kept(("shared", name), compute)


@bp.app_template_global()
def kept_cards(name, cards):
    """The cards of a list that is the same for everyone (`name`: featured, newest), rendered
    once per store generation: a logged-in customer's home page is rendered anew on each view,
    and its 20-odd cards cost more than the rest of it."""
    return kept(("cards-html", name),
                lambda: Markup(render_template("partials/_app_cards.html", cards=cards)))


@bp.get("/")
@visitor_cached
def home():
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
    # The coming prices change only with the store generation (billing.price_schedule bumps it).
    coming = _shared(("price-notices", slug), lambda: {
        plan_id: price_schedule.notice_words(change) for plan_id, change in price_schedule.open_changes(page.app.id).items()})
    return render_page("store/app.html", page=page, coming_prices=coming, reader=_reader(page.app))


def _reader(listing):
    """What the app page says to this reader (issue P): whether the company already has the
    app, whether the reader may buy it, and otherwise whom to ask. None for a visitor or a user
    without a company."""
    if not current_user.is_authenticated or not current_user.company_id:
        return None
    user = current_user.user
    subscription = subscriptions.current_subscription(user.company_id, listing.id)
    admins = [member.name or member.email for member in companies.members(user.company)
              if member.is_company_admin and member.id != user.id]
    return {"can_buy": user.is_company_admin, "subscription": subscription,
            "plan_name": subscription.plan.name if subscription is not None and subscription.plan else None,
            "connected": oauth2.active_connection(user.company_id, listing.id) is not None,
            "admins": admins}


# A listing's own words in the reader's language (issue Q 4): its English texts on the English
# interface where it has them, the category's name from the catalogues.
@bp.app_template_global()
def tagline_of(listing):
    """The tagline of a listing or a card for this reader."""
    english = getattr(listing, "tagline_en", None)
    return english if english and locale.current_language() == "en" else listing.tagline


@bp.app_template_global()
def description_of(listing, shown_html):
    """The app page's description: `shown_html` (the listing's own, sanitised) unless the
    reader is English and the listing has an English description."""
    if locale.current_language() == "en" and (getattr(listing, "description_en", None)
                                                 or getattr(listing, "description_html_en", None)):
        return Markup(listings.listing_text(listing, "en")[1])
    return Markup(shown_html)


@bp.app_template_global()
def category_of(slug, name):
    """A category's name for this reader: the catalogues' for the market's own categories."""
    return categories.name_of(slug, locale.current_language()) or name or ""
