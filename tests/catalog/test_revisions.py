"""Issue 17 (N), attack 3 and Deliver 2: after approval, a change to what customers see or rely
on waits as a revision; the published version stays live until the admin approves it."""
import io
import json
import re

import pytest

from models import (
    App,
    Connection,
    Developer,
    ListingRevision,
    MarketSetting,
    OAuthClient,
    OAuthToken,
    Plan,
    PlanPriceChange,
)
from tests import english, factories

DEV_EMAIL, ADMIN_EMAIL, CUSTOMER_EMAIL = "dev@vendor.test", "root@example.test", "anna@customer.test"
PHISH = '<p>New! <a href="https://phish.example.test/login">Log in again here</a></p>'


def generation():
    return int(MarketSetting.get_by_id("store_generation").value)


@pytest.fixture
def live_app():
    """A published free app of a developer that can be paid, with an OAuth client, and a
    customer connected to it with a token for `companyinformation` only."""
    developer = factories.developer(name="Honest Vendor AB", payouts_enabled=True)
    factories.developer_user(email=DEV_EMAIL, developer_obj=developer)
    factories.user(email=ADMIN_EMAIL, is_platform_admin=True)
    listing = factories.app_listing(developer_obj=developer, slug="backup-app", name="Backup Helper",
                                    tagline="Backs up your books", description="Honest words.",
                                    description_html="<p>Honest words.</p>",
                                    landing_url="https://backup.example.test/landing")
    factories.oauth_client(listing, redirect_uris="https://backup.example.test/cb", scopes="companyinformation",
                           client_id="backup-client")
    customer = factories.customer_admin(email=CUSTOMER_EMAIL)
    connection = factories.api_connection(customer.company, listing, scopes="companyinformation")
    token = factories.issue_token(connection)
    return {"app": listing, "developer": developer, "customer": customer, "token": token}


def _attack(auth):
    """Everything at once, as the self-registered developer of a published app would."""
    auth.login(DEV_EMAIL)
    assert auth.post("/developer/apps/backup-app/edit", {
        "name": "Fortnox Backup (official)", "vendor_name": "Fortnox AB", "tagline": "Official backup",
        "description": PHISH, "category": "bookkeeping"}).status_code == 303
    assert auth.post("/developer/apps/backup-app/integration", {
        "landing_url": "https://phish.example.test/", "redirect_uris": "https://phish.example.test/cb",
        "webhook_url": "https://phish.example.test/hook",
        "scopes": ["companyinformation", "customer", "invoice"]}).status_code == 303
    assert auth.post("/developer/apps/backup-app/plans", {"name": "Pro", "price_kr": "999"}).status_code == 303
    auth.logout()


def _published_unchanged(client, live_app):
    listing = App.get_by_id(live_app["app"].id)
    assert (listing.name, listing.vendor_name, listing.description, listing.landing_url, listing.webhook_url,
            listing.is_free) == ("Backup Helper", None, "Honest words.", "https://backup.example.test/landing",
                                 None, True)
    oauth = OAuthClient.get(OAuthClient.app == listing)
    assert (oauth.redirect_uris, oauth.scopes) == ("https://backup.example.test/cb", "companyinformation")
    assert Plan.select().where(Plan.app == listing).count() == 0
    page = client.get("/apps/backup-app").get_data(as_text=True)
    assert "Backup Helper" in page and "Honest Vendor AB" in page
    assert "Fortnox" not in page and "phish.example.test" not in page
    store = client.get("/apps?q=fortnox").get_data(as_text=True)
    assert 'data-app="backup-app"' not in store
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {live_app['token']}"})
    assert me.status_code == 200 and me.get_json()["Me"]["App"]["Name"] == "Backup Helper"


