"""The demo data (DESIGN.md §8): deterministic, with the numbers and logins the contract names."""
import datetime
from collections import defaultdict

import pytest

from market.catalog import categories, listings, store
from market.core import credentials, money
from market.data import database
from market.jobs import seed
from models import (
    MODELS,
    App,
    AppStats,
    Category,
    Company,
    CompanyCustomer,
    CompanyInvoice,
    Connection,
    Developer,
    MarketSetting,
    OAuthClient,
    Plan,
    Review,
    Subscription,
    User,
    db,
    utcnow,
)


def luhn_ok(org_number):
    digits = [int(d) for d in org_number.replace("-", "")]
    total = 0
    for i, d in enumerate(digits):
        if i % 2 == 0:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return len(digits) == 10 and total % 10 == 0


def wipe():
    """Back to a freshly made database."""
    if database.is_postgres(db):
        tables = ", ".join(f'"{m._meta.table_name}"' for m in MODELS)
        db.execute_sql(f"TRUNCATE {tables}, app_search RESTART IDENTITY CASCADE")
    else:
        db.execute_sql("DROP TABLE app_search")
        db.drop_tables(MODELS)
        database.create_tables_for_tests(db)
    MarketSetting.insert_many([{"name": "installation_id", "value": "inst_test"},
                               {"name": "store_generation", "value": "1"}]).execute()


def snapshot():
    """Everything but ids and timestamps, so two runs can be compared."""
    org = dict(Company.select(Company.id, Company.org_number).tuples())
    slug = dict(App.select(App.id, App.slug).tuples())
    recent = utcnow() - datetime.timedelta(days=30)
    return {
        "apps": sorted(App.select(App.slug, App.name, App.tagline, App.status, Category.slug, App.is_free,
                                  App.min_price_ore, App.featured).join(Category).tuples()),
        "plans": sorted((slug[p.app_id], p.name, p.price_ore, p.trial_days) for p in Plan.select()),
        # A developer's test company is numbered TEST-<developer id>, and PostgreSQL never gives
        # an id twice: compare those by name.
        "companies": sorted((name if org_number.startswith("TEST-") else org_number, name, industry, size)
                            for org_number, name, industry, size in Company.select(
                                Company.org_number, Company.name, Company.industry, Company.size).tuples()),
        "users": sorted(User.select(User.email, User.company_role, User.is_platform_admin).tuples()),
        "connections": sorted((org[c.company_id], slug[c.app_id], c.revoked_at is None, c.last_used_at >= recent)
                              for c in Connection.select()),
        "subscriptions": sorted((org[s.company_id], slug[s.app_id], s.status, s.price_ore)
                                for s in Subscription.select()),
        "reviews": sorted((org[r.company_id], slug[r.app_id], r.stars, r.text) for r in Review.select()),
        "stats": sorted((slug[s.app_id], s.active_customers, s.paying_customers, s.rating_sum, s.rating_count)
                        for s in AppStats.select()),
        "customers": sorted((org[c.company_id], c.customer_number, c.name) for c in CompanyCustomer.select()),
        "invoices": sorted((org[i.company_id], i.document_number, i.total_ore) for i in CompanyInvoice.select()),
    }


@pytest.fixture
def seeded(app):
    with app.app_context():
        summary = seed.seed_demo(app.config, echo=lambda *a: None)
    # Not inside the app context: requests would share its `g` (and its logged-in user).
    return summary


def test_seed_is_deterministic(app, seeded):
    with app.app_context():
        first = snapshot()
        wipe()
        seed.seed_demo(app.config, echo=lambda *a: None)
        assert snapshot() == first
        assert len(first["apps"]) >= 40 and len(first["connections"]) > 300


