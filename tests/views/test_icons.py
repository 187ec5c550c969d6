"""App icons in the store (cards, app page, My apps, the developer's list), the /icons/ route,
and the demo icons the seed generates."""
import os
import re
import struct
import zlib

import pytest

from market.catalog import listings
from market.jobs import seed
from models import App
from tests import factories

ICON_NAME = "0123456789abcdef0123456789abcdef.png"


@pytest.fixture
def app_config(tmp_path):
    return {"ICON_DIR": str(tmp_path / "icons"), "STORE_CACHE_SIZE": 0}


@pytest.fixture
def icon_dir(app):
    os.makedirs(app.config["ICON_DIR"], exist_ok=True)
    return app.config["ICON_DIR"]


def with_icon(icon_dir, **fields):
    """A published app whose icon file is in the icon folder."""
    name, data = seed.demo_icon(fields.get("slug", "iconic"))
    with open(os.path.join(icon_dir, name), "wb") as out:
        out.write(data)
    return factories.app_listing(icon=name, **fields), name, data


def img_of(html, slug):
    """The <img> inside the element that carries data-app=slug (card, row or page root)."""
    start = html.index(f'data-app="{slug}"')
    match = re.compile(r"<img [^>]*>").search(html, start)
    assert match, f"no <img> after data-app={slug}"
    return match.group(0)


def badge_of(html, slug):
    start = html.index(f'data-app="{slug}"')
    end = html.find("data-app=", start + 10)
    return html[start:end if end != -1 else len(html)]


def test_store_card_and_app_page_show_the_icon_with_the_app_name_as_alt(client, icon_dir):
    listing, name, _ = with_icon(icon_dir, slug="iconic", name="Iconic Books")
    factories.app_listing(slug="plain", name="Plain Ledger")
    listing_page = client.get("/apps").get_data(as_text=True)
    img = img_of(listing_page, "iconic")
    assert f'src="/icons/{name}"' in img and 'alt="Iconic Books"' in img
    assert f'src="{listings.icon_url(listing)}"' in img
    # Without an icon the letter badge stays, and no image points nowhere.
    plain = badge_of(listing_page, "plain")
    assert "<img" not in plain and '<span class="app-icon app-icon-' in plain and ">P</span>" in plain

    page = client.get("/apps/iconic").get_data(as_text=True)
    img = img_of(page, "iconic")
    assert f'src="/icons/{name}"' in img and 'alt="Iconic Books"' in img and "app-icon-large" in img
    # The HTMX fragment of the listing carries the icon too.
    fragment = client.get("/apps?q=iconic", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in fragment and f'src="/icons/{name}"' in img_of(fragment, "iconic")


def test_the_app_name_in_alt_is_escaped(client, icon_dir):
    with_icon(icon_dir, slug="quoted", name='Say "hi" <now>')
    img = img_of(client.get("/apps/quoted").get_data(as_text=True), "quoted")
    assert 'alt="Say &#34;hi&#34; &lt;now&gt;"' in img


def test_my_apps_and_the_developer_list_show_the_icon(client, auth, icon_dir):
    developer_user = factories.developer_user(email="dev@example.test")
    listing, name, _ = with_icon(icon_dir, slug="iconic", name="Iconic Books",
                                 developer_obj=developer_user.developer)
    assert auth.login("dev@example.test").status_code == 303
    img = img_of(client.get("/developer/apps").get_data(as_text=True), "iconic")
    assert f'src="/icons/{name}"' in img and 'alt="Iconic Books"' in img
    assert auth.logout().status_code in (302, 303)

    admin = factories.customer_admin(email="anna@example.test")
    factories.connection(admin.company, listing)
    assert auth.login("anna@example.test").status_code == 303
    img = img_of(client.get("/account/apps").get_data(as_text=True), "iconic")
    assert f'src="/icons/{name}"' in img and 'alt="Iconic Books"' in img


def test_the_icon_route_serves_icons_as_images_with_nosniff(client, icon_dir):
    _, name, data = with_icon(icon_dir, slug="iconic")
    response = client.get(f"/icons/{name}")
    assert response.status_code == 200 and response.data == data
    assert response.headers["Content-Type"] == "image/png"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    response.close()


def test_the_icon_route_serves_nothing_outside_the_icon_folder(client, app, icon_dir):
    # A file with an icon-shaped name right next to the folder must stay out of reach.
    parent = os.path.dirname(icon_dir)
    with open(os.path.join(parent, ICON_NAME), "wb") as out:
        out.write(b"\x89PNG\r\n\x1a\nsecret")
    with open(os.path.join(parent, "secret.txt"), "w") as out:
        out.write("secret")
    for path in [f"/icons/..%2F{ICON_NAME}", f"/icons/../{ICON_NAME}", "/icons/..%2Fsecret.txt",
                 "/icons/%2E%2E%2Fsecret.txt", "/icons/secret.txt", f"/icons/{ICON_NAME}",
                 f"/icons/{ICON_NAME[:-4]}.PNG", f"/icons/{ICON_NAME}%00.png", "/icons/..%5Csecret.txt"]:
        response = client.get(path)
        assert response.status_code == 404, path
        assert b"secret" not in response.data, path


def test_demo_icons_are_valid_deterministic_pngs():
    name, data = seed.demo_icon("banksync")
    assert listings.ICON_NAME_RE.match(name) and listings.icon_type(data) == "png"
    assert seed.demo_icon("banksync") == (name, data)
    assert seed.demo_icon("lonekollen")[1] != data
    # Decode: IHDR says 64x64 RGB, IDAT inflates to 64 rows of filter byte + 64 pixels.
    assert data[12:16] == b"IHDR"
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    assert (width, height, depth, colour) == (seed.ICON_SIZE, seed.ICON_SIZE, 8, 2)
    length = struct.unpack(">I", data[33:37])[0]
    assert data[37:41] == b"IDAT"
    assert zlib.crc32(data[37:41 + length]) == struct.unpack(">I", data[41 + length:45 + length])[0]
    rows = zlib.decompress(data[41:41 + length])
    assert len(rows) == seed.ICON_SIZE * (1 + seed.ICON_SIZE * 3)
    assert data.endswith(b"IEND\xaeB`\x82")


def test_the_seed_gives_a_handful_of_apps_icons_it_serves(client, app):
    with app.app_context():
        seed.seed_demo(app.config, echo=lambda *a: None)
    with_icons = list(App.select().where(App.icon.is_null(False)).order_by(App.slug))
    assert {a.slug for a in with_icons} == set(seed.ICON_APPS)
    assert App.select().where(App.icon.is_null()).count() > 30  # the letter badge stays common
    for listing in with_icons[:2]:
        response = client.get(listings.icon_url(listing))
        assert response.status_code == 200 and listings.icon_type(response.data) == "png"
        response.close()
    page = client.get("/apps/time-tracker-pro").get_data(as_text=True)
    assert 'alt="Time Tracker Pro"' in img_of(page, "time-tracker-pro")


def test_recommended_cards_show_the_icon(client, icon_dir):
    from models import AppStats

    listing, name, _ = with_icon(icon_dir, slug="iconic", name="Iconic Books")
    # Eligible: 10 active customers and a 4.0 average.
    AppStats.update(active_customers=10, rating_sum=40, rating_count=10, rating_centi=400).where(
        AppStats.app == listing.id).execute()
    page = client.get("/recommended").get_data(as_text=True)
    section = page[page.index('id="recommended"'):]
    img = img_of(section, "iconic")
    assert f'src="/icons/{name}"' in img and 'alt="Iconic Books"' in img