def test_a_published_app_changed_all_at_once_stays_as_published_until_the_admin_approves(client, auth, live_app):
    before = generation()
    _attack(auth)
    assert ListingRevision.select().count() == 1
    assert generation() == before
    _published_unchanged(client, live_app)

    # OAuth still answers with the published client: the new redirect URI and scopes do not work.
    auth.login(CUSTOMER_EMAIL)
    evil = client.get("/oauth-v1/auth", query_string={
        "response_type": "code", "client_id": "backup-client", "redirect_uri": "https://phish.example.test/cb",
        "scope": "companyinformation", "state": "s"})
    assert not evil.headers.get("Location", "").startswith("https://phish.example.test")
    wider = client.get("/oauth-v1/auth", query_string={
        "response_type": "code", "client_id": "backup-client", "redirect_uri": "https://backup.example.test/cb",
        "scope": "companyinformation invoice", "state": "s"})
    assert "error=invalid_scope" in wider.headers.get("Location", "")
    auth.logout()

    # The admin sees the revision beside the new apps, old beside new.
    auth.login(ADMIN_EMAIL)
    page = client.get("/admin/review").get_data(as_text=True)
    assert 'data-app="backup-app"' in page
    rows = dict(re.findall(r'<tr data-field="([a-z_]+)">(.*?)</tr>', page, re.S))
    assert set(rows) == {"name", "vendor_name", "tagline", "description", "landing_url", "redirect_uris", "scopes",
                         "webhook_url", "plans"}
    assert "Backup Helper" in rows["name"] and "Fortnox Backup (official)" in rows["name"]
    assert "Honest Vendor AB" in rows["vendor_name"] and "Fortnox AB" in rows["vendor_name"]
    assert "Honest words." in rows["description"] and "&lt;a href=&#34;https://phish.example.test/login" in rows[
        "description"]
    assert "https://backup.example.test/cb" in rows["redirect_uris"] and "https://phish.example.test/cb" in rows[
        "redirect_uris"]
    assert "companyinformation customer invoice" in rows["scopes"].replace("\n", " ")
    assert "Free" in rows["plans"] and english.price(99900) in rows["plans"]
    assert "https://phish.example.test/hook" in rows["webhook_url"]

    # Approve applies exactly the stored values, at once.
    assert auth.post("/admin/review/backup-app/approve").status_code == 303
    listing = App.get_by_id(live_app["app"].id)
    assert (listing.name, listing.vendor_name, listing.landing_url, listing.webhook_url, listing.is_free,
            listing.min_price_ore, listing.status) == (
        "Fortnox Backup (official)", "Fortnox AB", "https://phish.example.test/",
        "https://phish.example.test/hook", False, 99900, "published")
    assert "phish.example.test/login" in listing.description_html
    oauth = OAuthClient.get(OAuthClient.app == listing)
    assert (oauth.redirect_uris, oauth.scopes) == ("https://phish.example.test/cb", "companyinformation customer invoice")
    assert [(p.name, p.price_ore, p.active) for p in Plan.select().where(Plan.app == listing)] == [("Pro", 99900, True)]
    assert generation() > before
    assert ListingRevision.get().status == "approved" and ListingRevision.get().decided_at is not None
    page = client.get("/apps/backup-app").get_data(as_text=True)
    assert "Fortnox Backup (official)" in page and "Fortnox AB" in page
    assert 'data-app="backup-app"' not in client.get("/admin/review").get_data(as_text=True)

    # New scopes do not widen the existing grant: the old token keeps its scope, and the
    # customer is asked again for the new ones.
    assert [t.scope for t in OAuthToken.select()] == ["companyinformation"]
    assert Connection.get().scopes == "companyinformation"


def test_scopes_added_by_an_approved_revision_do_not_widen_existing_tokens(client, auth, live_app):
    auth.login(DEV_EMAIL)
    assert auth.post("/developer/apps/backup-app/integration", {
        "landing_url": "https://backup.example.test/landing", "redirect_uris": "https://backup.example.test/cb",
        "scopes": ["companyinformation", "invoice"]}).status_code == 303
    auth.logout()
    auth.login(ADMIN_EMAIL)
    assert auth.post("/admin/review/backup-app/approve").status_code == 303
    assert OAuthClient.get(OAuthClient.app == live_app["app"]).scopes == "companyinformation invoice"
    bearer = {"Authorization": f"Bearer {live_app['token']}"}
    assert client.get("/api/v1/companyinformation", headers=bearer).status_code == 200
    refused = client.get("/api/v1/invoices", headers=bearer)
    assert refused.status_code == 403 and "invoice" in refused.get_json()["ErrorInformation"]["message"]
    assert Connection.get().scopes == "companyinformation"
    auth.logout()
    # The customer is asked again for the new scope: the consent page, not a silent code.
    auth.login(CUSTOMER_EMAIL)
    asked = client.get("/oauth-v1/auth", query_string={
        "response_type": "code", "client_id": "backup-client", "redirect_uri": "https://backup.example.test/cb",
        "scope": "companyinformation invoice", "state": "s"})
    assert asked.status_code == 200 and 'value="allow"' in asked.get_data(as_text=True)


