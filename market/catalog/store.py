"""The store: what customers browse and search (issue A).

Listing queries join App, AppStats and Category in one query and hand templates plain
`AppCard`s, so a page makes the same number of SQL queries whatever the data size (no lazy
foreign keys in templates). Search goes through market.data.search, whose `app_search` table
differs by engine (FTS5 on SQLite, tsvector on PostgreSQL); `search_condition` is the store's one
use of it in queries.

Visitor pages are the same for every visitor, so they are cached in-process per store
generation (views/caching.py): every change to the store's data calls `bump_store_generation()`.
"""
import html
import math
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import nh3
from peewee import JOIN, SQL, Case, fn

from market.core import money
from market.core import scopes as scopes_module
from market.data import prepared, search
from models import App, AppStats, Category, Developer, MarketSetting, OAuthClient, Plan, db

PAGE_SIZE = 24
SORTS = ("popular", "rating", "newest", "price")
PRICES = ("free", "paid")
MAX_QUERY_CHARS = 200
MAX_QUERY_TOKENS = 8
MAX_TOKEN_CHARS = 40
HOME_SECTION_SIZE = 6
SCREENSHOT_NAME_RE = re.compile(r"^[0-9a-f]{32}\.(?:png|jpg)$")

# ---------------------------------------------------------------------------------------------
# Text

DESCRIPTION_TAGS = {"p", "br", "strong", "em", "b", "i", "ul", "ol", "li", "a", "h3", "h4",
                    "blockquote", "code"}
DESCRIPTION_ATTRIBUTES = {"a": {"href", "title"}}
DESCRIPTION_URL_SCHEMES = {"http", "https", "mailto"}
_TAG_LIKE = re.compile(r"<[a-zA-Z/!]")


def sanitise_description(text):
    """The developer's description as safe HTML for the app page.

    Plain text becomes paragraphs; HTML keeps only a small allow-list. Links open nothing
    with the market's window and pass it no rank; `javascript:` and other schemes are dropped.
    """
    text = (text or "").strip()
    if not _TAG_LIKE.search(text):
        paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
        text = "".join("<p>" + html.escape(p).replace("\n", "<br>") + "</p>" for p in paragraphs)
    return nh3.clean(text, tags=DESCRIPTION_TAGS, attributes=DESCRIPTION_ATTRIBUTES,
                     url_schemes=DESCRIPTION_URL_SCHEMES, link_rel="noopener nofollow",
                     clean_content_tags={"script", "style"})


def plain_text(text):
    """Words of a description without markup, for the search index."""
    return html.unescape(nh3.clean(text or "", tags=set(), clean_content_tags={"script", "style"}))


# ---------------------------------------------------------------------------------------------
# A rating as the market writes it

def mean_rating(rating_sum, rating_count, places=2):
    """The mean of the ratings rounded half up, as text: "3.40" (two places: the Recommended
    cards' data-rating, the developer's figures) or "3.4" (one: the store's cards and app
    page); zero without ratings. Computed in decimals, so 2.625 is "2.63" and 2.05 is "2.1",
    never the float's "2.62" or "2.0"."""
    quantum = Decimal(1).scaleb(-places)
    if rating_count <= 0:
        return f"{Decimal(0).quantize(quantum)}"
    return f"{(Decimal(rating_sum) / Decimal(rating_count)).quantize(quantum, ROUND_HALF_UP)}"


# ---------------------------------------------------------------------------------------------
# Cards: what templates get instead of model rows


@dataclass(frozen=True)
class AppCard:
    id: int
    slug: str
    name: str
    tagline: str
    tagline_en: str | None  # the listing's English tagline, for the English interface (issue Q)
    icon: str | None
    category_slug: str | None
    category_name: str | None
    is_free: bool
    min_price_ore: int
    active_customers: int
    rating_sum: int
    rating_count: int

    @property
    def price_label(self):
        return "Free" if self.is_free else "from " + money.format_price(self.min_price_ore)

    @property
    def rating_label(self):
        return mean_rating(self.rating_sum, self.rating_count, places=1) if self.rating_count else None

    @property
    def rating_two_decimals(self):
        return mean_rating(self.rating_sum, self.rating_count)


