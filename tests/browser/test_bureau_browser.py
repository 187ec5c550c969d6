"""A bureau's purchase for two clients in a real browser (issue T, "Done when"), against
`python app.py`'s three servers with a fresh seeded database, once per engine: the seeded
bureau user (byra@demo.test) opens a paid app's page, chooses two of its client companies with
the bureau paying, saves the bureau's card on the sandbox's Checkout in setup mode, and takes
the clients one at a time on /bureau/progress; /bureau then shows the app on both clients,
paid by the bureau, and a third client without it.

Screenshots go to tests/artifacts/bureau-<engine>-<nn>-<step>.png."""
import itertools
import re
from contextlib import contextmanager

import pytest

from tests.browser.conftest import ARTIFACTS
from tests.browser.test_journey import (
    GOOD_CARD,
    Window,
    check_accessibility,
    expect,
    log_in_from_home,
    reload_until,
)

pytestmark = pytest.mark.browser

BUREAU_USER = "byra@demo.test"
CLIENTS = ("Demo Café Söder AB", "Demo Frakt Norr AB")
UNTOUCHED = "Demo Bygg AB"
APP = "bokslutshjalpen"  # paid, for sale, and none of the bureau's clients has it in the seed

_steps = {}


class BureauWindow(Window):
    """test_journey's window, in English, with its screenshots named apart."""

    language_of_engine = False

    @contextmanager
    def step(self, name):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        counter = _steps.setdefault(self.demo.engine, itertools.count(1))
        stem = ARTIFACTS / f"bureau-{self.demo.engine}-{next(counter):02d}-{name}"
        try:
            yield self.page
        except BaseException:
            try:
                self.shoot(f"{stem}-FAILED.png")
                stem.with_suffix(".html").write_text(self.page.content())
            finally:
                stem.with_suffix(".console.txt").write_text(
                    f"{self.who} at {self.page.url}\n" + "\n".join(self.console) + "\n")
            raise
        self.shoot(f"{stem}.png")


@pytest.fixture(scope="module", autouse=True)
def fresh_artifacts(demo):
    for stale in ARTIFACTS.glob(f"bureau-{demo.engine}-*"):
        stale.unlink()


def test_a_bureau_buys_a_paid_app_for_two_clients_on_its_card(chromium, demo):
    win = BureauWindow(chromium, demo, BUREAU_USER)
    page = win.page
    try:
        with win.step("app-page-for-clients"):
            log_in_from_home(win, BUREAU_USER)
            page.goto(demo.market + f"/apps/{APP}")
            page.locator("[data-for-clients]").click()
            page.wait_for_url(demo.market + f"/apps/{APP}/clients")
            expect()(page.locator("h1")).to_contain_text("for your clients")
            check_accessibility(win, "choose client companies")

        with win.step("choose-two-clients-paid-by-the-bureau"):
            for name in CLIENTS:
                row = page.locator("tr[data-company]", has_text=name)
                row.get_by_role("checkbox").check()
                row.get_by_role("combobox").select_option("bureau")
            page.get_by_role("button", name="Continue").click()
            page.wait_for_url(demo.market + "/bureau/progress")
            rows = page.locator("#progress tbody tr")
            expect()(rows).to_have_count(2)
            for name in CLIENTS:
                expect()(page.locator("#progress tr", has_text=name)).to_have_attribute("data-state", "waiting")

        with win.step("save-the-bureaus-card"):
            page.get_by_role("link", name="Save a card").click()
            page.wait_for_url(demo.market + "/bureau/card")
            page.get_by_role("button", name="Save a card").click()
            page.wait_for_url(re.compile(re.escape(demo.sandbox) + r"/c/pay/cs_"))
            expect()(page.get_by_role("button", name="Save card")).to_be_visible()
            page.get_by_label("Card number").fill(GOOD_CARD)
            page.get_by_label("Expiry (MM/YY)").fill("12/34")
            page.get_by_label("CVC").fill("123")
            page.get_by_label("Name on card").fill("Berit Byrå")
            page.get_by_role("button", name="Save card").click()
            page.wait_for_url(demo.market + "/bureau/progress")
            expect()(page.locator("main")).to_contain_text("is saved")

        for n, name in enumerate(CLIENTS):
            with win.step(f"client-{n + 1}-bought"):
                page.get_by_role("button", name=f"Continue with {name}").click()
                page.wait_for_url(demo.market + "/bureau/progress")
                row = page.locator("#progress tr", has_text=name)
                reload_until(page, lambda row=row: row.get_attribute("data-state") == "done")
                expect()(row).to_have_attribute("data-state", "done")
        expect()(page.locator("main")).to_contain_text("Every chosen company has been taken.")
        check_accessibility(win, "bureau progress")

        with win.step("bureau-page-shows-both-clients"):
            page.goto(demo.market + "/bureau")
            for name in CLIENTS:
                row = page.locator("#bureau tbody tr", has_text=name)
                item = row.locator(f'li[data-app="{APP}"]')
                expect()(item).to_have_count(1)
                expect()(item).to_have_attribute("data-paid-by", re.compile(".+"))
            expect()(page.locator("#bureau tbody tr", has_text=UNTOUCHED).locator(f'li[data-app="{APP}"]')).to_have_count(0)
            check_accessibility(win, "bureau page")
        assert win.script_errors() == []
    finally:
        win.close()
