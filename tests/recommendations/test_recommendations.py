"""Recommended apps (issue I; DESIGN.md §2, §7, §8): the two rules exactly, never an app the
company has, a reason on every card, a constant number of queries."""
import re

import pytest

from market.catalog import store
from market.recommendations import ranking as rec
from models import AppStats, CoUsage, db, utcnow
from tests import factories

# -- the rules, pure -----------------------------------------------------------------------------


def test_active_customers_9_is_out_10_is_in():
    assert not rec.is_eligible(9, 500, 100, 10, 3.0)
    assert rec.is_eligible(10, 500, 100, 10, 3.0)


def test_rating_sum_299_over_100_misses_300_makes_it():
    assert not rec.rating_meets(299, 100, 3.0)
    assert rec.rating_meets(300, 100, 3.0)
    # Two decimals in the setting are compared exactly too (2.99 * 100 is 298.99999... in floats).
    assert rec.rating_meets(299, 100, 2.99)
    assert not rec.rating_meets(298, 100, 2.99)


def test_no_ratings_never_qualifies():
    assert not rec.rating_meets(0, 0, 0.0)
    assert not rec.is_eligible(50, 0, 0, 10, 0.0)


def test_mean_has_two_decimals_rounded_half_up():
    assert store.mean_rating(299, 100) == "2.99"
    assert store.mean_rating(2, 3) == "0.67"
    assert store.mean_rating(7, 2) == "3.50"
    assert store.mean_rating(0, 0) == "0.00"


def test_one_mean_format_rounds_half_up_in_decimals_where_floats_would_not():
    # 21 / 8 = 2.625 and 41 / 20 = 2.05: a float's format writes "2.62" and "2.0".
    assert store.mean_rating(21, 8) == "2.63"
    assert store.mean_rating(41, 20, places=1) == "2.1"
    assert store.mean_rating(0, 0, places=1) == "0.0"


def test_active_customers_and_rating_rules_are_inclusive_at_10_and_3_0():
    assert not rec.active_meets(9, 10) and rec.active_meets(10, 10)
    assert not rec.is_eligible(9, 300, 100, 10, 3.0)
    assert not rec.is_eligible(10, 299, 100, 10, 3.0)
    assert rec.is_eligible(10, 300, 100, 10, 3.0)


def test_bayesian_average_pulls_few_ratings_towards_the_prior():
    one_five = rec.bayesian_average(5, 1)
    many_fours = rec.bayesian_average(4 * 200, 200)
    assert one_five < many_fours < 4
    assert rec.bayesian_average(0, 0) == rec.PRIOR_MEAN


def test_eligibility_progress_says_where_the_app_stands():
    stats = AppStats(active_customers=8, rating_sum=34, rating_count=10)
    progress = rec.eligibility_progress(stats, 10, 3.0)
    assert progress["active_customers"] == 8 and progress["active_missing"] == 2
    assert progress["rating"] == "3.40" and progress["min_rating"] == "3.0"
    assert progress["rating_ok"] and not progress["active_ok"] and not progress["eligible"]
    assert rec.eligibility_progress(None, 10, 3.25)["min_rating"] == "3.25"
    assert rec.eligibility_progress(None, 10, 3.25)["rating"] is None


def test_top_neighbours_keeps_the_best_per_app():
    usage = {1: {10, 11, 12}, 2: {10, 11}, 3: {10, 11}, 4: {10, 12}}
    top = rec.top_neighbours(usage, limit=1)
    assert top[10] == [(11, 3)]
    assert top[12] == [(10, 2)]


def test_ranking_never_offers_what_the_company_has_and_says_why():
    candidates = [rec.AppFigures(a, active_customers=50, rating_sum=200, rating_count=50) for a in (1, 2, 3, 4)]
    profile = rec.CompanyProfile(
        owned=frozenset({1}), industry="construction", industry_companies=40,
        neighbours={3: [(1, 30)]}, users={1: 40}, industry_users={4: 25, 2: 1})
    ranked = rec.rank_for_company(candidates, profile)
    assert [r.app_id for r in ranked][:2] == [3, 4]
    assert 1 not in [r.app_id for r in ranked]
    reasons = {r.app_id: r for r in ranked}
    assert reasons[3].reason == "co_usage" and reasons[3].reason_app_id == 1
    assert rec.describe(reasons[3], {1: "Hours"}, "construction") == "Companies that use Hours also use this"
    assert rec.describe(reasons[4], {}, "construction") == "Used by 25 companies in Construction"