def _zero(column):
    return fn.COALESCE(column, 0)


def _card_query():
    return (App.select(App.id, App.slug, App.name, App.tagline, App.tagline_en, App.icon, App.is_free, App.min_price_ore,
                       Category.slug.alias("category_slug"), Category.name.alias("category_name"),
                       _zero(AppStats.active_customers).alias("active_customers"),
                       _zero(AppStats.rating_sum).alias("rating_sum"),
                       _zero(AppStats.rating_count).alias("rating_count"))
            .join(AppStats, JOIN.LEFT_OUTER, on=(AppStats.app == App.id))
            .switch(App)
            .join(Category, JOIN.LEFT_OUTER, on=(App.category == Category.id))
            .where(App.status == "published"))


def _cards(query):
    return [AppCard(id=row["id"], slug=row["slug"], name=row["name"], tagline=row["tagline"],
                    tagline_en=row["tagline_en"], icon=row["icon"], category_slug=row["category_slug"],
                    category_name=row["category_name"], is_free=bool(row["is_free"]),
                    min_price_ore=row["min_price_ore"], active_customers=row["active_customers"],
                    rating_sum=row["rating_sum"], rating_count=row["rating_count"])
            for row in query.dicts()]


SORT_ORDER = {
    "popular": lambda: [_zero(AppStats.active_customers).desc(), _zero(AppStats.rating_count).desc(),
                        App.id],
    "rating": lambda: [_zero(AppStats.rating_centi).desc(), _zero(AppStats.rating_count).desc(), App.id],
    "newest": lambda: [App.published_at.desc(), App.id.desc()],
    "price": lambda: [App.min_price_ore, App.name, App.id],
}


# ---------------------------------------------------------------------------------------------
# Search


def search_tokens(q):
    """The user's words as safe tokens (search.words: letters and digits only, never FTS
    syntax), at most MAX_QUERY_TOKENS of at most MAX_TOKEN_CHARS each."""
    if not isinstance(q, str):
        return []
    return [w[:MAX_TOKEN_CHARS] for w in search.words(q[:MAX_QUERY_CHARS])[:MAX_QUERY_TOKENS]]


def search_condition(tokens):
    """A WHERE condition on App.id: apps whose name, tagline, description or category contain
    every token (a word of 3 letters or more anywhere in a word, a shorter one at a word's
    start), on either engine (market.data.search)."""
    return App.id.in_(search.matching_ids(tokens))


def search_rank(tokens):
    """An ORDER BY term: whole-word matches (0), then word-prefix matches (1), then matches
    inside words (2). Each tier is its own index lookup (market.data.search)."""
    return Case(None, [(App.id.in_(search.matching_ids(tokens, search.EXACT)), 0),
                       (App.id.in_(search.matching_ids(tokens, search.PREFIX)), 1)], 2)


def search_app_ids(q):
    """Ids of published apps matching the user's query, best match first (tests and other
    modules)."""
    tokens = search_tokens(q)
    if not tokens:
        return []
    return [row.id for row in App.select(App.id).where(App.status == "published", search_condition(tokens))
            .order_by(search_rank(tokens), App.name, App.id)]


def _words(text):
    return " ".join(search.words(text))


def document(app_id, name, tagline, description, category_name):
    """The words the index keeps of a listing, split and folded exactly as queries are."""
    return search.Document(app_id, name=_words(name), tagline=_words(tagline),
                           description=_words(plain_text(description)), category=_words(category_name))


def _document(listing, category_name):
    """Both languages of a listing are searchable: a reader of the English interface types
    "invoice", a Swedish one "faktura" (issue Q)."""
    tagline = " ".join(filter(None, (listing.tagline, getattr(listing, "tagline_en", None))))
    description = " ".join(filter(None, (listing.description, getattr(listing, "description_en", None))))
    return document(listing.id, listing.name, tagline, description, category_name)


