"""Every developer, admin and member-management URL tried as each wrong role and as a visitor
(QUALITY.md 30, 31): visitors are sent to log in, wrong roles get 403, another developer's
app is not found, and nothing changes."""
import pytest

from market.catalog import listings
from models import App, OAuthClient, OutboxMail, Plan, User
from tests import factories

OWNED, LIVE = "owned-app", "live-app"


def developer_gets(plan_id):
    return ["/developer", "/developer/apps", "/developer/apps/new", f"/developer/apps/{OWNED}",
            f"/developer/apps/{OWNED}/edit", f"/developer/apps/{OWNED}/integration", f"/developer/apps/{OWNED}/plans",
            f"/developer/apps/{OWNED}/credentials"]


def developer_posts(plan_id):
    return [("/developer/apps/new", {"slug": "sneaky-app", "name": "Sneaky"}),
            (f"/developer/apps/{OWNED}/edit", {"name": "Hijacked"}),
            (f"/developer/apps/{OWNED}/integration", {"landing_url": "https://evil.test/",
                                                      "redirect_uris": "https://evil.test/cb", "scopes": "invoice"}),
            (f"/developer/apps/{OWNED}/plans", {"name": "Cheap", "price_kr": "1"}),
            (f"/developer/apps/{OWNED}/plans/{plan_id}", {"name": "Cheap", "price_kr": "1"}),
            (f"/developer/apps/{OWNED}/plans/{plan_id}/retire", {}),
            (f"/developer/apps/{OWNED}/credentials/secret", {}),
            (f"/developer/apps/{OWNED}/submit", {})]


ADMIN_GETS = ["/admin", "/admin/review", "/admin/apps"]
ADMIN_POSTS = [(f"/admin/review/{OWNED}/approve", {}), (f"/admin/review/{OWNED}/reject", {"reason": "no"}),
               (f"/admin/apps/{LIVE}/suspend", {}), (f"/admin/apps/{LIVE}/restore", {})]


def member_posts(target_id):
    return [("/account/members/invite", {"email": "x@example.test", "role": "admin"}),
            (f"/account/members/{target_id}/role", {"role": "member"}),
            (f"/account/members/{target_id}/remove", {})]


@pytest.fixture
def world(app):
    owner = factories.developer_user(email="owner@example.test")
    developer = owner.developer
    owned = listings.create_listing(developer, {"slug": OWNED, "name": "Owned"})
    listings.update_integration(owned, {"landing_url": "https://owned.example.test/",
                                        "redirect_uris": "https://owned.example.test/cb"}, ["customer"])
    plan = listings.add_plan(owned, {"name": "Std", "price_kr": "199"})
    App.update(status="rejected").where(App.id == owned.id).execute()
    factories.app_listing(developer_obj=developer, slug=LIVE)
    customer = factories.customer_admin(email="customer@example.test")
    factories.user(email="member@example.test", company=customer.company_id, company_role="member")
    factories.developer_user(email="rival@example.test")
    factories.user(email="root@example.test", is_platform_admin=True)
    return {"plan_id": plan.id, "customer_id": customer.id}


def snapshot():
    owned = App.get(App.slug == OWNED)
    client_row = OAuthClient.get(OAuthClient.app == owned)
    return (owned.name, owned.status, owned.landing_url, client_row.client_secret_hash, client_row.redirect_uris,
            App.get(App.slug == LIVE).status, App.select().count(),
            [(p.name, p.price_ore, p.active) for p in Plan.select().order_by(Plan.id)],
            [(u.email, u.company_role) for u in User.select().order_by(User.id)], OutboxMail.select().count())


def test_visitors_are_sent_to_log_in_and_nothing_changes(client, auth, world):
    before = snapshot()
    gets = developer_gets(world["plan_id"]) + ADMIN_GETS + ["/account", "/account/members", "/account/password",
                                                          "/account/email"]
    posts = developer_posts(world["plan_id"]) + ADMIN_POSTS + member_posts(world["customer_id"]) + [
        ("/account/password", {"current_password": "x", "new_password": "y" * 12}),
        ("/account/email", {"email": "a@b.test", "password": "x"}), ("/account/logout-everywhere", {})]
    for url in gets:
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"], url
        assert "Owned" not in response.get_data(as_text=True)
    for url, data in posts:
        response = auth.post(url, data)
        assert response.status_code == 302 and "/login" in response.headers["Location"], url
    # A fragment request gets no data either.
    response = client.get("/developer/apps", headers={"HX-Request": "true"})
    assert response.status_code == 302 and OWNED not in response.get_data(as_text=True)
    assert snapshot() == before


@pytest.mark.parametrize("email", ["customer@example.test", "member@example.test", "root@example.test"])
def test_people_without_a_developer_account_never_see_developer_pages(client, auth, world, email):
    auth.login(email)
    before = snapshot()
    for url in developer_gets(world["plan_id"]):
        response = client.get(url)
        assert response.status_code == 403, url
        assert "Owned" not in response.get_data(as_text=True)
    for url, data in developer_posts(world["plan_id"]):
        assert auth.post(url, data).status_code == 403, url
    assert snapshot() == before


def test_another_developer_gets_not_found_and_changes_nothing(client, auth, world):
    auth.login("rival@example.test")
    before = snapshot()
    for url in developer_gets(world["plan_id"]):
        if OWNED in url:
            assert client.get(url).status_code == 404, url
    assert OWNED not in client.get("/developer/apps").get_data(as_text=True)
    for url, data in developer_posts(world["plan_id"]):
        if OWNED in url:
            assert auth.post(url, data).status_code == 404, url
    assert snapshot() == before


@pytest.mark.parametrize("email", ["customer@example.test", "member@example.test", "owner@example.test",
                                   "rival@example.test"])
def test_only_platform_admins_reach_admin_pages(client, auth, world, email):
    auth.login(email)
    before = snapshot()
    for url in ADMIN_GETS:
        assert client.get(url).status_code == 403, url
    for url, data in ADMIN_POSTS:
        assert auth.post(url, data).status_code == 403, url
    assert snapshot() == before


@pytest.mark.parametrize("email", ["member@example.test", "owner@example.test", "root@example.test"])
def test_only_company_admins_manage_members(client, auth, world, email):
    auth.login(email)
    before = snapshot()
    # A member reads the list (issue U), without the forms; the others have no company: 403.
    page = client.get("/account/members")
    if email == "member@example.test":
        assert page.status_code == 200 and "/account/members/invite" not in page.get_data(as_text=True)
    else:
        assert page.status_code == 403
    for url, data in member_posts(world["customer_id"]):
        assert auth.post(url, data).status_code == 403, url
    assert snapshot() == before