def test_a_rejected_revision_keeps_the_published_version_and_the_developer_sees_why(client, auth, live_app):
    _attack(auth)
    auth.login(ADMIN_EMAIL)
    assert auth.post("/admin/review/backup-app/reject", {"reason": ""}).status_code == 422
    assert ListingRevision.get().status == "pending"
    assert auth.post("/admin/review/backup-app/reject",
                     {"reason": "You are not Fortnox; the link is phishing."}).status_code == 303
    revision = ListingRevision.get()
    assert revision.status == "rejected" and revision.reason == "You are not Fortnox; the link is phishing."
    _published_unchanged(client, live_app)
    assert auth.post("/admin/review/backup-app/approve").status_code == 409  # nothing pending any more
    _published_unchanged(client, live_app)
    auth.logout()
    auth.login(DEV_EMAIL)
    page = client.get("/developer/apps/backup-app").get_data(as_text=True)
    assert 'data-revision="rejected"' in page and "You are not Fortnox; the link is phishing." in page
    # The forms show the published values again, so a new edit starts from what is live.
    assert 'value="Backup Helper"' in client.get("/developer/apps/backup-app/edit").get_data(as_text=True)


def test_the_developer_sees_its_pending_revision_and_may_withdraw_it(client, auth, live_app):
    _attack(auth)
    auth.login(DEV_EMAIL)
    page = client.get("/developer/apps/backup-app").get_data(as_text=True)
    assert 'data-revision="pending"' in page and '<tr data-field="name">' in page
    assert 'data-revision="pending"' in client.get("/developer/apps").get_data(as_text=True)
    assert 'value="Fortnox Backup (official)"' in client.get("/developer/apps/backup-app/edit").get_data(as_text=True)
    assert "phish.example.test/cb" in client.get("/developer/apps/backup-app/integration").get_data(as_text=True)
    assert auth.post("/developer/apps/backup-app/revision/withdraw").status_code == 303
    assert ListingRevision.get().status == "withdrawn"
    assert auth.post("/developer/apps/backup-app/revision/withdraw").status_code == 409
    assert 'data-revision="pending"' not in client.get("/developer/apps/backup-app").get_data(as_text=True)
    assert 'data-revision="pending"' not in client.get("/developer/apps").get_data(as_text=True)
    _published_unchanged(client, live_app)
    auth.logout()
    auth.login(ADMIN_EMAIL)
    assert 'data-app="backup-app"' not in client.get("/admin/review").get_data(as_text=True)
    assert auth.post("/admin/review/backup-app/approve").status_code == 409
    _published_unchanged(client, live_app)


def test_another_developer_cannot_withdraw_or_see_the_revision(client, auth, live_app):
    _attack(auth)
    factories.developer_user(email="other@vendor.test")
    auth.login("other@vendor.test")
    assert auth.post("/developer/apps/backup-app/revision/withdraw").status_code == 404
    assert client.get("/developer/apps/backup-app").status_code == 404
    assert ListingRevision.get().status == "pending"


