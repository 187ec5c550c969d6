"""Issue P, Deliver 8: the developer dashboard's first-run checklist ticked from real state,
all-zero tiles folded away, charts with axes, units and legends, and the reviews inbox that
stays where the developer was after a reply."""
import re

from models import App, Developer, LedgerEntry, Plan, Review, ReviewReply
from tests import factories


def steps(html):
    return dict(re.findall(r'data-step="(\w+)" data-done="(yes|no)"', html))


def step(html, key):
    return html.split(f'data-step="{key}"')[1].split("</li>")[0]


def test_the_checklist_follows_what_the_developer_has_done(client, auth):
    dev_user = factories.developer_user(email="new@vendor.test")
    developer = dev_user.developer
    auth.login(dev_user.email)
    html = client.get("/developer").get_data(as_text=True)
    assert steps(html) == {"app": "no", "plans": "no", "payouts": "no", "submit": "no"}
    assert 'href="/developer/apps/new"' in step(html, "app") and 'aria-current="step"' in step(html, "app")
    assert 'href="/developer/payouts"' in step(html, "payouts")

    listing = App.create(developer=developer, slug="first-app", name="First App", is_free=False, status="draft")
    html = client.get("/developer").get_data(as_text=True)
    assert steps(html) == {"app": "yes", "plans": "no", "payouts": "no", "submit": "no"}
    assert 'href="/developer/apps/first-app/plans"' in step(html, "plans")
    assert 'aria-current="step"' in step(html, "plans")

    Plan.create(app=listing, name="Standard", price_ore=19900)
    assert steps(client.get("/developer").get_data(as_text=True))["plans"] == "yes"
    Developer.update(payouts_enabled=True, stripe_account_id="acct_first").where(
        Developer.id == developer.id).execute()
    html = client.get("/developer").get_data(as_text=True)
    assert steps(html) == {"app": "yes", "plans": "yes", "payouts": "yes", "submit": "no"}
    assert 'href="/developer/apps/first-app"' in step(html, "submit") and 'aria-current="step"' in step(html, "submit")

    App.update(status="in_review").where(App.id == listing.id).execute()
    assert "data-step=" not in client.get("/developer").get_data(as_text=True)  # all done: it goes away


def test_a_free_app_needs_no_payouts(client, auth):
    dev_user = factories.developer_user(email="free@vendor.test")
    factories.app_listing(developer_obj=dev_user.developer, slug="free-one", status="draft")
    auth.login(dev_user.email)
    assert steps(client.get("/developer").get_data(as_text=True)) == {
        "app": "yes", "plans": "yes", "payouts": "yes", "submit": "no"}


def test_all_zero_tiles_fold_away_behind_a_sentence(client, auth):
    dev_user = factories.developer_user(email="quiet@vendor.test")
    listing = factories.app_listing(developer_obj=dev_user.developer, price_ore=19900, slug="quiet-app")
    auth.login(dev_user.email)
    html = client.get("/developer").get_data(as_text=True)
    assert 'data-empty="figures"' in html and "Nothing to count yet in this period" in html
    folded = html.split('<details class="zero-figures">')[1].split("</details>")[0]
    assert 'data-figure="mrr_ore"' in folded  # still there, folded away
    factories.ledger_entry(listing)
    html = client.get("/developer").get_data(as_text=True)
    assert 'data-empty="figures"' not in html and '<details class="zero-figures">' not in html
    assert LedgerEntry.select().count() == 1


def test_charts_have_axes_units_and_legends(client, auth):
    dev_user = factories.developer_user(email="charts@vendor.test")
    factories.app_listing(developer_obj=dev_user.developer, price_ore=19900)
    auth.login(dev_user.email)
    html = client.get("/developer").get_data(as_text=True)
    mrr = html.split('data-chart="chart-mrr"')[1].split("</figure>")[0]
    assert 'data-axis="x"' in mrr and 'data-axis="y"' in mrr
    assert "kr/month excl. VAT" in mrr and ">Month<" in mrr  # the English page (conftest asks for it)
    assert 'data-legend="mrr"' in mrr
    customers = html.split('data-chart="chart-customers"')[1].split("</figure>")[0]
    assert ">Customers<" in customers and 'data-legend="customers"' in customers
    movement = html.split('data-chart="chart-movement"')[1].split("</figure>")[0]
    # The movement chart's axis names its unit too (partials/_svg_movement.html writes it).
    assert 'data-axis="y"' in movement and "kr/" in movement.split('data-axis="y"')[1]
    for key in ("new", "reactivation", "expansion", "contraction", "churn"):
        assert f'data-legend="{key}"' in movement


def _inbox(auth):
    owner = factories.developer_user(email="owner@vendor.test")
    listing = factories.app_listing(developer_obj=owner.developer, slug="owned-app", name="Owned App")
    first = Review.create(company=factories.company(), app=listing, stars=2, text="Slow")
    second = Review.create(company=factories.company(), app=listing, stars=4, text="Fine")
    auth.login(owner.email)
    return first, second


