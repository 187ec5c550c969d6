"""The developer's reviews inbox (issue J): its own apps' reviews only, names only with
consent, open reports, and a reply form that posts to the ratings engineer's reply route."""
import re

from models import Review, ReviewReport
from tests import factories


def test_inbox_lists_own_reviews_and_replies_go_through_the_reply_route(app, auth, client):
    owner = factories.developer_user(email="owner@example.test")
    listing = factories.app_listing(developer_obj=owner.developer, slug="owned-app")
    rival_app = factories.app_listing(slug="rival-app")
    named = factories.company(name="Named Bygg AB", show_name_in_reviews=True, industry="construction")
    anonymous = factories.company(name="Hidden Name AB", industry="retail")
    praise = Review.create(company=named, app=listing, stars=5, text="Great <script>alert(1)</script>")
    moan = Review.create(company=anonymous, app=listing, stars=1, text="Too slow")
    Review.create(company=anonymous, app=rival_app, stars=3, text="Rival review text")
    reporter = factories.customer_admin()
    ReviewReport.create(review=moan, user=reporter, reason="rude")

    auth.login("owner@example.test")
    html = client.get("/developer/reviews").get_data(as_text=True)
    assert f'data-review="{praise.id}"' in html and f'data-review="{moan.id}"' in html
    assert "Rival review text" not in html
    assert "Named Bygg AB" in html and "Hidden Name AB" not in html and "Retail and e-commerce" in html
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    assert "reported 1 time" in html
    assert f'action="/reviews/{moan.id}/reply"' in html
    form = html.split(f'action="/reviews/{moan.id}/reply"')[1].split("</form>")[0]
    assert 'name="csrf_token"' in form and re.search(r'<label for="reply-\d+"', form)

    response = auth.post(f"/reviews/{moan.id}/reply", {"text": "We made it faster."})
    assert response.status_code in (200, 303)
    html = client.get("/developer/reviews").get_data(as_text=True)
    assert "We made it faster." in html and f'action="/reviews/{moan.id}/reply"' not in html
    waiting = client.get("/developer/reviews?show=unanswered", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in waiting and 'id="inbox"' in waiting
    assert f'data-review="{praise.id}"' in waiting and f'data-review="{moan.id}"' not in waiting
