"""Recommended apps (DESIGN.md §2, §7): eligibility, ranking and the figures behind them.

The first half is pure: functions over plain numbers and dicts, so the rules can be tested
exactly and the ranking evaluated offline (bench/recommendations.py) without a database. The
second half is the thin part that reads those numbers from the stats and co-usage tables with
a constant number of queries, whatever the size of the market.

The two rules of the announcement (DESIGN.md §2) are said once, in `active_meets` and
`rating_meets`: the same functions answer for one app's numbers and, given AppStats columns,
as the SQL condition that picks the candidates. "Usage" (a connection not revoked or a live
subscription) is models.Subscription.LIVE_STATUSES; the rating figures are AppStats', kept by
market.reviews.ratings.
"""
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from peewee import SQL, Case, fn

from market.accounts import companies
from market.catalog.store import mean_rating, on_sale_condition
from market.core import words
from market.data import prepared
from models import App, AppStats, Company, Connection, CoUsage, SegmentUsage, Subscription, db

# How many neighbours per app are kept in CoUsage (DESIGN.md §7).
NEIGHBOURS_PER_APP = 50
# Bayesian average: the ratings are pulled towards this mean as if this many had been given,
# so one 5-star review does not beat forty 4.6-star ones.
PRIOR_MEAN = 3.5
PRIOR_WEIGHT = 10
# How much each signal counts for a logged-in company. Tuned with bench/recommendations.py on
# the demo generator; co-usage and the company's industry are what beat plain popularity.
# Popularity adds little once the industry's own usage is counted: it is only a tie-breaker.
WEIGHTS = {"co_usage": 2.0, "industry": 2.4, "size": 0.4, "rating": 0.15, "growth": 0.1,
           "popularity": 0.05}
# Companies counted for "Used by N <industry> companies" only when it says something.
MIN_INDUSTRY_REASON = 3


# -- the rules (pure) -------------------------------------------------------------------------

def min_rating_centi(min_rating):
    """The setting in hundredths of a star; it has at most two decimals (config.py checks)."""
    return round(min_rating * 100)


# Both rules take plain numbers (a bool comes back) or AppStats columns (a SQL condition comes
# back): `&` and the comparisons mean the same on both, so the page and the query never differ.

def active_meets(active_customers, min_active):
    """At least `min_active` active customers (inclusive: 10 of 10 qualifies)."""
    return active_customers >= min_active


def rating_meets(rating_sum, rating_count, min_rating):
    """An average of at least `min_rating` stars (inclusive), compared in integers so 2.995
    never rounds up to 3; no ratings never qualifies."""
    return (rating_count > 0) & (rating_sum * 100 >= rating_count * min_rating_centi(min_rating))


def is_eligible(active_customers, rating_sum, rating_count, min_active, min_rating):
    """Both rules of the announcement, both inclusive."""
    return active_meets(active_customers, min_active) & rating_meets(rating_sum, rating_count, min_rating)


def bayesian_average(rating_sum, rating_count, prior_mean=PRIOR_MEAN, prior_weight=PRIOR_WEIGHT):
    return (prior_mean * prior_weight + rating_sum) / (prior_weight + rating_count)


def _stars_text(centi):
    """3.0, 3.5, 3.25: one decimal unless the setting has two."""
    return f"{centi // 100}.{centi % 100:02d}" if centi % 10 else f"{centi // 100}.{centi % 100 // 10}"


def eligibility_progress(stats, min_active, min_rating):
    """Where an app stands against both rules, for the app page and the developer's pages.

    `stats` is anything with active_customers, rating_sum and rating_count (an AppStats row, or
    None for an app without figures yet)."""
    active = getattr(stats, "active_customers", 0) or 0
    rating_sum = getattr(stats, "rating_sum", 0) or 0
    rating_count = getattr(stats, "rating_count", 0) or 0
    active_ok = active_meets(active, min_active)
    rating_ok = rating_meets(rating_sum, rating_count, min_rating)
    return {
        "active_customers": active,
        "min_active": min_active,
        "active_ok": active_ok,
        "active_missing": max(min_active - active, 0),
        "rating": mean_rating(rating_sum, rating_count) if rating_count else None,
        "rating_count": rating_count,
        "min_rating": _stars_text(min_rating_centi(min_rating)),
        "rating_ok": rating_ok,
        "eligible": active_ok and rating_ok,
    }


# -- ranking (pure) ---------------------------------------------------------------------------

@dataclass(frozen=True)
class AppFigures:
    """What the ranking knows of one candidate app."""
    app_id: int
    active_customers: int
    rating_sum: int = 0
    rating_count: int = 0
    new_customers_30d: int = 0


