"""A developer's apps: listing, icon, plans, integration settings, credentials, checklist and
submission (issue B, QUALITY.md 29, 30)."""
import re

import pytest

from market.catalog import listings, store
from market.core import credentials
from models import App, Developer, MarketSetting, OAuthClient, OutboxMail, Plan, PlanPriceChange, User
from tests import factories

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
WEBP = b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 64


@pytest.fixture
def app_config(tmp_path):
    return {"ICON_DIR": str(tmp_path / "icons")}


def as_developer(auth, email="dev@example.test"):
    user = factories.developer_user(email=email)
    assert auth.login(email).status_code == 303
    return Developer.get_by_id(user.developer_id)


def new_app(auth, slug="my-app", **fields):
    data = {"slug": slug, "name": "My App", "tagline": "Does things", "description": "Plain words."}
    data.update(fields)
    return auth.post("/developer/apps/new", data)


def generation():
    return int(MarketSetting.get_by_id("store_generation").value)


def test_newcomer_registers_creates_free_app_submits_and_admin_publishes(client, auth):
    response = auth.post("/register", {"kind": "developer", "email": "New@Vendor.test", "password": "long-enough-pw",
                                       "vendor_name": "Vendor AB"})
    assert response.status_code == 303 and response.headers["Location"] == "/developer"
    # The address is confirmed by the mailed link before an app can be submitted (issue N).
    body = OutboxMail.select().where(OutboxMail.to == "new@vendor.test").get().body
    assert auth.post(re.search(r"http://localhost(/register/confirm/\S+)", body).group(1)).status_code == 303
    assert client.get("/developer").status_code == 200
    assert new_app(auth, slug="fresh-app").status_code == 303
    page = client.get("/developer/apps/fresh-app").get_data(as_text=True)
    assert re.search(r'<button type="submit" disabled>Submit for review', page)
    assert auth.post("/developer/apps/fresh-app/submit").status_code == 422
    assert App.get(App.slug == "fresh-app").status == "draft"

    response = auth.post("/developer/apps/fresh-app/integration", {
        "landing_url": "https://fresh.example.test/landing", "redirect_uris": "https://fresh.example.test/cb\n",
        "scopes": ["companyinformation", "invoice"]})
    assert response.status_code == 303
    # The privacy policy is a step of the checklist too (issue P 5).
    assert auth.post("/developer/apps/fresh-app/submit").status_code == 422
    assert auth.post("/developer/apps/fresh-app/edit", {
        "name": "My App", "privacy_url": "https://fresh.example.test/privacy"}).status_code == 303
    assert auth.post("/developer/apps/fresh-app/submit").status_code == 303
    assert App.get(App.slug == "fresh-app").status == "in_review"

    factories.user(email="root@example.test", is_platform_admin=True)
    auth.logout()
    auth.login("root@example.test")
    assert 'data-app="fresh-app"' in client.get("/admin/review").get_data(as_text=True)
    assert auth.post("/admin/review/fresh-app/approve").status_code == 303
    listing = App.get(App.slug == "fresh-app")
    assert listing.status == "published" and listing.published_at is not None
    auth.logout()
    assert client.get("/apps/fresh-app").status_code == 200


