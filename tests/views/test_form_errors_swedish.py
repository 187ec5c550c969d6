"""A form's errors in the reader's language (issue Q): the domain writes each field's message as
a msgid (and its values), and the page says it in Swedish to a reader who names no language,
in English to one who asks for English. Registration, a developer's new app and a plan."""
import html

import pytest

from tests import factories
from tests.conftest import AuthActions, form_csrf

REGISTRATION = {"kind": "customer", "email": "", "password": "short", "name": "", "company_name": "",
                "org_number": "", "industry": "", "size": ""}
NEW_APP = {"slug": "my-app", "name": "", "tagline": "", "description": "", "website_url": "http://example.test/"}
PLAN = {"name": "Bas", "price_kr": "199", "trial_days": "tre", "description": ""}

SWEDISH_REGISTRATION = ("Ange en e-postadress.", "Välj ett lösenord på minst 10 tecken.", "Ange företagets namn.",
                        "Ange organisationsnumret som NNNNNN-NNNN (10 siffror).", "Välj din bransch i listan.",
                        "Välj företagets storlek i listan.")
ENGLISH_REGISTRATION = ("Enter an email address.", "Choose a password of at least 10 characters.",
                        "Enter the company's name.", "Enter the organisation number as NNNNNN-NNNN (10 digits).",
                        "Choose your industry from the list.", "Choose the company's size from the list.")
SWEDISH_NEW_APP = ("Ange appens namn.",
                   "Webbplatsens adress: använd https (vanlig http bara på 127.0.0.1 eller localhost).")
ENGLISH_NEW_APP = ("Enter the app's name.",
                   "The website's address: use https (plain http only on 127.0.0.1 or localhost).")
SWEDISH_PLAN = ("Provdagar ska vara ett heltal från 0 till 90.",)
ENGLISH_PLAN = ("Trial days must be a whole number from 0 to 90.",)


@pytest.fixture
def app_config(tmp_path):
    return {"ICON_DIR": str(tmp_path / "icons")}


@pytest.fixture
def english(app):
    """A second browser, one that asks for English."""
    browser = app.test_client()
    assert browser.environ_base["HTTP_ACCEPT_LANGUAGE"] == "en"
    return browser


def _refused(browser, path, data):
    """The form's page, then the form posted with its CSRF token: the 422 page's text."""
    page = browser.get(path)
    assert page.status_code == 200, path
    response = browser.post(path, data={**data, "csrf_token": form_csrf(page.get_data(as_text=True))})
    assert response.status_code == 422, path
    return html.unescape(response.get_data(as_text=True))


def _reads(page, said, not_said):
    for sentence in said:
        assert sentence in page
    for sentence in not_said:
        assert sentence not in page


def _developer(app, browser, email, language):
    from models import db
    with db.connection_context():
        user = factories.developer_user(email=email, language=language)
        factories.app_listing(developer_obj=user.developer, slug=f"draft-{language}", name="Draft", status="draft")
    assert AuthActions(app, browser).login(email).status_code == 303


def test_registration_errors_are_swedish_for_a_reader_naming_no_language(bare):
    page = _refused(bare, "/register", REGISTRATION)
    assert '<html lang="sv"' in page
    _reads(page, SWEDISH_REGISTRATION, ENGLISH_REGISTRATION)


def test_registration_errors_are_english_for_a_reader_asking_for_english(english):
    _reads(_refused(english, "/register", REGISTRATION), ENGLISH_REGISTRATION, SWEDISH_REGISTRATION)


def test_a_developers_form_errors_are_swedish_for_a_swedish_developer(app, bare):
    _developer(app, bare, "utvecklare@example.test", "sv")
    _reads(_refused(bare, "/developer/apps/new", NEW_APP), SWEDISH_NEW_APP, ENGLISH_NEW_APP)
    _reads(_refused(bare, "/developer/apps/draft-sv/plans", PLAN), SWEDISH_PLAN, ENGLISH_PLAN)


def test_a_developers_form_errors_are_english_for_an_english_developer(app, english):
    _developer(app, english, "developer@example.test", "en")
    _reads(_refused(english, "/developer/apps/new", NEW_APP), ENGLISH_NEW_APP, SWEDISH_NEW_APP)
    _reads(_refused(english, "/developer/apps/draft-en/plans", PLAN), ENGLISH_PLAN, SWEDISH_PLAN)


def test_a_long_description_is_refused_with_the_limit_written_the_readers_way(app, bare, english):
    _developer(app, bare, "utvecklare@example.test", "sv")
    page = _refused(bare, "/developer/apps/new", {**NEW_APP, "name": "App", "website_url": "",
                                                  "description": "x" * 20_001})
    assert "Beskrivningen får ha högst 20\u00a0000 tecken." in page
    _developer(app, english, "developer@example.test", "en")
    page = _refused(english, "/developer/apps/new", {**NEW_APP, "name": "App", "website_url": "",
                                                     "description": "x" * 20_001})
    assert "The description may have at most 20,000 characters." in page
