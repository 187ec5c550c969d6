"""The reader's language (issue Q, DESIGN.md §10): Swedish unless the reader asks for English,
through the footer's switch, the saved choice or Accept-Language, and never a cookie on a
visitor page."""
import re

import pytest

from tests import factories


@pytest.fixture
def bare(app):
    """A browser that sends no Accept-Language at all (the suite's `client` asks for English)."""
    browser = app.test_client()
    browser.environ_base.pop("HTTP_ACCEPT_LANGUAGE")
    return browser


@pytest.fixture
def listing(app):
    from models import Plan, db
    with db.connection_context():
        listing = factories.app_listing(price_ore=14950)
        Plan.update(stripe_price_id="price_for_sale").where(Plan.app == listing.id).execute()  # on sale
        return listing


def _html_lang(response):
    match = re.search(r"<html\s+([a-z-]+)=\"([^\"]*)\"", response.get_data(as_text=True))
    return match.groups() if match else None


def test_a_visitor_without_accept_language_reads_swedish_and_one_asking_for_english_reads_english(bare, listing):
    swedish = bare.get("/")
    assert _html_lang(swedish) == ("lang", "sv")
    assert "Logga in" in swedish.get_data(as_text=True)
    english = bare.get("/", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert _html_lang(english) == ("lang", "en")
    assert "Log in" in english.get_data(as_text=True)
    assert "Logga in" not in english.get_data(as_text=True)


def test_visitor_pages_set_no_cookie_and_vary_on_language_and_cookie(bare, listing):
    for path in ("/", "/apps", f"/apps/{listing.slug}"):
        response = bare.get(path, headers={"Accept-Language": "sv"})
        assert response.status_code == 200, path
        assert "Set-Cookie" not in response.headers, path
        vary = {v.strip() for v in response.headers["Vary"].split(",")}
        assert {"Accept-Language", "Cookie"} <= vary, path


def test_the_shared_visitor_copy_is_kept_per_language(bare, listing):
    assert _html_lang(bare.get("/apps", headers={"Accept-Language": "sv"})) == ("lang", "sv")
    assert _html_lang(bare.get("/apps", headers={"Accept-Language": "en"})) == ("lang", "en")
    assert _html_lang(bare.get("/apps", headers={"Accept-Language": "sv"})) == ("lang", "sv")
    etag_sv = bare.get("/apps", headers={"Accept-Language": "sv"}).headers["ETag"]
    etag_en = bare.get("/apps", headers={"Accept-Language": "en"}).headers["ETag"]
    assert etag_sv != etag_en
    # A Swedish copy's ETag does not revalidate the English page.
    assert bare.get("/apps", headers={"Accept-Language": "en", "If-None-Match": etag_sv}).status_code == 200


def test_the_switch_sets_the_pinned_cookie_and_goes_back_to_the_same_page(bare, listing):
    response = bare.get(f"/lang/en?next=/apps/{listing.slug}")
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/apps/{listing.slug}")
    assert response.headers.getlist("Set-Cookie") == ["lang=en; Path=/; Max-Age=31536000; SameSite=Lax"]
    page = bare.get(f"/apps/{listing.slug}", headers={"Accept-Language": "sv"})  # the cookie wins
    assert _html_lang(page) == ("lang", "en")
    back = bare.get("/lang/sv?next=/apps")
    assert back.headers.getlist("Set-Cookie") == ["lang=sv; Path=/; Max-Age=31536000; SameSite=Lax"]
    assert _html_lang(bare.get("/apps", headers={"Accept-Language": "en"})) == ("lang", "sv")


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil", "javascript:alert(1)"])
def test_the_switch_goes_only_to_local_paths(bare, target):
    response = bare.get("/lang/en", query_string={"next": target})
    assert response.status_code == 303
    assert response.headers["Location"] in ("/", "http://localhost/")


def test_an_unknown_language_changes_nothing(bare):
    response = bare.get("/lang/de?next=/apps")
    assert response.status_code == 303 and "Set-Cookie" not in response.headers


def test_the_footer_offers_each_language_for_this_page_without_javascript(bare, listing):
    html = bare.get(f"/apps/{listing.slug}?x=1").get_data(as_text=True)
    assert f'href="/lang/en?next=/apps/{listing.slug}?x%3D1"' in html or \
        f'href="/lang/en?next=/apps/{listing.slug}%3Fx%3D1"' in html
    assert 'href="/lang/sv?next=' in html


def test_a_saved_choice_beats_accept_language_and_the_cookie_beats_both(app, client, auth):
    from models import User, db
    with db.connection_context():
        factories.customer_admin("sven@example.test", language="sv")
    auth.login("sven@example.test")
    page = client.get("/account", headers={"Accept-Language": "en"})
    assert _html_lang(page) == ("lang", "sv")
    saved = auth.post("/account", {"language": "en"})
    assert saved.status_code == 303
    assert "lang=en; Path=/; Max-Age=31536000; SameSite=Lax" in saved.headers.getlist("Set-Cookie")
    with db.connection_context():
        assert User.get(User.email == "sven@example.test").language == "en"
    client.delete_cookie("lang")
    assert _html_lang(client.get("/account", headers={"Accept-Language": "sv"})) == ("lang", "en")
    client.set_cookie("lang", "sv")
    assert _html_lang(client.get("/account", headers={"Accept-Language": "en"})) == ("lang", "sv")


def test_saving_a_language_the_market_does_not_speak_is_refused_and_saves_nothing(app, client, auth):
    from models import User, db
    with db.connection_context():
        factories.customer_admin("sven@example.test", language="sv")
    auth.login("sven@example.test")
    refused = auth.post("/account", {"language": "de"})
    assert refused.status_code == 400
    assert "Set-Cookie" not in refused.headers or "lang=" not in refused.headers.get("Set-Cookie", "")
    with db.connection_context():
        assert User.get(User.email == "sven@example.test").language == "sv"


def test_money_follows_the_reader(bare, listing):
    swedish = bare.get(f"/apps/{listing.slug}", headers={"Accept-Language": "sv"}).get_data(as_text=True)
    english = bare.get(f"/apps/{listing.slug}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "149,50 kr" in swedish and "149.50 kr" not in swedish
    assert "149.50 kr" in english and "149,50 kr" not in english