def test_demo_logins_work_and_a_second_seed_changes_nothing(app, seeded):
    from tests.conftest import AuthActions

    for email in ("customer@demo.test", "other@demo.test", "developer@demo.test", "admin@demo.test"):
        response = AuthActions(app, app.test_client()).login(email, "demo-pass-123")
        assert response.status_code == 303, email
        assert "/login" not in response.headers["Location"]
    assert AuthActions(app, app.test_client()).login("customer@demo.test", "wrong-pass").status_code == 401
    companies = Company.select().count()
    assert "nothing seeded" in seed.seed_demo(app.config, echo=lambda *a: None)
    assert Company.select().count() == companies
    customer = User.get(User.email == "customer@demo.test")
    assert customer.company.name == "Demo Bygg AB" and customer.is_company_admin
    other = User.get(User.email == "other@demo.test")
    assert other.is_company_admin and other.company.industry != customer.company.industry
    assert User.get(User.email == "developer@demo.test").developer.name == "Demo Developer AB"
    assert User.get(User.email == "admin@demo.test").is_platform_admin


def check_the_numbers_of_the_contract():
    published = App.select().where(App.status == "published")
    assert published.count() >= 40
    assert (Category.select().join(App).where(App.status == "published").distinct().count()) >= 6
    assert published.where(App.is_free == True).count() >= 5  # noqa: E712
    assert published.where(App.is_free == False).count() >= 20  # noqa: E712
    assert Company.select().count() >= 300
    assert all(luhn_ok(number) for (number,) in Company.select(Company.org_number)
               .where(Company.test_of_developer.is_null()).tuples())
    # Every developer has its test company (issue 17), with nothing of a customer's in it.
    tests = Company.select().where(Company.test_of_developer.is_null(False))
    assert tests.count() == Developer.select().count()
    assert User.get(User.email == "developer@demo.test").company.name == "Demo Developer AB (test)"
    assert not Subscription.select().where(Subscription.company.in_(tests)).exists()
    assert not Review.select().where(Review.company.in_(tests)).exists()
    assert {c.industry for c in Company.select()} >= {"construction", "retail", "consulting", "restaurant",
                                                       "healthcare", "manufacturing", "transport", "it"}
    assert {c.size for c in Company.select()} == {"1-9", "10-49", "50-249", "250+"}
    # Every company has an admin who can log in with the one shared hash.
    assert User.select().where(User.company_role == "admin").count() == Company.select().count()
    # History is imported: no Stripe objects behind it.
    assert not Subscription.select().where(Subscription.imported == False).exists()  # noqa: E712
    assert not Subscription.select().where(Subscription.stripe_subscription_id.is_null(False)).exists()
    assert not Connection.select().where(Connection.imported == False).exists()  # noqa: E712
    assert not Review.select().where(Review.imported == False).exists()  # noqa: E712
    assert {s.status for s in Subscription.select()} >= {"active", "trialing", "canceled", "past_due"}
    assert OAuthClient.select().count() == App.select().count()