@dataclass
class CompanyProfile:
    """What the market knows of one company, for its ranking.

    `neighbours[x]` lists (app the company uses, companies using both) for candidate x;
    `users[a]` is how many companies use app a (the co-usage base); `industry_users[x]` how many
    companies of the company's industry use x and `segment_users[x]` how many of its industry
    and size."""
    owned: frozenset
    industry: str = ""
    industry_companies: int = 0
    segment_companies: int = 0
    neighbours: dict = field(default_factory=dict)
    users: dict = field(default_factory=dict)
    industry_users: dict = field(default_factory=dict)
    segment_users: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Ranked:
    app_id: int
    score: float
    reason: str  # co_usage | industry | rating | popular
    reason_count: int = 0
    reason_app_id: int | None = None


def _popularity(figures, most_active):
    return math.log1p(figures.active_customers) / math.log1p(most_active) if most_active else 0.0


def _growth(figures, most_new):
    return math.log1p(figures.new_customers_30d) / math.log1p(most_new) if most_new else 0.0


def _rating_signal(figures):
    # 1..5 stars onto 0..1.
    return (bayesian_average(figures.rating_sum, figures.rating_count) - 1) / 4


# For visitors: the Bayesian rating in stars, plus up to this many stars for being the most used.
VISITOR_POPULARITY_STARS = 0.25


def rank_for_visitor(candidates, limit=None):
    """Eligible apps by rating and popularity: the same list for everyone, so it can be cached."""
    candidates = list(candidates)
    most_active = max((c.active_customers for c in candidates), default=0)
    ranked = [Ranked(c.app_id, bayesian_average(c.rating_sum, c.rating_count)
                     + VISITOR_POPULARITY_STARS * _popularity(c, most_active), "popular",
                     c.active_customers) for c in candidates]
    ranked.sort(key=lambda r: (-r.score, r.app_id))
    return ranked[:limit] if limit else ranked


def rank_for_company(candidates, profile, weights=None, limit=None):
    """The candidates the company does not have, best first, each with why it is shown."""
    weights = {**WEIGHTS, **(weights or {})}
    candidates = [c for c in candidates if c.app_id not in profile.owned]
    most_active = max((c.active_customers for c in candidates), default=0)
    most_new = max((c.new_customers_30d for c in candidates), default=0)
    owned_count = max(len(profile.owned), 1)
    ranked = []
    for c in candidates:
        # P(x | a) averaged over what the company uses: item-to-item co-usage.
        pairs = profile.neighbours.get(c.app_id, ())
        co_usage = sum(both / max(profile.users.get(a, 0), 1) for a, both in pairs) / owned_count
        industry_count = profile.industry_users.get(c.app_id, 0)
        industry = industry_count / profile.industry_companies if profile.industry_companies else 0.0
        segment = (profile.segment_users.get(c.app_id, 0) / profile.segment_companies
                   if profile.segment_companies else 0.0)
        parts = {
            "co_usage": weights["co_usage"] * co_usage,
            "industry": weights["industry"] * industry,
            "size": weights["size"] * segment,
            "rating": weights["rating"] * _rating_signal(c),
            "growth": weights["growth"] * _growth(c, most_new),
            "popularity": weights["popularity"] * _popularity(c, most_active),
        }
        score = sum(parts.values())
        ranked.append(_with_reason(c, score, parts, pairs, industry_count))
    ranked.sort(key=lambda r: (-r.score, r.app_id))
    return ranked[:limit] if limit else ranked


def _with_reason(figures, score, parts, pairs, industry_count):
    if pairs and parts["co_usage"] >= parts["industry"] and parts["co_usage"] > 0:
        best_app, both = max(pairs, key=lambda pair: (pair[1], -pair[0]))
        return Ranked(figures.app_id, score, "co_usage", both, best_app)
    if industry_count >= MIN_INDUSTRY_REASON:
        return Ranked(figures.app_id, score, "industry", industry_count)
    if parts["rating"] >= parts["popularity"] and figures.rating_count:
        return Ranked(figures.app_id, score, "rating", figures.rating_count)
    return Ranked(figures.app_id, score, "popular", figures.active_customers)


def top_neighbours(usage, limit=NEIGHBOURS_PER_APP):
    """From {company: set of apps} to {app: [(neighbour, companies using both)]}, the best
    `limit` per app. The offline evaluation uses this; the database does the same in SQL."""
    pairs = defaultdict(Counter)
    for apps in usage.values():
        apps = sorted(apps)
        for a in apps:
            for b in apps:
                if a != b:
                    pairs[a][b] += 1
    return {a: sorted(counter.items(), key=lambda item: (-item[1], item[0]))[:limit]
            for a, counter in pairs.items()}


def neighbours_for(owned, top):
    """Invert the top lists to {candidate: [(owned app, both)]} for one company."""
    result = defaultdict(list)
    for a in owned:
        for neighbour, both in top.get(a, ()):
            result[neighbour].append((a, both))
    return dict(result)