def index_apps(rows):
    """(Re)write the search rows of many apps at once. `rows` are (app, category name) pairs."""
    search.write(_document(listing, category_name) for listing, category_name in rows)


def index_app(listing):
    """(Re)write one app's search row after its listing changed, and bump the store
    generation so cached visitor pages show the change."""
    category_name = None
    if listing.category_id is not None:
        category_name = (Category.select(Category.name).where(Category.id == listing.category_id)
                         .scalar())
    with db.atomic():
        index_apps([(listing, category_name)])
        bump_store_generation()


def index_all():
    """Rebuild the whole search index (seed, repairs)."""
    query = (App.select(App, Category.name.alias("category_name"))
             .join(Category, JOIN.LEFT_OUTER, on=(App.category == Category.id)))
    rows = [(listing, listing.category_name) for listing in query.objects()]
    with db.atomic():
        search.clear()
        index_apps(rows)


def remove_from_index(listing):
    with db.atomic():
        search.remove([listing.id])
        bump_store_generation()


# ---------------------------------------------------------------------------------------------
# Browsing


@dataclass(frozen=True)
class Browse:
    """A parsed /apps request: anything unknown or malformed is replaced by its default."""
    q: str = ""
    category: str | None = None
    price: str | None = None
    rating: int | None = None
    sort: str = "popular"
    page: int = 1

    def params(self, **changes):
        """Query parameters for a link to this state with `changes` (defaults left out)."""
        values = {"q": self.q, "category": self.category, "price": self.price, "rating": self.rating,
                  "sort": self.sort, "page": self.page}
        values.update(changes)
        out = {}
        for key, value in values.items():
            if value in (None, "") or (key == "sort" and value == "popular") or (key == "page" and value == 1):
                continue
            out[key] = value
        return out

    @property
    def filtered(self):
        return bool(self.q or self.category or self.price or self.rating)


def _single(args, name):
    value = args.get(name)
    return value if isinstance(value, str) else None


def parse_browse(args, category_slugs):
    """Turn query parameters into a Browse, ignoring what is unknown or malformed."""
    q = (_single(args, "q") or "").strip()[:MAX_QUERY_CHARS]
    category = _single(args, "category")
    if category not in category_slugs:
        category = None
    price = _single(args, "price")
    if price not in PRICES:
        price = None
    rating = _small_int(_single(args, "rating"))
    if rating is not None and not 1 <= rating <= 5:
        rating = None
    sort = _single(args, "sort")
    if sort not in SORTS:
        sort = "popular"
    page = _small_int(_single(args, "page"))
    if page is None or page < 1:
        page = 1
    return Browse(q=q, category=category, price=price, rating=rating, sort=sort, page=page)


def _small_int(raw):
    if raw is None or not re.fullmatch(r"\s*-?\d{1,6}\s*", raw):
        return None
    return int(raw)


@dataclass(frozen=True)
class Results:
    cards: list
    total: int
    page: int
    pages: int


def browse_apps(browse, page_size=PAGE_SIZE):
    """One page of published apps for `browse`: two queries (count and page)."""
    query = _card_query()
    tokens = search_tokens(browse.q)
    order = SORT_ORDER[browse.sort]()
    if tokens:
        query = query.where(search_condition(tokens))
        order = [search_rank(tokens), *order]
    elif browse.q:
        # Only punctuation: nothing can match, and saying so beats showing everything.
        query = query.where(SQL("1 = 0"))
    if browse.category:
        query = query.where(Category.slug == browse.category)
    if browse.price == "free":
        query = query.where(App.is_free == True)  # noqa: E712 (peewee expression)
    elif browse.price == "paid":
        query = query.where(App.is_free == False)  # noqa: E712
    if browse.rating:
        # rating_centi is floor(sum * 100 / count), so >= n*100 is exactly "mean >= n".
        query = query.where(AppStats.rating_centi >= browse.rating * 100, AppStats.rating_count > 0)
    total = query.count()
    pages = max(1, math.ceil(total / page_size))
    page = min(browse.page, pages)
    cards = _cards(query.order_by(*order).paginate(page, page_size))
    return Results(cards=cards, total=total, page=page, pages=pages)


