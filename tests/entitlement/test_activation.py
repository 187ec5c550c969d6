"""Activate (DESIGN.md §2, §6): only through the app's landing page, with a signature the test
recomputes by hand, and only for an entitled company's admin."""
import hashlib
import hmac
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from market.core import credentials
from models import Subscription
from tests import factories


def expected_hmac(secret_key, client_id, company, ts):
    """An independent implementation of DESIGN.md §6 (not credentials.py's)."""
    server_key = hmac.new(secret_key.encode(), b"landing-secret", hashlib.sha256).digest()
    landing_secret = hmac.new(server_key, client_id.encode(), hashlib.sha256).hexdigest()
    message = urlencode(sorted([("app", client_id), ("company", company), ("ts", ts)]))
    return hmac.new(landing_secret.encode(), message.encode(), hashlib.sha256).hexdigest()


@pytest.fixture
def admin(app, auth):
    with app.app_context():
        person = factories.customer_admin(email="boss@alfa.test")
    auth.login("boss@alfa.test")
    return person


def free_app_with_client(**fields):
    listing = factories.app_listing(**fields)
    factories.api_connection(factories.company(), listing)  # makes the OAuth client "client-<slug>"
    return listing


def test_activate_redirects_to_the_signed_landing_page(app, auth, admin):
    listing = free_app_with_client(slug="ledger-sync", landing_url="https://ledger.example.test/start?lang=sv")
    before = int(time.time())
    # A `company` that is not the current company is refused (issue T, bureaus): 409, nothing made.
    response = auth.post("/apps/ledger-sync/activate", data={"company": "someone-else", "ts": "1"})
    assert response.status_code == 409 and "Location" not in response.headers
    response = auth.post("/apps/ledger-sync/activate", data={"company": admin.company.public_id, "ts": "1"})
    assert response.status_code == 303
    url = urlsplit(response.headers["Location"])
    assert (url.scheme, url.netloc, url.path) == ("https", "ledger.example.test", "/start")
    params = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert params["lang"] == "sv"
    assert params["app"] == "client-ledger-sync"
    assert params["company"] == admin.company.public_id
    assert before <= int(params["ts"]) <= int(time.time())
    assert params["hmac"] == expected_hmac("test-secret-key", "client-ledger-sync", admin.company.public_id,
                                           params["ts"])
    assert params["hmac"] == params["hmac"].lower() and len(params["hmac"]) == 64
    assert listing.landing_url.startswith("https://")


def test_htmx_activate_navigates_with_hx_redirect(app, auth, admin):
    free_app_with_client(slug="hx-app")
    response = auth.post("/apps/hx-app/activate", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "hmac=" in response.headers["HX-Redirect"]


def test_a_visitor_is_sent_to_login(app, client, auth):
    free_app_with_client(slug="visited")
    # A visitor's form (e.g. a session that timed out) carries a token but no login.
    response = auth.post("/apps/visited/activate")
    assert response.status_code == 303
    assert urlsplit(response.headers["Location"]).path == "/login"
    assert "next=/apps/visited" in response.headers["Location"] or "next=%2Fapps%2Fvisited" in \
        response.headers["Location"]


def test_csrf_is_required(app, client, auth, admin):
    free_app_with_client(slug="needs-csrf")
    response = client.post("/apps/needs-csrf/activate")
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_a_member_cannot_activate(app, client, auth):
    free_app_with_client(slug="members-app")
    factories.user(email="member@alfa.test", company=factories.company(), company_role="member")
    auth.login("member@alfa.test")
    response = auth.post("/apps/members-app/activate")
    assert response.status_code == 403
    assert "Location" not in response.headers
    assert "admin" in response.get_data(as_text=True)


def test_a_developer_without_company_cannot_activate(app, client, auth):
    free_app_with_client(slug="dev-app")
    factories.developer_user(email="dev@vendor.test")
    auth.login("dev@vendor.test")
    assert auth.post("/apps/dev-app/activate").status_code == 403


def test_a_paid_app_without_subscription_is_refused_with_buy(app, auth, admin):
    paid = factories.app_listing(slug="paid-app", price_ore=19900)
    factories.api_connection(factories.company(), paid)
    response = auth.post("/apps/paid-app/activate")
    page = response.get_data(as_text=True)
    assert response.status_code == 403 and "Location" not in response.headers
    assert "no active subscription" in page
    assert 'action="/apps/paid-app/buy"' in page and 'name="csrf_token"' in page
    # Once bought, it activates.
    Subscription.create(company=admin.company, app=paid, plan=paid.plans[0], status="active", price_ore=19900)
    assert auth.post("/apps/paid-app/activate").status_code == 303


def test_an_app_without_landing_page_cannot_be_activated(app, auth, admin):
    free_app_with_client(slug="no-landing", landing_url=None)
    response = auth.post("/apps/no-landing/activate")
    assert response.status_code == 403
    assert "no landing page" in response.get_data(as_text=True)


def test_a_suspended_app_cannot_be_activated(app, auth, admin):
    free_app_with_client(slug="suspended-app", status="suspended")
    response = auth.post("/apps/suspended-app/activate")
    assert response.status_code == 403
    assert "suspended" in response.get_data(as_text=True)


def test_unpublished_and_unknown_apps_are_404(app, auth, admin):
    for status in ("draft", "in_review", "rejected"):
        free_app_with_client(slug=f"hidden-{status}", status=status)
        assert auth.post(f"/apps/hidden-{status}/activate").status_code == 404, status
    assert auth.post("/apps/never-existed/activate").status_code == 404


def test_get_is_not_an_activation(app, client, auth, admin):
    free_app_with_client(slug="get-app")
    response = client.get("/apps/get-app/activate")
    assert response.status_code == 405


def test_credentials_signature_matches_the_independent_one():
    secret = credentials.landing_secret("k", "client-x")
    params = credentials.landing_params(secret, "client-x", "pub123", now=1700000000)
    assert params["hmac"] == expected_hmac("k", "client-x", "pub123", "1700000000")