def describe(ranked, app_names, industry):
    """Why a card is shown, in the market's words."""
    if ranked.reason == "co_usage":
        if ranked.reason_app_id in app_names:
            return words.Phrase(words.marked("Companies that use %(app)s also use this"),
                                app=app_names[ranked.reason_app_id])
        return words.Phrase(words.marked("Companies that use your apps also use this"))
    if ranked.reason == "industry":
        return words.Phrase(words.marked("Used by %(n)s companies in %(industry)s"), n=ranked.reason_count,
                            industry=words.Phrase(companies.INDUSTRIES.get(industry, industry)))
    if ranked.reason == "rating":
        return words.Phrase(words.marked("Rated highly by %(n)s customers"), n=ranked.reason_count)
    return words.Phrase(words.marked("Popular: %(n)s active customers"), n=ranked.reason_count)


# -- reading the figures (thin, constant number of queries) ------------------------------------


@dataclass(frozen=True)
class Card:
    """One recommended app as the templates show it."""
    app: object
    active_customers: int
    rating: str
    rating_count: int
    reason: str


@dataclass(frozen=True)
class ListedFigures:
    active_customers: int
    rating_sum: int
    rating_count: int
    new_customers_30d: int


@dataclass(frozen=True)
class ListedApp:
    """A published app as Recommended shows and ranks it: what its card needs and its kept
    figures. Read as plain tuples: building up to 500 peewee models per request cost more than
    the rest of the page."""
    id: int
    slug: str
    name: str
    tagline: str
    icon: str | None
    stats: ListedFigures


def eligible_apps(min_active, min_rating, limit=500):
    """Published apps meeting both rules, with their stats, most active first (one query)."""
    query = (App.select(App.id, App.slug, App.name, App.tagline, App.icon, AppStats.active_customers,
                        AppStats.rating_sum, AppStats.rating_count, AppStats.new_customers_30d)
             .join(AppStats, on=(AppStats.app == App.id))
             .where(App.status == "published", on_sale_condition(),
                    is_eligible(AppStats.active_customers, AppStats.rating_sum, AppStats.rating_count,
                                min_active, min_rating))
             .order_by(AppStats.active_customers.desc(), App.id)
             .limit(limit))
    return [ListedApp(app_id, slug, name, tagline, icon, ListedFigures(*figures))
            for app_id, slug, name, tagline, icon, *figures in query.tuples()]


def _figures(app):
    stats = app.stats
    return AppFigures(app.id, stats.active_customers, stats.rating_sum, stats.rating_count,
                      stats.new_customers_30d)


def company_app_ids(company):
    """Apps the company has: a live subscription or a connection not revoked (one query)."""
    # Asked on every page with the Recommended section: its SQL is built once (prepared.py).
    rows = prepared.select("company_app_ids", _company_app_ids_query, getattr(company, "id", company))
    return frozenset(row.app_id for row in rows)


def _company_app_ids_query(company_id):
    connected = (Connection.select(Connection.app)
                 .where(Connection.company == company_id, Connection.revoked_at.is_null()))
    subscribed = (Subscription.select(Subscription.app)
                  .where(Subscription.company == company_id, Subscription.status.in_(Subscription.LIVE_STATUSES)))
    return connected | subscribed


def _cards(apps_by_id, ranked, app_names, industry):
    cards = []
    for r in ranked:
        app = apps_by_id[r.app_id]
        stats = app.stats
        cards.append(Card(app, stats.active_customers, mean_rating(stats.rating_sum, stats.rating_count),
                          stats.rating_count, describe(r, app_names, industry)))
    return cards


def recommended_for_visitors(min_active, min_rating, limit=12):
    apps = eligible_apps(min_active, min_rating)
    by_id = {a.id: a for a in apps}
    ranked = rank_for_visitor([_figures(a) for a in apps], limit=limit)
    return _cards(by_id, ranked, {}, "")


