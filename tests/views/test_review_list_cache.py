"""The app page's review list is rendered once per kind of reader and store generation
(views/reviews.py); each reader's forms must still carry that reader's own CSRF token, and a
visitor's page none."""
import re

from market.reviews import ratings
from models import ReviewReport, utcnow
from tests import factories
from tests.conftest import PASSWORD, form_csrf


def _logged_in(app, email):
    client = app.test_client()
    page = client.get("/login")
    client.post("/login", data={"email": email, "password": PASSWORD,
                                "csrf_token": form_csrf(page.get_data(as_text=True))})
    return client


def test_each_reader_reports_with_own_token_from_the_same_kept_list(app):
    listing = factories.app_listing(slug="hours", name="Hours")
    company = factories.company()
    writer = factories.customer_admin(email="writer@example.test", company_obj=company)
    factories.connection(company, listing, last_used_at=utcnow())
    review, _ = ratings.save_review(company, writer, listing, 2, "Slow")
    factories.customer_admin(email="first@example.test")
    factories.customer_admin(email="second@example.test")

    visitor_page = app.test_client().get("/apps/hours").get_data(as_text=True)
    assert "Slow" in visitor_page and "csrf_token" not in visitor_page

    tokens = []
    for email in ("first@example.test", "second@example.test"):
        client = _logged_in(app, email)
        page = client.get("/apps/hours").get_data(as_text=True)
        report_form = page[page.index(f"/reviews/{review.id}/report"):]
        token = re.search(r'name="csrf_token" value="([^"]+)"', report_form).group(1)
        tokens.append(token)
        response = client.post(f"/reviews/{review.id}/report", data={"reason": f"from {email}",
                                                                     "csrf_token": token})
        assert response.status_code == 303
    assert tokens[0] != tokens[1]
    assert sorted(r.reason for r in ReviewReport.select()) == ["from first@example.test",
                                                                "from second@example.test"]