def categories():
    """All categories in their order, with the number of published apps in each (one query)."""
    counts = (App.select(App.category, fn.COUNT(App.id).alias("n"))
              .where(App.status == "published").group_by(App.category))
    query = (Category.select(Category.slug, Category.name, _zero(counts.c.n).alias("apps"))
             .join(counts, JOIN.LEFT_OUTER, on=(counts.c.category_id == Category.id))
             .order_by(Category.position, Category.name))
    return list(query.dicts())


def on_sale_condition():
    """SQL: the app can be had now. A free app always; a paid one only while it has a plan on
    sale (an app whose plans are not ready yet shows "Not for sale yet" and no Buy)."""
    plans = Plan.select(Plan.id).where(Plan.app == App.id, Plan.active == True)  # noqa: E712
    return (App.is_free == True) | fn.EXISTS(plans)  # noqa: E712


def on_sale(listing, plans):
    """The app page's rule, from the listing and its active plans."""
    return bool(listing.is_free or plans)


def featured_apps(limit=HOME_SECTION_SIZE):
    """Apps the market features, topped up with the most popular ones; only apps on sale (one
    query)."""
    query = _card_query().where(on_sale_condition()).order_by(App.featured.desc(), *SORT_ORDER["popular"]()).limit(limit)
    return _cards(query)


def recommended_apps(limit=HOME_SECTION_SIZE):
    """What the home page's Recommended section shows. For now the best-rated published apps
    with ratings; issue I replaces this with the eligibility rule and personal ranking."""
    query = (_card_query().where(AppStats.rating_count > 0, on_sale_condition())
             .order_by(*SORT_ORDER["rating"]()).limit(limit))
    return _cards(query)


def newest_apps(limit=HOME_SECTION_SIZE):
    return _cards(_card_query().order_by(*SORT_ORDER["newest"]()).limit(limit))


# ---------------------------------------------------------------------------------------------
# One app's page


@dataclass(frozen=True)
class RatingSummary:
    count: int
    total: int
    bars: list  # (stars, count, percent rounded to a multiple of 5) from 5 down to 1

    @property
    def mean_label(self):
        return mean_rating(self.total, self.count, places=1) if self.count else None


def rating_summary(stats):
    if stats is None:
        return RatingSummary(0, 0, [(s, 0, 0) for s in range(5, 0, -1)])
    counts = {1: stats.stars_1, 2: stats.stars_2, 3: stats.stars_3, 4: stats.stars_4, 5: stats.stars_5}
    count = stats.rating_count
    bars = []
    for stars in range(5, 0, -1):
        n = counts[stars] or 0
        percent = round(n * 20 / count) * 5 if count else 0
        bars.append((stars, n, percent))
    return RatingSummary(count, stats.rating_sum, bars)


@dataclass(frozen=True)
class AppPage:
    app: App
    description_html: str
    developer_name: str
    category_slug: str | None
    category_name: str | None
    plans: list
    rating: RatingSummary
    active_customers: int
    screenshots: tuple = ()      # URLs, in the developer's order
    support: tuple | None = None  # (href, text): mailto: for an e-mail address
    website_url: str | None = None
    privacy_url: str | None = None
    data_access: tuple = ()      # (scope, what it lets the app do) in plain words
    updated_on: str | None = None  # the listing's last change, YYYY-MM-DD
    preview: bool = False        # the developer's preview or the admin's review of a pending revision

    @property
    def on_sale(self):
        return on_sale(self.app, self.plans)