def check_stats_agree_with_an_independent_count():
    """stats_rebuild counts with SQL; here the same rules in plain Python over all rows."""
    now = utcnow()
    apps = {a.id: a for a in App.select()}
    entitling = defaultdict(bool)
    for s in Subscription.select():
        if s.status in ("trialing", "active") or (
                s.status == "past_due" and (s.past_due_since is None
                                            or s.past_due_since > now - datetime.timedelta(days=7))):
            entitling[(s.company_id, s.app_id)] = True
    # Verified customers (DESIGN.md §3, issue 17): the seed's history is imported, so a paid app's
    # were billed in an imported subscription, a free app's used an imported connection.
    paid = {(s.company_id, s.app_id) for s in Subscription.select()
            if s.imported and s.status in ("active", "past_due", "canceled", "unpaid")}
    tests = {c.id for c in Company.select().where(Company.test_of_developer.is_null(False))}
    active = defaultdict(set)
    for c in Connection.select():
        listing = apps[c.app_id]
        verified = c.company_id not in tests and (c.imported if listing.is_free else (c.company_id, c.app_id) in paid)
        if (c.revoked_at is None and c.last_used_at >= now - datetime.timedelta(days=30) and verified
                and listing.status != "suspended" and (listing.is_free or entitling[(c.company_id, c.app_id)])):
            active[c.app_id].add(c.company_id)
    used_free = {(c.company_id, c.app_id) for c in Connection.select() if c.imported}
    stars = defaultdict(list)
    for r in Review.select():
        verified = r.company_id not in tests and (r.company_id, r.app_id) in (
            used_free if apps[r.app_id].is_free else paid)
        if verified and r.removed_at is None:
            stars[r.app_id].append(r.stars)
    for row in AppStats.select():
        assert row.active_customers == len(active[row.app_id]), apps[row.app_id].slug
        assert row.rating_count == len(stars[row.app_id])
        assert row.rating_sum == sum(stars[row.app_id])
        assert [row.stars_1, row.stars_2, row.stars_3, row.stars_4, row.stars_5] == \
            [stars[row.app_id].count(n) for n in range(1, 6)]
        assert row.rating_centi == (row.rating_sum * 100 // row.rating_count if row.rating_count else 0)
    assert AppStats.select().count() == len(apps)


def check_recommended_has_at_least_five_and_some_miss_by_one_rule():
    rows = [(s.app.slug, s.active_customers, s.rating_sum, s.rating_count)
            for s in AppStats.select().join(App).where(App.status == "published")]

    def active_ok(n):
        return n >= 10

    def rating_ok(total, count):
        return count > 0 and total * 100 >= 300 * count

    eligible = [slug for slug, n, total, count in rows if active_ok(n) and rating_ok(total, count)]
    assert len(eligible) >= 5
    by_slug = {slug: (n, total, count) for slug, n, total, count in rows}
    assert by_slug["kemikalieregister"][0] == 9 and rating_ok(*by_slug["kemikalieregister"][1:])
    n, total, count = by_slug["schemalaggaren"]
    assert n >= 10 and total * 100 == 290 * count  # 2.9 exactly


def check_demo_apps_and_companies(app):
    demo_developer = Developer.get(Developer.name == "Demo Developer AB")
    assert demo_developer.payouts_enabled and demo_developer.stripe_account_id is None
    tracker = App.get(App.slug == "time-tracker-pro")
    assert tracker.status == "published" and tracker.developer_id == demo_developer.id and not tracker.is_free
    plans = list(tracker.plans)
    assert [(p.name, p.price_ore, p.trial_days) for p in plans] == [("Standard", 19900, 0)]
    assert money.format_price(plans[0].price_ore) == "199 kr/mån exkl. moms"
    sample = App.get(App.slug == "sample-integration")
    assert sample.is_free and sample.status == "published" and sample.developer_id == demo_developer.id
    assert sample.landing_url == "http://127.0.0.1:5001/"
    client = OAuthClient.get(OAuthClient.app == sample)
    assert client.client_id == "sample-integration"
    assert client.redirect_uris == "http://127.0.0.1:5001/callback"
    assert set(client.scopes.split()) == {"companyinformation", "customer", "invoice"}
    assert credentials.client_secret_matches(app.config["SECRET_KEY"], client.client_secret_hash,
                                             app.config["DEMO_CLIENT_SECRET"])
    statuses = {a.status for a in App.select().where(App.developer == demo_developer)}
    assert {"in_review", "rejected", "published"} <= statuses
    rejected = App.get(App.developer == demo_developer, App.status == "rejected")
    assert rejected.rejection_reason

    demo_companies = [User.get(User.email == e).company for e in ("customer@demo.test", "other@demo.test")]
    used = []
    for company in demo_companies:
        for model in (Subscription, Connection, Review):
            assert not model.select().where(model.company == company,
                                            model.app.in_([tracker.id, sample.id])).exists()
        apps = {c.app_id for c in Connection.select().where(Connection.company == company)}
        assert len(apps) >= 3
        used.append(apps)
        assert CompanyCustomer.select().where(CompanyCustomer.company == company).count() >= 10
        assert CompanyInvoice.select().where(CompanyInvoice.company == company).count() >= 10
    assert not used[0] & used[1]
    assert demo_companies[0].industry != demo_companies[1].industry


def test_seeded_data_meets_the_contract(app, seeded):
    check_the_numbers_of_the_contract()
    check_stats_agree_with_an_independent_count()
    check_recommended_has_at_least_five_and_some_miss_by_one_rule()
    check_demo_apps_and_companies(app)


def test_scale_seeds_proportionally_more(app):
    with app.app_context():
        seed.seed_demo(app.config, scale=1, echo=lambda *a: None)
        assert App.select().count() >= 100
        assert Company.select().count() >= 1000
        assert Connection.select().count() > 3 * 1000
        users = User.select(User.password_hash).where(User.email.endswith("@companies.demo.test"))
        assert len({u.password_hash for u in users}) == 1  # one shared precomputed hash
        assert store.search_app_ids("kvitto")  # indexed


def test_the_demo_has_a_member_who_is_not_an_admin_of_demo_bygg(app, seeded):
    """member@demo.test (issue P): logs in, belongs to Demo Bygg AB, may not buy, and is told
    whom to ask on an app page."""
    from tests.conftest import AuthActions

    client = app.test_client()
    response = AuthActions(app, client).login("member@demo.test", "demo-pass-123")
    assert response.status_code == 303 and "/login" not in response.headers["Location"]
    member = User.get(User.email == "member@demo.test")
    assert member.company.name == "Demo Bygg AB" and member.company_role == "member"
    assert not member.is_company_admin and not member.is_platform_admin and member.developer_id is None
    # The company's admin is still the one the seed maps the company to.
    assert User.get(User.email == "customer@demo.test").is_company_admin
    page = client.get("/apps/time-tracker-pro").get_data(as_text=True)
    # Demo Bygg AB's admins: its own and the bureau's user (byra@demo.test, issue T).
    assert "Ask an admin (Berit Byrå, Customer)" in page and 'action="/apps/time-tracker-pro/buy"' not in page


def test_every_seeded_app_has_a_rich_listing_with_screenshots_the_market_serves(app, seeded, client):
    """Issue P 5, pinned: every seeded app, time-tracker-pro included, has a support address, a
    website, a privacy policy URL and 1–3 PNG screenshots served by the market."""
    with app.app_context():
        apps = list(App.select())
        assert "time-tracker-pro" in {a.slug for a in apps}
        for listing in apps:
            assert listing.support and listing.website_url and listing.privacy_url, listing.slug
            names = listing.screenshots.split()
            assert 1 <= len(names) <= 3, listing.slug
            for name in names:
                with client.get(f"/screenshots/{name}") as response:
                    assert response.status_code == 200, (listing.slug, name)
                    assert listings.image_size(response.data)[0] == "png"
    page = client.get("/apps/time-tracker-pro").get_data(as_text=True)
    assert 'rel="help" href="mailto:support@time-tracker-pro.example.com"' in page
    assert 'rel="privacy-policy" href="https://time-tracker-pro.example.com/privacy"' in page
    assert "data-screenshot" in page


def test_the_demo_speaks_swedish_with_english_texts_beside_it(app, seeded):
    """Issue Q 4: taglines, descriptions, plan descriptions and reviews in Swedish; each demo
    listing also carries its English texts, and the categories are named in both languages."""
    kvitto = App.get(App.slug == "kvitto-snap")
    assert kvitto.tagline == "Fotografera ett kvitto så bokförs det åt dig"
    assert kvitto.tagline_en == "Photograph a receipt and it is booked for you"
    assert "Byggd för företag av alla storlekar" in kvitto.description_html
    assert "Built for companies of every size" in kvitto.description_html_en
    assert listings.listing_text(kvitto, "sv")[0] == kvitto.tagline
    tagline, description = listings.listing_text(kvitto, "en")
    assert tagline == kvitto.tagline_en and "Category: Expenses &amp; receipts" in description
    assert "Kategori: Utlägg &amp; kvitton" in listings.listing_text(kvitto, "sv")[1]
    # Every listing of the demo has both, and its own texts are not the English ones.
    for row in App.select():
        assert row.tagline and row.tagline_en and row.tagline != row.tagline_en, row.slug
    assert Plan.get(Plan.name == "Standard").description.startswith("Allt som appen gör")
    texts = {r.text for r in Review.select() if r.text}
    assert texts and texts <= {t for options in seed.REVIEW_TEXTS.values() for t in options}
    assert "Sparar oss flera timmar varje månad." in seed.REVIEW_TEXTS[5]
    payroll = Category.get(Category.slug == "payroll")
    assert payroll.name == "Lön & personal"
    assert categories.category_name(payroll, "sv") == "Lön & personal"
    assert categories.category_name(payroll, "en") == "Payroll & HR"
    # The rows' Swedish names are the catalogue's Swedish for the English names.
    assert {slug: categories.name_of(slug, "sv") for slug, _ in seed.CATEGORIES} == dict(seed.CATEGORIES)
