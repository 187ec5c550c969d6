"""A market people can walk (issue P), in a real browser: at 390 px the app page and My apps do
not scroll sideways and the app page shows its plans before its description; at 1366 px the
developer's per-app table stays inside the page; the account menu opens without JavaScript's
help and a confirmation appears in place with htmx. Uses the seeded demo data in-process, like
test_store_browser.py; screenshots go to tests/artifacts/."""
from types import SimpleNamespace

import pytest

from tests.browser.test_journey import check_accessibility
from tests.browser.test_store_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, market  # noqa: F401 (fixture)

PASSWORD = "demo-pass-123"
PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1366, "height": 900}

NO_SIDEWAYS_SCROLL = """() => ({scroll: document.scrollingElement.scrollWidth, inner: window.innerWidth,
  wide: [...document.querySelectorAll('main *')].filter(el => el.getBoundingClientRect().right > window.innerWidth + 1)
        .slice(0, 5).map(el => el.outerHTML.slice(0, 120))})"""


def axe_clean(page, name):
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    blockers = [v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
    assert blockers == [], f"{name}: axe found " + "; ".join(
        f"{v['id']}: {v['nodes'][0]['html'][:120]}" for v in blockers)


@pytest.fixture
def chromium_browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def logged_in(browser, market_url, email, viewport):  # noqa: F811 (market is the fixture's value)
    context = browser.new_context(viewport=viewport, locale="en-GB")  # the English interface (issue Q)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.goto(market_url + "/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_load_state()
    assert "/login" not in page.url, f"{email} could not log in"
    return context, page


def assert_no_sideways_scroll(page, name):
    measured = page.evaluate(NO_SIDEWAYS_SCROLL)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"walkable-{name}.png"), full_page=True)
    assert measured["scroll"] <= measured["inner"], f"{name} scrolls sideways: {measured}"


@pytest.mark.browser
def test_at_390_px_the_app_page_and_my_apps_do_not_scroll_sideways(market, chromium_browser):  # noqa: F811
    context, page = logged_in(chromium_browser, market, "customer@demo.test", PHONE)
    try:
        page.goto(market + "/apps/lonekollen")
        assert_no_sideways_scroll(page, "390-app-page")
        # The plans and the call to action come before the description and the reviews.
        pricing = page.locator("#pricing-heading").bounding_box()
        about = page.locator("#about-heading").bounding_box()
        assert pricing["y"] < about["y"] < page.locator("#reviews").bounding_box()["y"]
        assert pricing["y"] < PHONE["height"], "the plans are on the first screen"

        axe_clean(page, "app page at 390 px")  # (its star radios are one Tab stop: no Tab walk here)

        page.goto(market + "/account/apps")
        assert_no_sideways_scroll(page, "390-my-apps")
        check_accessibility(SimpleNamespace(page=page), "My apps at 390 px")
        # Without JavaScript's help the question is a page of its own (a GET on the action's path).
        page.goto(market + "/account/apps/lonekollen/cancel")
        assert page.locator('main form[method="post"][action="/account/apps/lonekollen/cancel"]').count() == 1
        assert_no_sideways_scroll(page, "390-confirm-cancel")
        check_accessibility(SimpleNamespace(page=page), "the question before Cancel")
        page.goto(market + "/account/connections")
        assert_no_sideways_scroll(page, "390-connections")

        # The account menu: named after the company, opened by a click, its links plain links.
        menu = page.locator('header details[data-menu="company"]')
        menu.locator("summary").click()
        for name, href in (("My apps", "/account/apps"), ("Connected apps", "/account/connections"),
                           ("Company members", "/account/members")):
            assert menu.get_by_role("link", name=name).get_attribute("href") == href
        assert_no_sideways_scroll(page, "390-menu-open")
        assert page.errors == []
    finally:
        context.close()


@pytest.mark.browser
def test_a_confirmation_appears_in_place_and_its_button_posts(market, chromium_browser):  # noqa: F811
    context, page = logged_in(chromium_browser, market, "customer@demo.test", LAPTOP)
    try:
        page.goto(market + "/account/connections")
        row = page.locator("tr[data-app]").first
        slug = row.get_attribute("data-app")
        row.get_by_role("link", name="Revoke access").click()
        question = row.locator(".confirm")
        question.wait_for()
        assert page.url == market + "/account/connections"  # in place, no new page
        assert question.locator(f'form[action="/account/connections/{slug}/revoke"]').count() == 1
        question.get_by_role("button", name="Revoke access").click()
        page.wait_for_url(market + "/account/connections")
        assert page.locator(f'tr[data-app="{slug}"]').count() == 0
        assert page.errors == []
    finally:
        context.close()


@pytest.mark.browser
def test_at_390_and_1366_px_the_developer_dashboard_stays_inside_the_page(market, chromium_browser):  # noqa: F811
    for name, viewport in (("1366", LAPTOP), ("390", PHONE)):
        context, page = logged_in(chromium_browser, market, "developer@demo.test", viewport)
        try:
            page.goto(market + "/developer")
            assert_no_sideways_scroll(page, f"{name}-dashboard")
            # The per-app table neither runs past the page nor hides columns in a scroll box.
            table = page.locator("table.per-app").evaluate(
                "t => ({right: t.getBoundingClientRect().right, main: document.querySelector('main').getBoundingClientRect().right,"
                " scroll: t.scrollWidth, client: t.clientWidth})")
            assert table["right"] <= table["main"] + 1 and table["scroll"] <= table["client"] + 1, table
            axe_clean(page, f"developer dashboard at {name} px")
            assert page.errors == []
        finally:
            context.close()


@pytest.mark.browser
def test_at_390_px_no_page_of_a_customer_developer_or_admin_scrolls_sideways(market, chromium_browser):  # noqa: F811
    walks = {"customer@demo.test": ["/", "/apps", "/recommended", "/account", "/account/apps/lonekollen/remove",
                                    "/apps/koncernrapport"],  # the seed's longest support address
             "developer@demo.test": ["/developer/apps", "/developer/apps/time-tracker-pro", "/developer/reviews",
                                     "/developer/payouts"],
             "admin@demo.test": ["/admin", "/admin/apps", "/admin/refunds", "/admin/review", "/admin/reports"]}
    for email, paths in walks.items():
        context, page = logged_in(chromium_browser, market, email, PHONE)
        try:
            for path in paths:
                response = page.goto(market + path)
                assert response.status < 400, path
                assert_no_sideways_scroll(page, "390" + path.replace("/", "-"))
            assert page.errors == []
        finally:
            context.close()