def published_app(slug):
    """Everything the app page shows, in two queries, or None (unknown or not published)."""
    if not isinstance(slug, str) or len(slug) > 60:
        return None
    query = (App.select(App, Developer.id, Developer.name, Category.id, Category.slug, Category.name, AppStats)
             .join(Developer, on=(App.developer == Developer.id), attr="developer_row")
             .switch(App).join(Category, JOIN.LEFT_OUTER, on=(App.category == Category.id), attr="category_row")
             .switch(App).join(AppStats, JOIN.LEFT_OUTER, on=(AppStats.app == App.id), attr="stats")
             .where(App.slug == slug, App.status == "published"))
    listing = query.first()
    if listing is None:
        return None
    stats = getattr(listing, "stats", None)
    if stats is not None and stats.rating_count is None:
        stats = None  # the LEFT JOIN found no stats row
    category = getattr(listing, "category_row", None)
    category_slug = category.slug if category is not None else None
    category_name = category.name if category is not None else None
    plans = [{"id": p.id, "name": p.name, "price_ore": p.price_ore, "trial_days": p.trial_days,
              "description": p.description}
             for p in Plan.select().where(Plan.app == listing.id, Plan.active == True)  # noqa: E712
             .order_by(Plan.position, Plan.price_ore, Plan.id)]
    scopes = (OAuthClient.select(OAuthClient.scopes).where(OAuthClient.app == listing.id).scalar() or "").split()
    return listing_page(listing, listing.vendor_name or listing.developer_row.name, category_slug, category_name,
                        plans, stats, scopes, listing.screenshots.split())


def listing_page(listing, developer_name, category_slug, category_name, plans, stats, scopes, screenshots,
                 preview=False):
    """The app page's contents from a listing's values: the published app's (published_app) or
    a pending revision's (catalog.revisions.preview_page), so both show exactly the same page.
    `plans` are dicts with id, name, price_ore, trial_days and description."""
    plans = [{**plan, "price_label": money.format_price(plan["price_ore"]),
              "features": [line for line in (plan.get("description") or "").split("\n") if line.strip()]}
             for plan in plans]
    support = listing.support or ""
    support_link = None
    if support:
        support_link = (f"mailto:{support}", support) if "@" in support and "/" not in support else (support, support)
    # Sanitised again on the way out: whoever wrote description_html, the page stays safe.
    return AppPage(app=listing, description_html=sanitise_description(listing.description_html or listing.description),
                   developer_name=developer_name, category_slug=category_slug,
                   category_name=category_name, plans=plans, rating=rating_summary(stats),
                   active_customers=(stats.active_customers if stats else 0),
                   screenshots=tuple(f"/screenshots/{name}" for name in screenshots if SCREENSHOT_NAME_RE.match(name)),
                   support=support_link, website_url=listing.website_url or None,
                   privacy_url=listing.privacy_url or None, data_access=tuple(scopes_module.describe(scopes)),
                   updated_on=_day(listing.updated_at), preview=preview)


def _day(value):
    """"2026-12-03" from a datetime (or the text SQLite may hand back)."""
    if value is None:
        return None
    return value.date().isoformat() if hasattr(value, "date") else str(value)[:10]


# ---------------------------------------------------------------------------------------------
# Store generation: what the caches of visitor pages and kept fragments (views/caching.py) are keyed by

GENERATION = "store_generation"


def store_generation():
    # Asked on every store request, cached page or not: its SQL is built once (prepared.py).
    rows = prepared.select("store_generation", lambda name: MarketSetting.select(MarketSetting.value)
                           .where(MarketSetting.name == name).limit(1).tuples(), GENERATION)
    value = rows[0][0] if rows else None
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def bump_store_generation():
    """Every change to the store's data calls this, so cached visitor pages are not served
    again. One UPDATE, safe with many servers on one database."""
    updated = (MarketSetting.update(value=(MarketSetting.value.cast("INTEGER") + 1).cast("TEXT"))
               .where(MarketSetting.name == GENERATION).execute())
    if not updated:
        MarketSetting.insert(name=GENERATION, value="2").on_conflict_ignore().execute()