def test_a_reply_from_the_inbox_stays_in_the_inbox_with_a_message(client, auth):
    first, second = _inbox(auth)
    html = client.get("/developer/reviews").get_data(as_text=True)
    assert f'id="review-{first.id}"' in html and 'name="back" value="all"' in html
    response = auth.post(f"/reviews/{first.id}/reply", {"text": "Faster now.", "back": "all"})
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/developer/reviews?replied={first.id}#review-{first.id}")
    html = client.get(f"/developer/reviews?replied={first.id}").get_data(as_text=True)
    article = html.split(f'id="review-{first.id}"')[1].split("</article>")[0]
    assert 'role="status"' in article and "Your reply was published" in article and "Faster now." in article

    # From "Waiting for your reply": the same filter again, the answered review gone, said so.
    waiting = client.get("/developer/reviews?show=unanswered").get_data(as_text=True)
    assert 'name="back" value="unanswered"' in waiting
    response = auth.post(f"/reviews/{second.id}/reply", {"text": "Thanks!", "back": "unanswered"})
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/developer/reviews?show=unanswered&replied={second.id}#inbox")
    html = client.get(f"/developer/reviews?show=unanswered&replied={second.id}").get_data(as_text=True)
    assert f'data-replied="{second.id}"' in html and "Owned App" in html and "no longer waits" in html
    assert f'id="review-{second.id}"' not in html


def test_a_refused_reply_from_the_inbox_shows_the_inbox_again(client, auth):
    first, _ = _inbox(auth)
    response = auth.post(f"/reviews/{first.id}/reply", {"text": "   ", "back": "all"})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'id="inbox"' in html and f'id="reply-error-{first.id}"' in html and "Write a reply." in html
    assert ReviewReply.select().count() == 0
    # A made-up `back` is the old answer (the app's reviews), and another's review id says nothing.
    assert auth.post(f"/reviews/{first.id}/reply", {"text": "Hi", "back": "https://evil.test"}).status_code == 303
    other = factories.app_listing(slug="other-app")
    theirs = Review.create(company=factories.company(), app=other, stars=5, text="x")
    ReviewReply.create(review=theirs, developer=other.developer, text="y")
    assert 'data-replied=' not in client.get(f"/developer/reviews?replied={theirs.id}").get_data(as_text=True)


def test_the_payouts_page_says_what_comes_next(client, auth):
    dev_user = factories.developer_user(email="payouts@vendor.test")
    developer = dev_user.developer
    auth.login(dev_user.email)
    html = client.get("/developer/payouts").get_data(as_text=True)
    assert "What comes next" in html and 'data-next="stripe"' in html
    Developer.update(payouts_enabled=True, stripe_account_id="acct_next").where(Developer.id == developer.id).execute()
    html = client.get("/developer/payouts").get_data(as_text=True)
    assert 'data-next="app"' in html and 'href="/developer/apps/new"' in html
    listing = factories.app_listing(developer_obj=developer, price_ore=19900, slug="next-app", status="draft")
    html = client.get("/developer/payouts").get_data(as_text=True)
    assert 'data-next="submit"' in html and 'href="/developer/apps/next-app"' in html
    App.update(status="published").where(App.id == listing.id).execute()
    html = client.get("/developer/payouts").get_data(as_text=True)
    assert 'data-next="dashboard"' in html and 'href="/developer"' in html


def test_the_credentials_page_links_the_api_documentation(client, auth):
    dev_user = factories.developer_user(email="creds@vendor.test")
    factories.app_listing(developer_obj=dev_user.developer, slug="cred-app")
    auth.login(dev_user.email)
    html = client.get("/developer/apps/cred-app/credentials").get_data(as_text=True)
    links = html.split('data-docs="api"')[1].split("</p>")[0]
    for anchor in ("oauth", "landing", "notifications", "openapi"):
        assert f'href="/developers/docs#{anchor}"' in links
        assert f'id="{anchor}"' in client.get("/developers/docs").get_data(as_text=True)


def test_with_htmx_a_reply_swaps_the_inbox_in_place(client, auth):
    first, second = _inbox(auth)
    html = client.get("/developer/reviews").get_data(as_text=True)
    form = html.split(f'action="/reviews/{first.id}/reply"')[1].split(">")[0]
    assert f'hx-post="/reviews/{first.id}/reply"' in form and 'hx-target="#inbox"' in form
    response = auth.post(f"/reviews/{first.id}/reply", {"text": "On it.", "back": "unanswered"},
                         headers={"HX-Request": "true"})
    assert response.status_code == 200 and "HX-Request" in response.headers.get("Vary", "")
    fragment = response.get_data(as_text=True)
    assert "<html" not in fragment and fragment.lstrip().startswith('<div id="inbox">')
    assert f'data-replied="{first.id}"' in fragment and f'id="review-{second.id}"' in fragment
    assert f'id="review-{first.id}"' not in fragment  # answered: no longer waiting
    refused = auth.post(f"/reviews/{second.id}/reply", {"text": " ", "back": "all"}, headers={"HX-Request": "true"})
    assert refused.status_code == 400 and "<html" not in refused.get_data(as_text=True)
    assert "Write a reply." in refused.get_data(as_text=True)