def test_a_newer_edit_replaces_the_pending_revision(client, auth, live_app):
    auth.login(DEV_EMAIL)
    form = {"name": "First Try", "tagline": "Backs up your books", "description": "Honest words.",
            "category": "bookkeeping"}
    assert auth.post("/developer/apps/backup-app/edit", form).status_code == 303
    assert auth.post("/developer/apps/backup-app/edit", {**form, "name": "Second Try"}).status_code == 303
    revision = ListingRevision.get()
    assert ListingRevision.select().count() == 1 and revision.status == "pending"
    assert 'value="Second Try"' in client.get("/developer/apps/backup-app/edit").get_data(as_text=True)
    # An integration edit builds on the pending revision: both changes wait together.
    assert auth.post("/developer/apps/backup-app/integration", {
        "landing_url": "https://backup.example.test/landing", "redirect_uris": "https://backup.example.test/cb",
        "webhook_url": "https://backup.example.test/hook", "scopes": ["companyinformation"]}).status_code == 303
    assert ListingRevision.select().count() == 1
    auth.logout()
    auth.login(ADMIN_EMAIL)
    page = client.get("/admin/review").get_data(as_text=True)
    assert set(re.findall(r'<tr data-field="([a-z_]+)">', page)) == {"name", "webhook_url"}
    assert "First Try" not in page and "Second Try" in page
    assert auth.post("/admin/review/backup-app/approve").status_code == 303
    listing = App.get_by_id(live_app["app"].id)
    assert (listing.name, listing.webhook_url) == ("Second Try", "https://backup.example.test/hook")
    auth.logout()
    # An edit back to exactly the published values leaves nothing to review.
    auth.login(DEV_EMAIL)
    assert auth.post("/developer/apps/backup-app/edit", {**form, "name": "Third Try"}).status_code == 303
    assert auth.post("/developer/apps/backup-app/edit", {**form, "name": "Second Try"}).status_code == 303
    assert not ListingRevision.select().where(ListingRevision.status == "pending").exists()


def test_plan_prices_and_new_plans_of_a_published_app_wait_for_approval_and_retiring_does_not(client, auth, live_app):
    listing = factories.app_listing(developer_obj=live_app["developer"], slug="paid-app", price_ore=19900)
    plan = Plan.get(Plan.app == listing)
    Plan.update(stripe_price_id="price_old").where(Plan.id == plan.id).execute()
    lite = Plan.create(app=listing, name="Lite", price_ore=4900, position=1)
    auth.login(DEV_EMAIL)
    url = "/developer/apps/paid-app/plans"
    assert auth.post(f"{url}/{plan.id}", {"name": "Standard", "price_kr": "99", "trial_days": "0"}).status_code == 303
    assert auth.post(f"{url}/{lite.id}/retire").status_code == 303
    assert auth.post(url, {"name": "Team", "price_kr": "499"}).status_code == 303
    assert auth.post(f"{url}/new1", {"name": "Team", "price_kr": "599", "trial_days": "7"}).status_code == 303
    assert auth.post(f"{url}/new2", {"name": "X", "price_kr": "1"}).status_code == 404
    assert auth.post(f"{url}/{lite.id}", {"name": "X", "price_kr": "1"}).status_code == 404  # retired at once
    assert auth.post(f"{url}/new1/retire").status_code == 303  # a proposed plan leaves the revision
    assert auth.post(url, {"name": "Team", "price_kr": "499"}).status_code == 303
    assert auth.post(f"{url}/new1", {"name": "Team", "price_kr": "599", "trial_days": "7"}).status_code == 303
    assert auth.post(f"{url}/{plan.id}", {"name": "Standard", "price_kr": "abc"}).status_code == 422
    page = client.get(url).get_data(as_text=True)
    assert 'value="99"' in page and 'value="599"' in page and 'data-revision="pending"' in page
    # Customers still see and buy the published plans.
    plan = Plan.get_by_id(plan.id)
    # ...but a retired plan is sold to nobody new at once (its subscribers keep it: billing.retirement).
    assert (plan.price_ore, plan.stripe_price_id) == (19900, "price_old") and not Plan.get_by_id(lite.id).active
    assert PlanPriceChange.select().count() == 0
    store_page = client.get("/apps/paid-app").get_data(as_text=True)
    assert "199 kr/month" in store_page and "Lite" not in store_page and "Team" not in store_page
    auth.logout()

    auth.login(ADMIN_EMAIL)
    rows = dict(re.findall(r'<tr data-field="([a-z_]+)">(.*?)</tr>', client.get("/admin/review").get_data(
        as_text=True), re.S))
    assert set(rows) == {"plans"} and "Lite" not in rows["plans"] and f"Team: {english.price(59900)}" in rows["plans"]
    assert auth.post("/admin/review/paid-app/approve").status_code == 303
    plan = Plan.get_by_id(plan.id)
    # The approved price is a new Stripe price for new buyers (billing makes it when next needed).
    assert (plan.price_ore, plan.stripe_price_id, plan.active) == (9900, None, True)
    change = PlanPriceChange.get()
    assert (change.plan_id, change.old_price_ore, change.new_price_ore) == (plan.id, 19900, 9900)
    assert not Plan.get_by_id(lite.id).active
    team = Plan.get(Plan.name == "Team")
    assert (team.price_ore, team.trial_days, team.active) == (59900, 7, True)
    listing = App.get_by_id(listing.id)
    assert (listing.is_free, listing.min_price_ore) == (False, 9900)


