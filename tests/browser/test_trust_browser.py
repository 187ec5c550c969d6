"""Trust (issue N), in a real browser on the seeded demo data: a developer's change to a
published listing waits as a revision; the store keeps showing the published version; the
admin's review queue shows the change old beside new, and approving it publishes it. The
screenshots (tests/artifacts/trust-*.png) are the issue's pictures of the review diff."""
import re

import pytest

from tests.browser.test_store_browser import ARTIFACTS, market  # noqa: F401 (fixture)
from tests.browser.test_walkable_browser import LAPTOP, axe_clean, chromium_browser, logged_in  # noqa: F401

PHISHING = 'Log in again at <a href="https://fortnox-login.example.net">fortnox-login</a>.'


def shot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"trust-{name}.png"), full_page=True)


@pytest.mark.browser
def test_a_published_listing_changes_only_after_the_admin_approves_the_diff(market, chromium_browser):  # noqa: F811
    context, page = logged_in(chromium_browser, market, "developer@demo.test", LAPTOP)
    try:
        page.goto(market + "/developer/apps/time-tracker-pro/edit")
        page.fill("#f-name", "Time Tracker Pro (official)")
        page.fill("#f-description", PHISHING)
        page.locator("#listing-form button[type=submit]").click()
        page.wait_for_load_state()
        shot(page, "developer-revision-saved")
        page.goto(market + "/developer/apps/time-tracker-pro")
        assert page.locator('[data-revision="pending"], .revision').count() >= 1
        shot(page, "developer-app-with-pending-revision")
    finally:
        context.close()

    # Customers still see the published listing.
    context, page = logged_in(chromium_browser, market, "customer@demo.test", LAPTOP)
    try:
        page.goto(market + "/apps/time-tracker-pro")
        assert page.locator("h1").inner_text() == "Time Tracker Pro"
        assert "fortnox-login" not in page.content()
    finally:
        context.close()

    context, page = logged_in(chromium_browser, market, "admin@demo.test", LAPTOP)
    try:
        page.goto(market + "/admin/review")
        name_row = page.locator('[data-app="time-tracker-pro"] tr[data-field="name"]')
        assert name_row.count() == 1
        text = name_row.inner_text()
        assert "Time Tracker Pro" in text and "Time Tracker Pro (official)" in text  # old beside new
        assert page.locator('[data-app="time-tracker-pro"] tr[data-field="description"]').count() == 1
        axe_clean(page, "admin review diff")
        shot(page, "admin-review-diff")
        page.locator('form[action="/admin/review/time-tracker-pro/approve"] button').click()
        page.wait_for_load_state()
        assert page.errors == []
    finally:
        context.close()

    context, page = logged_in(chromium_browser, market, "customer@demo.test", LAPTOP)
    try:
        page.goto(market + "/apps/time-tracker-pro")
        assert page.locator("h1").inner_text() == "Time Tracker Pro (official)"
        # The description is sanitised: the link stays text the customer can read, never a script.
        assert re.search(r"fortnox-login", page.locator(".app-description").inner_text())
        shot(page, "store-after-approval")
    finally:
        context.close()
