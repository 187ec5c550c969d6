"""The store in Swedish first (issue Q, "Done when"): a visitor who names no language reads the
home and app pages in Swedish, one who asks for English reads them in English, and the price
is written the way each language writes money."""
import re

import pytest

from tests import factories
from tests.conftest import form_csrf


@pytest.fixture
def apps(app):
    from models import Plan, db
    with db.connection_context():
        paid = factories.app_listing(price_ore=14950, slug="paid-app", name="Paid App")
        Plan.update(stripe_price_id="price_for_sale").where(Plan.app == paid.id).execute()  # on sale
        free = factories.app_listing(slug="free-app", name="Free App")
        return {"paid": paid.slug, "free": free.slug}


def _first_html_attribute(html):
    match = re.search(r"<html\s+([a-z-]+)=\"([^\"]*)\"", html)
    return match.groups() if match else None


def _page(browser, path, **headers):
    response = browser.get(path, headers=headers)
    assert response.status_code == 200, path
    return response.get_data(as_text=True)


def test_a_visitor_naming_no_language_reads_the_store_in_swedish(bare, apps):
    home = _page(bare, "/")
    paid = _page(bare, f"/apps/{apps['paid']}")
    free = _page(bare, f"/apps/{apps['free']}")
    for html in (home, paid, free):
        assert _first_html_attribute(html) == ("lang", "sv")
        assert "Logga in" in html and "Log in" not in html
    assert ">Köp</a>" in paid and ">Buy<" not in paid
    assert ">Aktivera</a>" in free and ">Activate<" not in free
    assert "Gratis" in free
    assert "149,50 kr/mån exkl. moms" in paid
    assert "149.50" not in paid and "month" not in paid


def test_a_visitor_asking_for_english_reads_the_store_in_english(bare, apps):
    home = _page(bare, "/", **{"Accept-Language": "en"})
    paid = _page(bare, f"/apps/{apps['paid']}", **{"Accept-Language": "en"})
    free = _page(bare, f"/apps/{apps['free']}", **{"Accept-Language": "en"})
    for html in (home, paid, free):
        assert _first_html_attribute(html) == ("lang", "en")
        assert "Log in" in html and "Logga in" not in html
    assert ">Buy</a>" in paid and "Köp" not in paid
    assert ">Activate</a>" in free and "Aktivera" not in free
    assert "149.50 kr/month excl. VAT" in paid
    assert "149,50" not in paid and "mån" not in paid


def test_a_trial_plan_offers_its_trial_in_the_readers_language(bare, apps):
    from models import App, Plan, db
    with db.connection_context():
        Plan.update(trial_days=14).where(Plan.app == App.get(App.slug == apps["paid"]).id).execute()
    assert ">Starta 14 dagars gratis provperiod</a>" in _page(bare, f"/apps/{apps['paid']}")
    assert ">Start 14-day free trial</a>" in _page(bare, f"/apps/{apps['paid']}", **{"Accept-Language": "en"})


def test_the_login_page_and_its_errors_are_swedish(bare):
    page = _page(bare, "/login")
    assert _first_html_attribute(page) == ("lang", "sv")
    assert "E-post" in page and "Lösenord" in page
    refused = bare.post("/login", data={"email": "", "password": "", "csrf_token": form_csrf(page)})
    assert refused.status_code == 400
    assert "Ange din e-postadress och ditt lösenord." in refused.get_data(as_text=True)


def test_an_error_page_is_swedish(bare):
    missing = bare.get("/no-such-page")
    assert missing.status_code == 404
    html = missing.get_data(as_text=True)
    assert _first_html_attribute(html) == ("lang", "sv")
    assert "Hittades inte" in html and "Not found" not in html


def test_the_login_prompt_of_a_members_page_is_swedish(bare):
    prompted = bare.get("/account", follow_redirects=True)
    assert prompted.request.path == "/login"
    assert "Logga in för att fortsätta." in prompted.get_data(as_text=True)


def test_a_refused_nul_character_is_explained_in_swedish(bare):
    page = _page(bare, "/login")
    refused = bare.post("/login", data={"email": "a\x00@example.test", "password": "x", "csrf_token": form_csrf(page)})
    assert refused.status_code == 400
    assert "Förfrågan innehöll ett NUL-tecken" in refused.get_data(as_text=True)
