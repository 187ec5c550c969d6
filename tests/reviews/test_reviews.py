"""Ratings and reviews (issue I; QUALITY.md 29, 30): verified customers only, one review per
company and app, its rating figures kept in AppStats in the same transaction."""
import pytest

from market.reviews import ratings
from models import AppStats, Review, ReviewReply, ReviewReport, User, utcnow
from tests import factories


def stats_of(app):
    return AppStats.get(AppStats.app == app)


@pytest.fixture
def free_app():
    return factories.app_listing(slug="hours", name="Hours")


def customer(email, app, industry="construction", **company_fields):
    """A company admin whose company has connected the (free) app."""
    company = factories.company(industry=industry, **company_fields)
    user = factories.customer_admin(email=email, company_obj=company)
    factories.connection(company, app, last_used_at=utcnow())
    return user


def test_non_customer_gets_403_and_nothing_is_written(client, auth, free_app):
    factories.customer_admin(email="stranger@example.test")
    auth.login("stranger@example.test")
    response = auth.post("/apps/hours/reviews", {"stars": "5", "text": "Great"})
    assert response.status_code == 403
    assert "Only companies that use this app can review it" in response.get_data(as_text=True)
    assert Review.select().count() == 0
    assert stats_of(free_app).rating_count == 0


def test_paid_app_needs_a_subscription_that_gave_access(client, auth):
    paid = factories.app_listing(slug="payroll", price_ore=19900)
    user = customer("anna@example.test", paid)
    auth.login("anna@example.test")
    # A connection and an unpaid checkout are not an entitlement.
    factories.subscription(user.company, paid, status="incomplete")
    assert auth.post("/apps/payroll/reviews", {"stars": "4"}).status_code == 403
    # A subscription that has ended still makes a verified customer ("has or had").
    factories.subscription(user.company, paid, status="canceled")
    assert auth.post("/apps/payroll/reviews", {"stars": "4"}).status_code == 303
    assert stats_of(paid).rating_count == 1


def test_rating_twice_updates_the_one_rating(client, auth, free_app):
    customer("anna@example.test", free_app)
    auth.login("anna@example.test")
    assert auth.post("/apps/hours/reviews", {"stars": "2", "text": "Slow"}).status_code == 303
    assert auth.post("/apps/hours/reviews", {"stars": "5", "text": "Fixed now"}).status_code == 303
    review = Review.get()
    assert Review.select().count() == 1
    assert (review.stars, review.text) == (5, "Fixed now")
    stats = stats_of(free_app)
    assert (stats.rating_sum, stats.rating_count, stats.stars_2, stats.stars_5, stats.rating_centi) == (5, 1, 0, 1, 500)


def test_summary_counts_every_company(client, auth, free_app):
    for n, stars in enumerate([3, 4, 4]):
        user = customer(f"c{n}@example.test", free_app)
        ratings.save_review(user.company, user, free_app, stars, "")
    stats = stats_of(free_app)
    assert (stats.rating_sum, stats.rating_count, stats.stars_3, stats.stars_4, stats.rating_centi) == (11, 3, 1, 2, 366)
    page = client.get("/apps/hours/reviews").get_data(as_text=True)
    assert '<span class="rating-number">3.7</span>' in page and "3 ratings" in page
    assert '<progress max="3" value="2"' in page
    # Visitors get no form and no CSRF token.
    assert "csrf_token" not in page


@pytest.mark.parametrize("stars", ["0", "6", "abc", "3.5", "", " 4x"])
def test_bad_stars_are_refused_and_change_nothing(client, auth, free_app, stars):
    customer("anna@example.test", free_app)
    auth.login("anna@example.test")
    response = auth.post("/apps/hours/reviews", {"stars": stars, "text": "x"})
    assert response.status_code == 400
    assert "Choose from 1 to 5 stars" in response.get_data(as_text=True)
    assert Review.select().count() == 0


def test_text_longer_than_2000_characters_is_refused(client, auth, free_app):
    customer("anna@example.test", free_app)
    auth.login("anna@example.test")
    assert auth.post("/apps/hours/reviews", {"stars": "4", "text": "x" * 2001}).status_code == 400
    assert auth.post("/apps/hours/reviews", {"stars": "4", "text": "x" * 2000}).status_code == 303


def test_script_in_review_text_is_shown_escaped(client, auth, free_app):
    customer("anna@example.test", free_app)
    auth.login("anna@example.test")
    auth.post("/apps/hours/reviews", {"stars": "4", "text": "<script>alert(1)</script><img src=x onerror=alert(2)>"})
    page = client.get("/apps/hours/reviews").get_data(as_text=True)
    assert "<script>alert(1)" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_another_companys_review_cannot_be_changed_or_deleted(client, auth, free_app):
    writer = customer("anna@example.test", free_app)
    ratings.save_review(writer.company, writer, free_app, 5, "Ours")
    customer("bert@example.test", free_app)
    auth.login("bert@example.test")
    assert auth.post("/apps/hours/reviews/delete").status_code == 404
    # Bert's rating is his company's own; Anna's stays as it was.
    extra = {"stars": "1", "text": "Theirs", "company_id": str(writer.company_id), "review_id": "1"}
    assert auth.post("/apps/hours/reviews", extra).status_code == 303
    reviews = {r.company_id: (r.stars, r.text) for r in Review.select()}
    assert reviews[writer.company_id] == (5, "Ours")
    assert len(reviews) == 2
    assert stats_of(free_app).rating_sum == 6


