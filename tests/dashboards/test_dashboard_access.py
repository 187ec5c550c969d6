"""Every dashboard, inbox, export and admin URL of issue J tried as a visitor and as each wrong
role (QUALITY.md 30, 31): visitors are sent to log in and see no data, wrong roles get 403,
another developer's app is not found, and a developer only ever sees its own money."""
import pytest

from market.billing import replay
from market.dashboards import statements
from market.stats import app_stats as stats
from tests import factories

OWNED = "owned-app"
SECRET_NAME = "Secret Customer AB"
MONTH = statements.label(statements.month_of(factories.utcnow()))  # the ledger row's statement


def developer_urls(app_slug=OWNED):
    return ["/developer", "/developer?from=2026-01-01&to=2026-02-01", f"/developer?app={app_slug}",
            "/developer/reviews", "/developer/reviews?show=unanswered", "/developer/export/ledger.csv",
            f"/developer/export/ledger.csv?app={app_slug}", "/developer/export/customers.csv",
            f"/developer/export/customers.csv?app={app_slug}", "/developer/statements",
            f"/developer/statements/{MONTH}", f"/developer/statements/{MONTH}.csv",
            f"/developer/statements/{MONTH}?app={app_slug}", f"/developer/statements/{MONTH}.csv?app={app_slug}"]


@pytest.fixture
def world(app, monkeypatch):
    owner = factories.developer_user(email="owner@example.test")
    listing = factories.app_listing(developer_obj=owner.developer, price_ore=12300, slug=OWNED, name="Owned App")
    secret = factories.company(name=SECRET_NAME, share_org_number=True)
    factories.subscription(secret, listing)
    factories.connection(secret, listing, last_used_at=factories.utcnow())
    factories.ledger_entry(listing, secret, gross_ore=777777, moms_ore=155555)
    from models import Review

    Review.create(company=secret, app=listing, stars=2, text="Secret complaint text")
    stats.stats_rebuild(grace_days=7)
    customer = factories.customer_admin(email="customer@example.test")
    factories.user(email="member@example.test", company=customer.company_id, company_role="member")
    rival = factories.developer_user(email="rival@example.test")
    factories.app_listing(developer_obj=rival.developer, slug="rival-app")
    factories.user(email="root@example.test", is_platform_admin=True)
    replays = []
    monkeypatch.setattr(replay, "replay_events", lambda config, since: replays.append(since) or {"seen": 0})
    return {"replays": replays}


def _has_no_data(response):
    text = response.get_data(as_text=True)
    return SECRET_NAME not in text and "7777" not in text and "Secret complaint" not in text


@pytest.mark.parametrize("htmx", [False, True])
def test_visitors_are_sent_to_log_in_and_see_nothing(world, client, htmx):
    headers = {"HX-Request": "true"} if htmx else {}
    for url in developer_urls() + ["/admin", "/admin?from=2026-01-01"]:
        response = client.get(url, headers=headers)
        assert response.status_code in (302, 303, 401), url
        assert "/login" in (response.headers.get("Location") or response.headers.get("HX-Redirect") or ""), url
        assert _has_no_data(response), url
    response = client.post("/admin/stripe-replay", data={"since": "2026-01-01"})
    assert response.status_code in (302, 303, 400, 401) and world["replays"] == []


@pytest.mark.parametrize("email", ["customer@example.test", "member@example.test", "root@example.test"])
def test_people_who_are_not_developers_get_403_on_developer_pages(world, auth, client, email):
    auth.login(email)
    for url in developer_urls():
        response = client.get(url)
        assert response.status_code == 403, url
        assert _has_no_data(response), url


@pytest.mark.parametrize("email", ["customer@example.test", "member@example.test", "owner@example.test",
                                   "rival@example.test"])
def test_only_platform_admins_see_admin_pages_and_replay(world, auth, client, email):
    auth.login(email)
    response = client.get("/admin")
    assert response.status_code == 403 and _has_no_data(response)
    assert auth.post("/admin/stripe-replay", {"since": "2026-01-01"}).status_code == 403
    assert world["replays"] == []


def test_another_developer_sees_none_of_the_owners_data(world, auth, client):
    auth.login("rival@example.test")
    for url in developer_urls("rival-app"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert _has_no_data(response) and OWNED not in response.get_data(as_text=True), url
    for url in developer_urls(OWNED):
        if f"app={OWNED}" in url:
            assert client.get(url).status_code == 404, url


def test_the_owner_sees_its_data_and_a_platform_admin_sees_the_platform(world, auth, client):
    auth.login("owner@example.test")
    assert SECRET_NAME in client.get("/developer/export/customers.csv").get_data(as_text=True)
    assert "Secret complaint" in client.get("/developer/reviews").get_data(as_text=True)
    auth.logout()
    auth.login("root@example.test")
    html = client.get("/admin").get_data(as_text=True)
    assert 'data-app="owned-app"' in html and SECRET_NAME not in html
    assert auth.post("/admin/stripe-replay", {"since": "2026-01-01"}).status_code == 303
    assert len(world["replays"]) == 1