def test_a_revision_that_would_break_the_checklist_is_not_approved(client, auth, live_app):
    listing = factories.app_listing(developer_obj=live_app["developer"], slug="paid-app", price_ore=19900)
    factories.oauth_client(listing, redirect_uris="https://paid.example.test/cb", scopes="invoice")
    Developer.update(payouts_enabled=False).where(Developer.id == live_app["developer"].id).execute()
    auth.login(DEV_EMAIL)
    assert auth.post("/developer/apps/paid-app/integration", {
        "landing_url": "", "redirect_uris": "", "scopes": []}).status_code == 303
    auth.logout()
    auth.login(ADMIN_EMAIL)
    assert auth.post("/admin/review/paid-app/approve").status_code == 409
    assert ListingRevision.get().status == "pending"
    assert App.get_by_id(listing.id).landing_url is not None
    assert OAuthClient.get(OAuthClient.app == listing).redirect_uris == "https://paid.example.test/cb"


def test_an_app_never_published_is_still_edited_in_place(client, auth, live_app):
    App.update(status="rejected").where(App.id == live_app["app"].id).execute()
    auth.login(DEV_EMAIL)
    assert auth.post("/developer/apps/backup-app/edit", {"name": "Renamed", "vendor_name": "Vendor Two",
                                                         "category": "bookkeeping"}).status_code == 303
    listing = App.get_by_id(live_app["app"].id)
    assert (listing.name, listing.vendor_name) == ("Renamed", "Vendor Two")
    assert ListingRevision.select().count() == 0


def test_an_approved_description_reaches_english_readers_and_the_stale_translation_goes(client, auth, live_app):
    """A listing's English text translates its Swedish one; once the admin approves a new Swedish
    text, English readers must read what was approved, not the old translation."""
    App.update(tagline_en="Backs up your books (en)", description_en="Old English words.",
               description_html_en="<p>Old English words.</p>").where(App.id == live_app["app"].id).execute()
    english = client.get("/apps/backup-app").get_data(as_text=True)
    assert "Old English words." in english
    auth.login(DEV_EMAIL)
    assert auth.post("/developer/apps/backup-app/edit", {
        "name": "Backup Helper", "tagline": "Säkerhetskopierar bokföringen", "description": "Nya ord.",
        "category": "bookkeeping"}).status_code == 303
    auth.logout()
    assert "Old English words." in client.get("/apps/backup-app").get_data(as_text=True)
    auth.login(ADMIN_EMAIL)
    assert auth.post("/admin/review/backup-app/approve").status_code == 303
    auth.logout()
    english = client.get("/apps/backup-app").get_data(as_text=True)
    assert "Nya ord." in english and "Säkerhetskopierar bokföringen" in english
    assert "Old English words." not in english and "(en)" not in english


@pytest.fixture
def app_config(tmp_path):
    return {"ICON_DIR": str(tmp_path / "icons")}


def test_a_new_icon_of_a_published_app_waits_for_approval(client, auth, live_app):
    auth.login(DEV_EMAIL)
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    assert auth.post("/developer/apps/backup-app/icon", {"icon": (io.BytesIO(png), "icon.png")},
                     content_type="multipart/form-data").status_code == 303
    assert App.get_by_id(live_app["app"].id).icon is None
    proposed = json.loads(ListingRevision.get().fields)["icon"]
    assert 'data-field="icon"' in client.get("/developer/apps/backup-app").get_data(as_text=True)
    assert proposed not in client.get("/apps/backup-app").get_data(as_text=True)
    auth.logout()
    auth.login(ADMIN_EMAIL)
    assert "(1 waiting)" in client.get("/admin").get_data(as_text=True)
    assert auth.post("/admin/review/backup-app/approve").status_code == 303
    assert App.get_by_id(live_app["app"].id).icon == proposed
    with client.get(f"/icons/{proposed}") as served:
        assert served.status_code == 200
