"""The admin's review queue, rejection with a reason, suspension and restoring (issue B)."""
from market.catalog import listings
from models import App, MarketSetting
from tests import factories


def generation():
    return int(MarketSetting.get_by_id("store_generation").value)


def ready_app(slug="queued-app", status="in_review", **fields):
    developer = factories.developer()
    user = factories.developer_user(developer_obj=developer)
    listing = listings.create_listing(developer, {"slug": slug, "name": slug.title(), "description": "Words.",
                                                  "privacy_url": f"https://{slug}.example.test/privacy"})
    listings.update_integration(listing, {"landing_url": f"https://{slug}.example.test/",
                                          "redirect_uris": f"https://{slug}.example.test/cb"}, ["customer"])
    App.update(status=status, **fields).where(App.id == listing.id).execute()
    return App.get_by_id(listing.id), user


def as_admin(auth):
    factories.user(email="root@example.test", is_platform_admin=True)
    auth.login("root@example.test")


def test_approve_publishes_indexes_and_bumps_the_store(client, auth):
    listing, _ = ready_app()
    as_admin(auth)
    assert client.get("/admin").status_code == 200
    assert 'data-app="queued-app"' in client.get("/admin/review").get_data(as_text=True)
    before = generation()
    assert auth.post("/admin/review/queued-app/approve", {"status": "draft"}).status_code == 303
    listing = App.get_by_id(listing.id)
    assert listing.status == "published" and listing.published_at is not None
    assert generation() > before
    assert 'data-app="queued-app"' not in client.get("/admin/review").get_data(as_text=True)
    assert client.get("/apps/queued-app").status_code == 200
    # Approving twice is refused rather than silently repeated.
    assert auth.post("/admin/review/queued-app/approve").status_code == 409


def test_an_app_that_no_longer_meets_the_checklist_is_not_approved(auth):
    listing, _ = ready_app(landing_url=None)
    as_admin(auth)
    assert auth.post("/admin/review/queued-app/approve").status_code == 409
    assert App.get_by_id(listing.id).status == "in_review"


def test_rejection_needs_a_reason_which_the_developer_sees(app, client, auth):
    listing, developer_user = ready_app()
    as_admin(auth)
    assert auth.post("/admin/review/queued-app/reject", {"reason": "   "}).status_code == 422
    assert auth.post("/admin/review/queued-app/reject", {"reason": "x" * 2001}).status_code == 422
    assert App.get_by_id(listing.id).status == "in_review"
    reason = "The landing page <b>does not load</b>."
    assert auth.post("/admin/review/queued-app/reject", {"reason": reason}).status_code == 303
    assert App.get_by_id(listing.id).status == "rejected"
    auth.logout()
    auth.login(developer_user.email)
    page = client.get("/developer/apps/queued-app").get_data(as_text=True)
    assert "The landing page &lt;b&gt;does not load&lt;/b&gt;." in page
    assert auth.post("/developer/apps/queued-app/submit").status_code == 303
    assert App.get_by_id(listing.id).status == "in_review"


def test_suspend_hides_from_the_store_and_restore_brings_back(client, auth):
    listing, _ = ready_app(slug="live-app", status="published")
    as_admin(auth)
    assert 'data-app="live-app"' in client.get("/admin/apps").get_data(as_text=True)
    before = generation()
    assert auth.post("/admin/apps/live-app/suspend").status_code == 303
    assert App.get_by_id(listing.id).status == "suspended" and generation() > before
    assert auth.post("/admin/apps/live-app/suspend").status_code == 409
    auth.logout()
    assert client.get("/apps/live-app").status_code == 404
    as_admin_again = factories.user(email="root2@example.test", is_platform_admin=True)
    auth.login(as_admin_again.email)
    assert auth.post("/admin/apps/live-app/restore").status_code == 303
    assert App.get_by_id(listing.id).status == "published"
    assert auth.post("/admin/apps/no-such-app/restore").status_code == 404


def test_only_in_review_apps_can_be_approved_or_rejected(auth):
    ready_app(slug="draft-app", status="draft")
    as_admin(auth)
    assert auth.post("/admin/review/draft-app/approve").status_code == 409
    assert auth.post("/admin/review/draft-app/reject", {"reason": "no"}).status_code == 422
    assert App.get(App.slug == "draft-app").status == "draft"