def test_a_member_cannot_change_a_colleagues_review_but_an_admin_can(client, auth, free_app):
    writer = customer("anna@example.test", free_app)
    ratings.save_review(writer.company, writer, free_app, 5, "Mine")
    factories.user(email="member@example.test", company=writer.company, company_role="member")
    factories.customer_admin(email="boss@example.test", company_obj=writer.company)
    auth.login("member@example.test")
    assert auth.post("/apps/hours/reviews", {"stars": "1"}).status_code == 403
    assert auth.post("/apps/hours/reviews/delete").status_code == 404
    assert Review.get().stars == 5
    auth.logout()
    auth.login("boss@example.test")
    assert auth.post("/apps/hours/reviews/delete").status_code == 303
    assert Review.select().count() == 0
    stats = stats_of(free_app)
    assert (stats.rating_sum, stats.rating_count, stats.stars_5, stats.rating_centi) == (0, 0, 0, 0)


def test_htmx_submit_returns_the_section_with_the_new_summary(client, auth, free_app):
    customer("anna@example.test", free_app)
    auth.login("anna@example.test")
    response = auth.post("/apps/hours/reviews", {"stars": "4", "text": "Good"}, headers={"HX-Request": "true"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in body
    assert 'id="reviews"' in body and '<span class="rating-number">4.0</span>' in body and "1 rating<" in body
    assert "Good" in body
    refused = auth.post("/apps/hours/reviews", {"stars": "9"}, headers={"HX-Request": "true"})
    assert refused.status_code == 400 and 'id="reviews"' in refused.get_data(as_text=True)


def test_review_shows_industry_and_usage_never_the_name_unless_agreed(client, auth, free_app):
    hidden = customer("anna@example.test", free_app, industry="construction", name="Secret Bygg AB")
    shown = customer("bert@example.test", free_app, industry="retail", name="Open Butik AB",
                     show_name_in_reviews=True)
    ratings.save_review(hidden.company, hidden, free_app, 4, "ok")
    ratings.save_review(shown.company, shown, free_app, 3, "fine")
    page = client.get("/apps/hours/reviews").get_data(as_text=True)
    assert "Secret Bygg AB" not in page
    assert "Construction · Used the app" in page
    assert "Open Butik AB · Retail" in page
    assert "Used the app for less than a month" in page


def test_the_developer_replies_once_and_others_cannot(client, auth, free_app):
    writer = customer("anna@example.test", free_app)
    review, _ = ratings.save_review(writer.company, writer, free_app, 2, "Missing export")
    factories.developer_user(email="dev@example.test", developer_obj=free_app.developer)
    factories.developer_user(email="rival@example.test")
    auth.login("rival@example.test")
    assert auth.post(f"/reviews/{review.id}/reply", {"text": "Ours is better"}).status_code == 404
    auth.logout()
    auth.login("dev@example.test")
    assert auth.post(f"/reviews/{review.id}/reply", {"text": "Export ships in May"}).status_code == 303
    assert auth.post(f"/reviews/{review.id}/reply", {"text": "Again"}).status_code == 409
    assert [r.text for r in ReviewReply.select()] == ["Export ships in May"]
    assert "Export ships in May" in client.get("/apps/hours/reviews").get_data(as_text=True)


def test_reports_reach_the_admin(client, auth, free_app):
    writer = customer("anna@example.test", free_app)
    review, _ = ratings.save_review(writer.company, writer, free_app, 1, "Spam spam")
    factories.customer_admin(email="reader@example.test")
    factories.user(email="admin@example.test", is_platform_admin=True)
    assert client.get("/admin/reports").status_code == 302  # anonymous: to login
    auth.login("reader@example.test")
    assert auth.post(f"/reviews/{review.id}/report", {"reason": ""}).status_code == 400
    assert auth.post("/reviews/999999/report", {"reason": "x"}).status_code == 404
    assert auth.post(f"/reviews/{review.id}/report", {"reason": "Advertising"}).status_code == 303
    assert client.get("/admin/reports").status_code == 403
    auth.logout()
    auth.login("admin@example.test")
    page = client.get("/admin/reports").get_data(as_text=True)
    assert "Advertising" in page and "Spam spam" in page
    report = ReviewReport.get()
    assert auth.post(f"/admin/reports/{report.id}/remove-review").status_code == 303
    assert Review.select().count() == 0
    assert stats_of(free_app).rating_count == 0
    assert User.select().count() == 3


def test_anonymous_posts_go_to_login(client, free_app):
    response = client.post("/apps/hours/reviews", data={"stars": "5"})
    # No session, so no CSRF token: refused before anything else.
    assert response.status_code in (302, 400)
    assert Review.select().count() == 0


def test_unknown_or_unpublished_app_is_404(client, auth, free_app):
    draft = factories.app_listing(slug="draft-app", status="draft")
    customer("anna@example.test", draft)
    auth.login("anna@example.test")
    assert auth.post("/apps/draft-app/reviews", {"stars": "5"}).status_code == 404
    assert auth.post("/apps/no-such-app/reviews", {"stars": "5"}).status_code == 404


def test_the_app_page_has_the_reviews_section_and_where_the_app_stands(client, auth, free_app):
    customer("anna@example.test", free_app)
    AppStats.update(active_customers=8, rating_sum=34, rating_count=10).where(AppStats.app == free_app).execute()
    visitor = client.get("/apps/hours").get_data(as_text=True)
    # Where the app stands is the developer's business (issue P 9, replacing issue I's box on
    # the public app page): the developer's own app page shows it.
    assert "active customers (2 to go)" not in visitor and 'id="eligibility-heading"' not in visitor
    assert 'id="reviews"' in visitor and "csrf_token" not in visitor
    auth.login("anna@example.test")
    page = client.get("/apps/hours").get_data(as_text=True)
    assert 'action="/apps/hours/reviews"' in page and 'name="stars"' in page