def test_create_ignores_extra_fields_and_starts_a_draft(client, auth):
    developer = as_developer(auth)
    other = factories.developer()
    response = new_app(auth, developer_id=str(other.id), status="published", price="0", is_free="0",
                       description="<p>Hi<script>alert(1)</script><img src=x onerror=alert(2)></p>")
    assert response.status_code == 303
    listing = App.get(App.slug == "my-app")
    assert listing.developer_id == developer.id and listing.status == "draft"
    assert "<script" not in listing.description_html and "onerror" not in listing.description_html
    assert OAuthClient.get(OAuthClient.app == listing).client_secret_hash is None
    page = client.get("/developer/apps").get_data(as_text=True)
    assert 'data-app="my-app"' in page and "<html" in page
    fragment = client.get("/developer/apps", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'data-app="my-app"' in fragment and "<html" not in fragment


def test_bad_slugs_are_refused_and_nothing_is_written(auth):
    as_developer(auth)
    for slug in ["My-App", "ab", "new", "has space", "-lead", "trail-", "a--b", "x" * 61, "åäö-app", ""]:
        response = new_app(auth, slug=slug)
        assert response.status_code == 422, slug
        assert "address name" in response.get_data(as_text=True)
    assert App.select().count() == 0


def test_taken_slug_and_missing_or_oversized_fields(auth):
    as_developer(auth)
    factories.app_listing(slug="taken")
    assert new_app(auth, slug="taken").status_code == 422
    assert new_app(auth, name="").status_code == 422
    assert new_app(auth, name="n" * 81).status_code == 422
    assert new_app(auth, tagline="t" * 141).status_code == 422
    assert new_app(auth, category="no-such-category").status_code == 422
    assert App.select().where(App.slug == "my-app").count() == 0


def test_form_errors_come_back_as_a_fragment_for_htmx(auth):
    as_developer(auth)
    response = auth.post("/developer/apps/new", {"slug": "BAD", "name": ""}, headers={"HX-Request": "true"})
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "<html" not in body and 'id="listing-form"' in body and "Enter the app&#39;s name." in body
    ok = auth.post("/developer/apps/new", {"slug": "good-app", "name": "Good"}, headers={"HX-Request": "true"})
    assert ok.headers["HX-Redirect"] == "/developer/apps/good-app"


def test_edit_of_a_published_app_updates_the_store_once_the_admin_approves_it(client, auth):
    """Issue 17 (N) replaces the in-place edit of a published listing: it waits as a revision."""
    developer = as_developer(auth)
    listing = factories.app_listing(developer_obj=developer, slug="live-app", name="Live")
    before = generation()
    response = auth.post("/developer/apps/live-app/edit", {"name": "Live Renamed", "tagline": "New words",
                                                           "description": "Searchable zebra text",
                                                           "category": "bookkeeping",
                                                           "status": "draft", "developer_id": "999"})
    assert response.status_code == 303
    listing = App.get_by_id(listing.id)
    assert listing.name == "Live" and listing.status == "published" and listing.developer_id == developer.id
    assert generation() == before and listing.id not in store.search_app_ids("zebra")

    factories.user(email="root@example.test", is_platform_admin=True)
    auth.logout()
    auth.login("root@example.test")
    assert auth.post("/admin/review/live-app/approve").status_code == 303
    listing = App.get_by_id(listing.id)
    assert listing.name == "Live Renamed" and listing.status == "published" and listing.developer_id == developer.id
    assert generation() > before
    assert listing.id in store.search_app_ids("zebra")


def test_integration_settings_are_validated_and_saved_exactly(auth):
    developer = as_developer(auth)
    listing = listings.create_listing(developer, {"slug": "int-app", "name": "Int"})
    url = "/developer/apps/int-app/integration"
    good = {"landing_url": "https://int.example.test/start", "webhook_url": "",
            "redirect_uris": "https://int.example.test/cb?x=1\r\nhttp://127.0.0.1:8001/callback\n\n",
            "scopes": ["invoice", "customer"]}
    for field, bad in [("landing_url", "http://int.example.test/start"), ("landing_url", "javascript:alert(1)"),
                       ("landing_url", "https://user:pw@int.example.test/"), ("webhook_url", "ftp://x.test/"),
                       ("redirect_uris", "https://int.example.test/cb#frag"),
                       ("redirect_uris", "http://evil.test/cb"), ("redirect_uris", "/relative"),
                       ("scopes", ["invoice", "admin"])]:
        response = auth.post(url, {**good, field: bad})
        assert response.status_code == 422, (field, bad)
        client_row = OAuthClient.get(OAuthClient.app == listing)
        assert client_row.redirect_uris == "" and App.get_by_id(listing.id).landing_url is None
    assert auth.post(url, good).status_code == 303
    client_row = OAuthClient.get(OAuthClient.app == listing)
    assert client_row.redirect_uris == "https://int.example.test/cb?x=1\nhttp://127.0.0.1:8001/callback"
    assert client_row.scopes == "customer invoice"
    assert App.get_by_id(listing.id).landing_url == "https://int.example.test/start"


def test_plans_prices_in_kronor_and_price_changes_are_recorded(auth):
    developer = as_developer(auth)
    listing = listings.create_listing(developer, {"slug": "paid-app", "name": "Paid",
                                                  "privacy_url": "https://p.example.test/privacy"})
    url = "/developer/apps/paid-app/plans"
    for bad in [{"name": "Std", "price_kr": "abc"}, {"name": "Std", "price_kr": "0"},
                {"name": "Std", "price_kr": "-5"}, {"name": "Std", "price_kr": "49,505"},
                {"name": "Std", "price_kr": "199", "trial_days": "91"},
                {"name": "Std", "price_kr": "199", "trial_days": "x"}, {"name": "", "price_kr": "199"}]:
        assert auth.post(url, bad).status_code == 422, bad
    assert Plan.select().count() == 0 and App.get_by_id(listing.id).is_free
    assert auth.post(url, {"name": "Basic", "price_kr": "49,50", "trial_days": "14", "price_ore": "1"}).status_code == 303
    assert auth.post(url, {"name": "Pro", "price_kr": "199"}).status_code == 303
    basic = Plan.get(Plan.name == "Basic")
    assert basic.price_ore == 4950 and basic.trial_days == 14
    listing = App.get_by_id(listing.id)
    assert not listing.is_free and listing.min_price_ore == 4950

    Plan.update(stripe_price_id="price_old").where(Plan.id == basic.id).execute()
    response = auth.post(f"{url}/{basic.id}", {"name": "Basic", "price_kr": "59", "trial_days": "14"})
    assert response.status_code == 303
    basic = Plan.get_by_id(basic.id)
    assert basic.price_ore == 5900 and basic.stripe_price_id is None
    change = PlanPriceChange.get(PlanPriceChange.plan == basic)
    assert (change.old_price_ore, change.new_price_ore) == (4950, 5900)
    assert App.get_by_id(listing.id).min_price_ore == 5900

    for plan in Plan.select():
        assert auth.post(f"{url}/{plan.id}/retire").status_code == 303
    listing = App.get_by_id(listing.id)
    assert listing.is_free and listing.min_price_ore == 0


def test_another_apps_plan_is_not_found(auth):
    developer = as_developer(auth)
    listings.create_listing(developer, {"slug": "mine", "name": "Mine"})
    foreign = factories.app_listing(price_ore=9900)
    plan = Plan.get(Plan.app == foreign)
    assert auth.post(f"/developer/apps/mine/plans/{plan.id}", {"name": "X", "price_kr": "1"}).status_code == 404
    assert auth.post(f"/developer/apps/mine/plans/{plan.id}/retire").status_code == 404
    assert Plan.get_by_id(plan.id).price_ore == 9900 and Plan.get_by_id(plan.id).active


@pytest.mark.parametrize("data,ext", [(PNG, "png"), (JPEG, "jpg"), (WEBP, "webp")])
def test_icon_type_comes_from_the_bytes_not_the_name(client, auth, app, data, ext):
    import io

    developer = as_developer(auth)
    listing = listings.create_listing(developer, {"slug": "icon-app", "name": "Icon"})
    response = auth.post("/developer/apps/icon-app/icon", {"icon": (io.BytesIO(data), "../../evil.txt")},
                         content_type="multipart/form-data")
    assert response.status_code == 303
    name = App.get_by_id(listing.id).icon
    assert re.fullmatch(r"[0-9a-f]{32}\." + ext, name)
    with client.get(f"/icons/{name}") as served:
        assert served.status_code == 200 and served.data == data
        assert served.headers["Content-Type"].startswith("image/")
    assert client.get("/icons/..%2Fmarket-test.db").status_code == 404


def test_icons_that_are_not_images_or_too_large_are_refused(auth):
    import io

    developer = as_developer(auth)
    listing = listings.create_listing(developer, {"slug": "icon-app", "name": "Icon"})
    for data, name in [(b"GIF89a" + b"\x00" * 20, "a.gif"), (b"<svg onload=alert(1)>", "a.png"),
                       (PNG + b"\x00" * (256 * 1024), "big.png"), (b"", "empty.png")]:
        response = auth.post("/developer/apps/icon-app/icon", {"icon": (io.BytesIO(data), name)},
                             content_type="multipart/form-data")
        assert response.status_code == 422, name
        assert "icon" in response.get_data(as_text=True).lower()
    assert auth.post("/developer/apps/icon-app/icon", {}).status_code == 422
    assert App.get_by_id(listing.id).icon is None


def test_client_secret_is_shown_once_and_stored_as_a_keyed_hash(client, auth, app):
    developer = as_developer(auth)
    listing = listings.create_listing(developer, {"slug": "cred-app", "name": "Cred"})
    row = OAuthClient.get(OAuthClient.app == listing)
    page = client.get("/developer/apps/cred-app/credentials").get_data(as_text=True)
    assert row.client_id in page
    assert credentials.landing_secret("test-secret-key", row.client_id) in page

    response = auth.post("/developer/apps/cred-app/credentials/secret")
    assert response.headers["Cache-Control"] == "no-store"
    secret = re.search(r'<code id="client-secret">([^<]+)</code>', response.get_data(as_text=True)).group(1)
    assert len(secret) >= 40
    row = OAuthClient.get_by_id(row.id)
    assert row.client_secret_hash == credentials.hash_client_secret("test-secret-key", secret)
    assert secret not in client.get("/developer/apps/cred-app/credentials").get_data(as_text=True)

    rotated = auth.post("/developer/apps/cred-app/credentials/secret").get_data(as_text=True)
    new_secret = re.search(r'<code id="client-secret">([^<]+)</code>', rotated).group(1)
    assert new_secret != secret
    assert not credentials.client_secret_matches("test-secret-key", OAuthClient.get_by_id(row.id).client_secret_hash,
                                                 secret)


def test_paid_app_needs_payouts_before_submission(auth):
    developer = as_developer(auth)
    listing = listings.create_listing(developer, {"slug": "paid-app", "name": "Paid",
                                                  "privacy_url": "https://p.example.test/privacy"})
    listings.update_integration(listing, {"landing_url": "https://p.example.test/",
                                          "redirect_uris": "https://p.example.test/cb"}, ["invoice"])
    listings.add_plan(listing, {"name": "Std", "price_kr": "199"})
    response = auth.post("/developer/apps/paid-app/submit", {"status": "in_review"})
    assert response.status_code == 422 and "checklist" in response.get_data(as_text=True)
    assert App.get_by_id(listing.id).status == "draft"
    Developer.update(payouts_enabled=True).where(Developer.id == developer.id).execute()
    assert auth.post("/developer/apps/paid-app/submit").status_code == 303
    assert App.get_by_id(listing.id).status == "in_review"
    assert auth.post("/developer/apps/paid-app/submit").status_code == 422  # already in review


def test_customers_and_visitors_never_see_developer_pages(client, auth):
    factories.customer_admin(email="buyer@example.test")
    assert client.get("/developer/apps").status_code == 302
    auth.login("buyer@example.test")
    assert client.get("/developer/apps").status_code == 403
    assert new_app(auth).status_code == 403
    assert App.select().count() == 0 and User.get(User.email == "buyer@example.test").developer_id is None


def test_nul_characters_huge_ids_and_odd_slugs_never_reach_the_database(client, auth):
    developer = as_developer(auth)
    listing = listings.create_listing(developer, {"slug": "odd-app", "name": "Odd"})
    assert new_app(auth, slug="nul-app", name="bad\x00name").status_code == 400
    assert auth.post("/developer/apps/odd-app/edit", {"name": "x", "description": "a\x00b"}).status_code == 400
    assert App.get_by_id(listing.id).name == "Odd" and App.select().count() == 1
    for plan_id in ["99999999999999999999", "2147483648", "-1", "1.5"]:
        assert auth.post(f"/developer/apps/odd-app/plans/{plan_id}", {"name": "X", "price_kr": "1"}).status_code == 404
    for slug in ["odd%00app", "ODD-APP", "x" * 300]:
        assert client.get(f"/developer/apps/{slug}").status_code == 404, slug


def test_pages_of_an_app_without_an_oauth_client_write_nothing(client, auth):
    developer = as_developer(auth)
    factories.app_listing(developer_obj=developer, slug="imported-app")
    for url in ["/developer/apps/imported-app", "/developer/apps/imported-app/credentials",
                "/developer/apps/imported-app/integration"]:
        assert client.get(url).status_code == 200, url
    assert OAuthClient.select().count() == 0
    page = auth.post("/developer/apps/imported-app/credentials/secret").get_data(as_text=True)
    row = OAuthClient.get()
    assert row.client_id in page and row.client_secret_hash


@pytest.mark.parametrize("ore, field, shown", [(19900, "199", "199 kr/mån exkl. moms"),
                                               (123450, "1234,50", "1\u00a0234,50 kr/mån exkl. moms")])
def test_a_plans_price_is_shown_the_markets_way_and_its_field_saves_it_unchanged(auth, client, ore, field, shown):
    developer = as_developer(auth)
    listing = listings.create_listing(developer, {"slug": "priced-app", "name": "Priced"})
    plan = listings.add_plan(listing, {"name": "Std", "price_kr": field})
    assert plan.price_ore == ore
    page = client.get("/developer/apps/priced-app/plans").get_data(as_text=True)
    assert f'name="price_kr" value="{field}"' in page
    client.set_cookie("lang", "sv")  # the market's way is the Swedish reader's (the English one: 199 kr/month)
    assert f"från {shown}" in client.get("/developer/apps").get_data(as_text=True)
    client.delete_cookie("lang")
    assert auth.post(f"/developer/apps/priced-app/plans/{plan.id}",
                     {"name": "Std", "price_kr": field, "trial_days": "0"}).status_code == 303
    assert Plan.get_by_id(plan.id).price_ore == ore and PlanPriceChange.select().count() == 0