def recommended_for_company(company, min_active, min_rating, limit=12, owned=None):
    """The company's ranking: eligible apps it does not have (five queries, whatever the size of
    the market: eligible apps, owned apps, their neighbours, the industry's counts, names)."""
    apps = eligible_apps(min_active, min_rating)
    owned = company_app_ids(company) if owned is None else owned
    candidates = [a for a in apps if a.id not in owned]
    if not candidates:
        return []
    # Up to 500 ids written into the SQL as integers: peewee binds each parameter of a long IN
    # list one by one, which cost more than running the query.
    candidate_ids = SQL("(" + ",".join(str(int(a.id)) for a in candidates) + ")")
    profile = CompanyProfile(owned=owned, industry=company.industry)
    if owned:
        rows = (CoUsage.select(CoUsage.app, CoUsage.neighbour, CoUsage.score, AppStats.active_customers,
                               App.name)
                .join(App, on=(CoUsage.app == App.id))
                .join(AppStats, on=(AppStats.app == App.id))
                .where(CoUsage.app.in_(list(owned)), CoUsage.neighbour.in_(candidate_ids))
                .tuples())
        names = {}
        neighbours = defaultdict(list)
        for app_id, neighbour_id, score, users, name in rows:
            neighbours[neighbour_id].append((app_id, score))
            profile.users[app_id] = users
            names[app_id] = name
        profile.neighbours = dict(neighbours)
    else:
        names = {}
    # How many companies of this industry (and of its size) use each candidate, and how many
    # such companies there are (the row without an app), from the kept counts: counting the
    # industry's connections here would read tens of thousands of rows per request.
    same_size = Case(None, [(SegmentUsage.size == company.size, SegmentUsage.companies)], 0)
    profile.industry_companies = profile.segment_companies = 0
    for app_id, in_industry, in_segment in (
            SegmentUsage.select(SegmentUsage.app, fn.SUM(SegmentUsage.companies), fn.SUM(same_size))
            .where(SegmentUsage.industry == company.industry,
                   SegmentUsage.app.in_(candidate_ids) | SegmentUsage.app.is_null())
            .group_by(SegmentUsage.app).tuples()):
        if app_id is None:
            profile.industry_companies = int(in_industry or 0)
            profile.segment_companies = int(in_segment or 0)
        else:
            profile.industry_users[app_id] = int(in_industry or 0)
            profile.segment_users[app_id] = int(in_segment or 0)
    ranked = rank_for_company([_figures(a) for a in candidates], profile, limit=limit)
    by_id = {a.id: a for a in candidates}
    return _cards(by_id, ranked, names, company.industry)


# The live statuses as an SQL list: constants of the schema, so written in, never user input.
_LIVE_SQL = ", ".join(f"'{status}'" for status in Subscription.LIVE_STATUSES)


def rebuild_co_usage(limit=NEIGHBOURS_PER_APP):
    """Recompute CoUsage: for every app, the `limit` apps its companies use most often too.

    Usage = a connection not revoked or a live subscription. Run by market.jobs.rebuild;
    the pairs are counted by the database, only the top lists come back."""
    # Test companies are no one's customers (accounts.companies.counts_as_customer).
    customers_sql = "company_id NOT IN (SELECT id FROM company WHERE test_of_developer_id IS NOT NULL)"
    usage_sql = (
        f"SELECT company_id, app_id FROM connection WHERE revoked_at IS NULL AND {customers_sql} "
        f"UNION SELECT company_id, app_id FROM subscription WHERE status IN ({_LIVE_SQL}) AND {customers_sql}"
    )
    pairs_sql = (
        f"WITH u AS ({usage_sql}) "
        "SELECT a.app_id, b.app_id, COUNT(*) FROM u a JOIN u b "
        "ON a.company_id = b.company_id AND a.app_id <> b.app_id "
        "GROUP BY a.app_id, b.app_id"
    )
    by_app = defaultdict(list)
    for app_id, neighbour_id, both in db.execute_sql(pairs_sql).fetchall():
        by_app[app_id].append((neighbour_id, both))
    rows = []
    for app_id, pairs in by_app.items():
        pairs.sort(key=lambda pair: (-pair[1], pair[0]))
        rows.extend({"app": app_id, "neighbour": n, "score": s} for n, s in pairs[:limit])
    with db.atomic():
        CoUsage.delete().execute()
        for start in range(0, len(rows), 500):
            CoUsage.insert_many(rows[start:start + 500]).execute()
        rebuild_segment_usage()
    return len(rows)


def rebuild_segment_usage():
    """Recompute SegmentUsage: per industry and size, the companies using each app (a connection
    not revoked, as the ranking counts them) and the companies there are."""
    rows = [{"industry": industry, "size": size, "app": app_id, "companies": count}
            for industry, size, app_id, count in (
                Connection.select(Company.industry, Company.size, Connection.app, fn.COUNT(Connection.id))
                .join(Company).where(Connection.revoked_at.is_null(), companies.counts_as_customer(Connection.company))
                .group_by(Company.industry, Company.size, Connection.app).tuples())]
    rows += [{"industry": industry, "size": size, "app": None, "companies": count}
             for industry, size, count in (Company.select(Company.industry, Company.size, fn.COUNT(Company.id))
                                           .where(companies.counts_as_customer(Company.id))
                                           .group_by(Company.industry, Company.size).tuples())]
    SegmentUsage.delete().execute()
    for start in range(0, len(rows), 1000):
        SegmentUsage.insert_many(rows[start:start + 1000]).execute()
    return len(rows)