# -- from the database -------------------------------------------------------------------------------


def qualifying_app(active=10, rating_sum=45, rating_count=10, **fields):
    listing = factories.app_listing(stats=False, **fields)
    AppStats.create(app=listing, active_customers=active, rating_sum=rating_sum, rating_count=rating_count,
                    rating_centi=rating_sum * 100 // max(rating_count, 1))
    return listing


def slugs(cards):
    return [c.app.slug for c in cards]


def test_only_eligible_apps_are_recommended_to_visitors(app):
    qualifying_app(slug="ten", active=10)
    qualifying_app(slug="nine-but-loved", active=9, rating_sum=50, rating_count=10)
    qualifying_app(slug="just-3", active=40, rating_sum=300, rating_count=100)
    qualifying_app(slug="299", active=40, rating_sum=299, rating_count=100)
    qualifying_app(slug="unrated", active=40, rating_sum=0, rating_count=0)
    qualifying_app(slug="suspended", active=40, status="suspended")
    shown = slugs(rec.recommended_for_visitors(10, 3.0))
    assert sorted(shown) == ["just-3", "ten"]
    assert sorted(slugs(rec.recommended_for_visitors(9, 3.0))) == ["just-3", "nine-but-loved", "ten"]


EDGES = {"nine": (9, 300, 100), "ten": (10, 300, 100), "2.99": (10, 299, 100), "3.0-of-one": (10, 3, 1),
         "unrated": (10, 0, 0)}


@pytest.mark.parametrize("min_rating, expected", [(3.0, {"ten", "3.0-of-one"}),
                                                  (2.99, {"ten", "3.0-of-one", "2.99"})])
def test_the_rules_say_the_same_for_one_app_and_in_sql_at_their_edges(app, min_rating, expected):
    # One statement of each rule (ranking.active_meets, rating_meets): the query that picks the
    # candidates, the yes/no for one app and the progress on its page never disagree.
    for slug, (active, rating_sum, rating_count) in EDGES.items():
        qualifying_app(slug=slug, active=active, rating_sum=rating_sum, rating_count=rating_count)
    in_sql = {a.slug for a in rec.eligible_apps(10, min_rating)}
    assert in_sql == expected
    assert in_sql == {slug for slug, figures in EDGES.items() if rec.is_eligible(*figures, 10, min_rating)}
    progress = {slug: rec.eligibility_progress(AppStats(active_customers=a, rating_sum=s, rating_count=c), 10,
                                               min_rating)
                for slug, (a, s, c) in EDGES.items()}
    assert in_sql == {slug for slug, p in progress.items() if p["eligible"]}
    assert not progress["nine"]["active_ok"] and progress["ten"]["active_ok"]


def test_a_company_never_sees_an_app_it_has(app):
    company = factories.company(industry="construction")
    connected = qualifying_app(slug="connected")
    subscribed = qualifying_app(slug="subscribed", price_ore=9900)
    revoked = qualifying_app(slug="revoked")
    canceled = qualifying_app(slug="canceled", price_ore=9900)
    qualifying_app(slug="new-to-them")
    factories.connection(company, connected, last_used_at=utcnow())
    factories.subscription(company, subscribed, status="past_due")
    factories.connection(company, revoked, revoked_at=utcnow())
    factories.subscription(company, canceled, status="canceled")
    shown = slugs(rec.recommended_for_company(company, 10, 3.0))
    assert sorted(shown) == ["canceled", "new-to-them", "revoked"]


def test_an_app_with_9_customers_never_appears_for_a_company(app):
    company = factories.company()
    other = factories.company()
    owned = qualifying_app(slug="owned")
    loved = qualifying_app(slug="loved-by-nine", active=9, rating_sum=50, rating_count=10)
    factories.connection(company, owned)
    # Every co-user uses it too: still not eligible.
    factories.connection(other, owned)
    factories.connection(other, loved)
    rec.rebuild_co_usage()
    assert CoUsage.select().where(CoUsage.neighbour == loved.id).exists()
    assert slugs(rec.recommended_for_company(company, 10, 3.0)) == []


def test_ranking_follows_co_usage_and_industry_with_reasons(app):
    company = factories.company(industry="construction", size="10-49")
    hours = qualifying_app(slug="hours", name="Hours")
    factories.connection(company, hours)
    partner = qualifying_app(slug="partner", active=12)
    builder = qualifying_app(slug="builder", active=12)
    popular = qualifying_app(slug="popular", active=90, rating_sum=450, rating_count=100)
    for _ in range(4):
        peer = factories.company(industry="retail")
        factories.connection(peer, hours)
        factories.connection(peer, partner)
    for _ in range(5):
        factories.connection(factories.company(industry="construction"), builder)
    for _ in range(3):
        factories.connection(factories.company(industry="retail"), popular)
    rec.rebuild_co_usage()
    cards = rec.recommended_for_company(company, 10, 3.0)
    assert slugs(cards)[:2] in (["partner", "builder"], ["builder", "partner"])
    reasons = {c.app.slug: c.reason for c in cards}
    assert reasons["partner"] == "Companies that use Hours also use this"
    assert reasons["builder"] == "Used by 5 companies in Construction"
    assert "popular" in reasons


class QueryCounter:
    def __init__(self):
        self.count = 0

    def __enter__(self):
        original = db.obj.execute_sql

        def counting(*args, **kwargs):
            self.count += 1
            return original(*args, **kwargs)

        self._original = original
        db.obj.execute_sql = counting
        return self

    def __exit__(self, *exc):
        db.obj.execute_sql = self._original


def test_a_constant_number_of_queries_whatever_the_data(app):
    company = factories.company()
    counts = []
    for size in (2, 8):
        for n in range(size):
            listing = qualifying_app()
            factories.connection(company if n == 0 else factories.company(), listing)
        rec.rebuild_co_usage()
        with QueryCounter() as counter:
            rec.recommended_for_company(company, 10, 3.0)
        counts.append(counter.count)
    assert counts[0] == counts[1] <= 6


# -- pages ---------------------------------------------------------------------------------------------


CARD = re.compile(r'<li class="app-card" data-app="([^"]+)" data-active="(\d+)" data-rating="([0-9.]+)">')


def test_recommended_page_for_visitors_and_its_fragment(client, app):
    qualifying_app(slug="ten", active=10, rating_sum=34, rating_count=10)
    qualifying_app(slug="nine", active=9)
    page = client.get("/recommended")
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert CARD.findall(body) == [("ten", "10", "3.40")]
    assert 'id="recommended"' in body and "<h1>" in body and "csrf_token" not in body
    assert "Popular: 10 active customers" in body
    assert "Set-Cookie" not in page.headers
    fragment = client.get("/recommended", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in fragment and CARD.findall(fragment) == [("ten", "10", "3.40")]


def test_logged_in_companies_get_their_own_list(client, auth, app):
    first = factories.customer_admin(email="anna@example.test", company_obj=factories.company(industry="retail"))
    second = factories.customer_admin(email="bert@example.test",
                                      company_obj=factories.company(industry="construction"))
    one, two = qualifying_app(slug="one"), qualifying_app(slug="two")
    factories.connection(first.company, one)
    factories.connection(second.company, two)
    auth.login("anna@example.test")
    assert [c[0] for c in CARD.findall(client.get("/recommended").get_data(as_text=True))] == ["two"]
    auth.logout()
    auth.login("bert@example.test")
    assert [c[0] for c in CARD.findall(client.get("/recommended").get_data(as_text=True))] == ["one"]


@pytest.mark.parametrize("app_config", [{"RECOMMEND_MIN_ACTIVE": 3, "RECOMMEND_MIN_RATING": 4.5}])
def test_settings_change_the_rules(client, app):
    qualifying_app(slug="small-but-great", active=3, rating_sum=45, rating_count=10)
    qualifying_app(slug="big-but-good", active=50, rating_sum=44, rating_count=10)
    assert [c[0] for c in CARD.findall(client.get("/recommended").get_data(as_text=True))] == ["small-but-great"]


def test_recommended_shows_at_most_twelve_cards_on_the_home_page_and_its_own(client, auth, app):
    """Issue P 9: the visitors' Recommended listed 24 of 46 apps; at most 12 now, for a visitor
    and for a logged-in company alike."""
    for n in range(30):
        qualifying_app(slug=f"good-{n:02d}", active=10 + n, rating_sum=40, rating_count=10)
    for url in ("/recommended", "/"):
        body = client.get(url).get_data(as_text=True)
        section = body[body.index('id="recommended"'):]
        section = section[:section.index("</section>")]
        assert 0 < len(CARD.findall(section)) <= 12, url
    assert len(CARD.findall(client.get("/recommended").get_data(as_text=True))) == 12
    factories.customer_admin(email="anna@example.test")
    auth.login("anna@example.test")
    assert len(CARD.findall(client.get("/recommended").get_data(as_text=True))) == 12
