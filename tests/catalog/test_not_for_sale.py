"""Apps seeded on purpose as not for sale yet (issue P, deliverable 1): a paid app with no plan
on sale shows "Not for sale yet" where Buy would be, has no Buy form, and is kept out of
Featured and Recommended; every other seeded paid app has a plan on sale."""
import re

from market.catalog import store
from market.jobs import seed
from models import App, AppStats, Plan, Subscription
from tests import factories


def cards(html):
    return re.findall(r'<li class="app-card" data-app="([^"]+)"', html)


def section(page, marker):
    return page.split(marker)[1].split("</section>")[0]


def popular(listing):
    AppStats.update(active_customers=50, rating_sum=230, rating_count=50, rating_centi=460, stars_5=30,
                    stars_4=20).where(AppStats.app == listing.id).execute()


def test_an_app_not_for_sale_has_no_buy_and_stays_out_of_featured_and_recommended(client, app):
    waiting = factories.app_listing(slug="kassaflodeskoll", name="Kassaflödeskoll", price_ore=14900, featured=True)
    Plan.update(active=False).where(Plan.app == waiting.id).execute()
    ready = factories.app_listing(slug="lagerkoll", name="Lagerkoll", price_ore=19900, featured=True)
    free = factories.app_listing(slug="banksync", name="Banksync")
    for listing in (waiting, ready, free):
        popular(listing)
    store.bump_store_generation()

    factories.customer_admin(email="buyer@example.test")
    login = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', login).group(1)
    client.post("/login", data={"email": "buyer@example.test", "password": factories.PASSWORD, "csrf_token": token})

    page = client.get("/apps/kassaflodeskoll").get_data(as_text=True)
    assert "Not for sale yet" in page and "data-not-for-sale" in page
    assert 'action="/apps/kassaflodeskoll/buy"' not in page and ">Buy<" not in page
    # A hand-made POST is refused too, and nothing is started.
    plan = Plan.get(Plan.app == waiting.id)
    fresh = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/account/apps").get_data(as_text=True))
    refused = client.post("/apps/kassaflodeskoll/buy", data={"csrf_token": fresh.group(1), "plan": plan.id})
    assert 400 <= refused.status_code < 500 and not Subscription.select().exists()
    assert "Cannot buy this app yet" in refused.get_data(as_text=True)  # refused by billing, not by CSRF
    bought = client.get("/apps/lagerkoll").get_data(as_text=True)
    assert 'action="/apps/lagerkoll/buy"' in bought and "Not for sale yet" not in bought

    home = client.get("/").get_data(as_text=True)
    assert "kassaflodeskoll" not in cards(section(home, 'id="featured-heading"'))
    assert "lagerkoll" in cards(section(home, 'id="featured-heading"'))
    recommended = client.get("/recommended").get_data(as_text=True)
    assert "lagerkoll" in cards(recommended) and "banksync" in cards(recommended)
    assert "kassaflodeskoll" not in cards(recommended)
    # Still in the catalogue: it can be found, only not bought.
    assert "kassaflodeskoll" in cards(client.get("/apps?q=Kassa").get_data(as_text=True))


def test_the_seed_has_at_most_three_apps_not_for_sale_and_every_other_paid_app_on_sale(app):
    seed.seed_demo(app.config, echo=lambda *_: None)
    paid = App.select().where(App.status == "published", App.is_free == False)  # noqa: E712
    not_for_sale = [listing.slug for listing in paid
                    if not Plan.select().where(Plan.app == listing.id, Plan.active == True).exists()]  # noqa: E712
    assert sorted(not_for_sale) == ["kassaflodeskoll", "paminnelse-pro"]
    assert len(not_for_sale) <= 3
    assert set(not_for_sale) <= set(seed.demo_app_slugs())
