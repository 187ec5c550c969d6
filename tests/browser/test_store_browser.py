"""The store in a real browser: headless Debian Chromium driven by Playwright, as a person
would use it (QUALITY.md 32, first part). Screenshots of each step go to tests/artifacts/."""
import os
import re
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from market.data import database
from market.jobs import seed
from models import db
from tests import english
from tests.conftest import make_test_app

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


def require_chromium():
    if os.path.exists(CHROMIUM):
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{CHROMIUM} is required under CI=true (apt-get install chromium)", pytrace=False)
    pytest.skip(f"{CHROMIUM} is not installed")


@pytest.fixture
def market(tmp_path):
    """The market with the demo data, served on a free loopback port."""
    require_chromium()
    app = make_test_app(f"sqlite:///{tmp_path}/browser.db")
    with app.app_context(), db.connection_context():
        database.migrate(db)
        seed.seed_demo(app.config, echo=lambda *a: None)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


@pytest.fixture
def browser_page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # executable_path: Debian's Chromium; Playwright never downloads a browser.
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")  # English words (issue Q)
        page = context.new_page()
        page.console_errors = []
        # CSP violations and script errors show up as console errors; failed loads are checked
        # by status below (the browser's own /favicon.ico probe is not the market's business).
        page.on("console", lambda message: message.type == "error"
                and not message.text.startswith("Failed to load resource")
                and page.console_errors.append(message.text))
        page.on("response", lambda response: response.status >= 400
                and not response.url.endswith("/favicon.ico")
                and page.console_errors.append(f"{response.status} {response.url}"))
        page.on("pageerror", lambda error: page.console_errors.append(str(error)))
        try:
            yield page
        finally:
            context.close()
            browser.close()


def shot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"store-{name}.png"), full_page=True)


@pytest.mark.browser
def test_find_an_app_by_search_and_open_its_page(market, browser_page):
    from playwright.sync_api import expect

    page = browser_page
    page.goto(market + "/")
    expect(page.locator("h1")).to_have_text("Apps that work with your accounting")
    expect(page.locator("#recommended [data-app]").first).to_be_visible()
    shot(page, "1-home")

    page.get_by_role("link", name="All apps").first.click()
    page.wait_for_url(market + "/apps")
    expect(page.locator("#results [data-app]")).to_have_count(24)  # the first page
    # Typing searches as you type (HTMX), and the address follows so back and reload work.
    page.locator("#q").press_sequentially("ÅKERI", delay=60)
    page.wait_for_url(re.compile(r"/apps\?q=%C3%85KERI"))
    expect(page.locator("#results [data-app]")).to_have_count(1)
    card = page.locator('#results [data-app="akeri-planering"]')
    expect(card).to_contain_text("Åkeri Planering")
    expect(card).to_contain_text(english.price(24900))
    shot(page, "2-search")

    # Filters are swapped in place too: paid apps only, then free only (none match).
    page.locator("#price").select_option("free")
    page.wait_for_url(re.compile(r"price=free"))
    expect(page.locator("#results")).to_contain_text("No apps match")
    page.locator("#price").select_option("")
    expect(page.locator("#results [data-app]")).to_have_count(1)

    card.get_by_role("link").click()
    page.wait_for_url(market + "/apps/akeri-planering")
    article = page.locator('article[data-app="akeri-planering"]')
    expect(article.locator("h1")).to_have_text("Åkeri Planering")
    expect(article.locator(".plan-price").first).to_have_text(english.price(24900))
    buy = article.get_by_role("link", name="Buy").first
    expect(buy).to_have_attribute("href", "/login?next=/apps/akeri-planering")
    expect(article.locator(".rating-summary")).to_be_visible()
    shot(page, "3-app-page")

    page.go_back()
    page.wait_for_url(re.compile(r"/apps\?q=%C3%85KERI"))
    expect(page.locator('#results [data-app="akeri-planering"]')).to_be_visible()
    # No inline script or style slipped past the CSP, and nothing failed in the page.
    assert page.console_errors == []
