"""More of the journey in a real browser (issue P, deliverable 10), against `python app.py`'s
three servers with a fresh database, once on SQLite and once on PostgreSQL: a customer buys a
second paid app (Koncernrapport) on the sandbox's Checkout, activates it and connects the sample
integration's page for it; a member who cannot buy is told whom to ask; the platform admin
refunds part of the payment and the customer sees the refund under the invoice.

Screenshots go to tests/artifacts/journey-more-<engine>-<nn>-<step>.png (not journey-<engine>-*,
which the demo fixture clears when test_journey.py's demo starts)."""
import itertools
import re
import sqlite3

import psycopg
import pytest

from tests.browser.conftest import ARTIFACTS
from tests.browser.test_journey import (
    CUSTOMER,
    GOOD_CARD,
    Window,
    check_accessibility,
    expect,
    log_in_from_home,
    pay_on_checkout,
    reload_until,
)

pytestmark = pytest.mark.browser

MEMBER = "member@demo.test"
PLATFORM_ADMIN = "admin@demo.test"
COMPANY = "Demo Bygg AB"
BOUGHT = "koncernrapport"  # paid, for sale, and not among Demo Bygg AB's apps in the seed
BOUGHT_NAME = "Koncernrapport"
NOT_OWNED = "bokslutshjalpen"  # paid, and Demo Bygg AB never buys it here
REFUND_KR = 100

_more_steps = {}


class MoreWindow(Window):
    """test_journey's window, with its screenshots numbered and named apart, in English."""

    language_of_engine = False

    def step_name(self, name):
        counter = _more_steps.setdefault(self.demo.engine, itertools.count(1))
        return f"journey-more-{self.demo.engine}-{next(counter):02d}-{name}"


@pytest.fixture(scope="module", autouse=True)
def fresh_artifacts(demo):
    """This file's screenshots of an earlier run go, as the demo fixture clears journey-<engine>-*."""
    for stale in ARTIFACTS.glob(f"journey-more-{demo.engine}-*"):
        stale.unlink()


@pytest.fixture
def window(chromium, demo):
    windows = []

    def open_window(who):
        opened = MoreWindow(chromium, demo, who)
        windows.append(opened)
        return opened

    yield open_window
    for opened in windows:
        opened.close()


def buy_button_of_a_plan_without_trial(page, slug):
    """The first plan of the app page whose button is Buy (a trial would charge nothing)."""
    plans = page.locator(f'article[data-app="{slug}"] .plan[data-plan]')
    expect()(plans.first).to_be_visible()
    for plan in plans.all():
        button = plan.get_by_role("button", name="Buy", exact=True)
        if button.count():
            return plan, button
    raise AssertionError(f"{slug}: no plan without a trial to buy")


@pytest.fixture(scope="module")
def second_purchase(chromium, demo):
    """The customer buys Koncernrapport with 4242…, sees it in My apps, presses Activate, lands
    on the integration's /apps/koncernrapport/, connects, consents and sees its company."""
    win = MoreWindow(chromium, demo, CUSTOMER)
    page = win.page
    seen = {}
    try:
        with win.step("customer-on-app-page"):
            log_in_from_home(win, CUSTOMER)
            page.goto(demo.market + f"/apps/{BOUGHT}")
            article = page.locator(f'article[data-app="{BOUGHT}"]')
            expect()(article.locator("h1")).to_have_text(BOUGHT_NAME)
            expect()(article.locator("[data-owned]")).to_have_count(0)
            plan, buy = buy_button_of_a_plan_without_trial(page, BOUGHT)
            seen["price"] = plan.locator(".plan-price").inner_text()
            check_accessibility(win, "Koncernrapport app page")

        with win.step("sandbox-checkout-koncernrapport"):
            buy.click()
            page.wait_for_url(re.compile(re.escape(demo.sandbox) + r"/c/pay/cs_"))
            expect()(page.locator("main")).to_contain_text(BOUGHT_NAME)
            pay_on_checkout(page, GOOD_CARD)

        with win.step("checkout-return-koncernrapport"):
            page.wait_for_url(re.compile(re.escape(demo.market) + rf"/apps/{BOUGHT}/bought\?session_id=cs_"))
            expect()(page.locator("#checkout-status")).to_contain_text("Your subscription is active",
                                                                      timeout=30_000)

        with win.step("my-apps-koncernrapport-active"):
            page.get_by_role("link", name="Go to My apps").click()
            page.wait_for_url(demo.market + "/account/apps")
            row = page.locator(f'#my-apps tr[data-app="{BOUGHT}"]')
            expect()(row.locator(".status .badge")).to_have_text("Active")
            expect()(row).to_contain_text(seen["price"])
            expect()(row.locator(".invoice-list li[data-invoice]")).to_have_count(1)
            expect()(row.locator(".connection")).to_have_text("Not connected")
            seen["invoice"] = row.locator(".invoice-list li[data-invoice]").first.get_attribute("data-invoice")
            check_accessibility(win, "My apps with Koncernrapport")

        with win.step("activate-koncernrapport-lands-at-integration"):
            row.get_by_role("button", name="Activate").click()
            landing = demo.integration + f"/apps/{BOUGHT}/"
            page.wait_for_url(landing)
            expect()(page.locator("h1")).to_have_text(f"Connect {BOUGHT_NAME}")

        with win.step("koncernrapport-consent"):
            page.get_by_role("link", name="Connect to App Market").click()
            page.wait_for_url(re.compile(re.escape(demo.market) + r"/oauth-v1/auth\?"))
            expect()(page.locator("h1")).to_have_text(f"Connect {BOUGHT_NAME} to {COMPANY}?")
            for item in page.locator("ul.scopes li[data-scope]").all():
                assert item.inner_text().strip(), "every scope is said in plain words"
            check_accessibility(win, "Koncernrapport consent")

        with win.step("koncernrapport-shows-company-data"):
            page.get_by_role("button", name="Allow").click()
            page.wait_for_url(demo.integration + f"/apps/{BOUGHT}/company")
            expect()(page.locator("#company-name")).to_have_text(COMPANY)
            expect()(page.locator("#subscription")).to_contain_text("active")
            expect()(page.locator("#subscription")).not_to_contain_text("not entitled")

        with win.step("my-apps-koncernrapport-connected"):
            page.goto(demo.market + "/account/apps")
            row = page.locator(f'#my-apps tr[data-app="{BOUGHT}"]')
            expect()(row.locator(".connection")).to_have_text("Connected")
            expect()(row.get_by_role("button", name="Open")).to_be_visible()
        seen["script_errors"] = win.script_errors()
        yield seen
    finally:
        win.close()


def test_the_customer_buys_activates_and_connects_a_second_paid_app(second_purchase):
    assert second_purchase["invoice"]
    assert second_purchase["script_errors"] == []


def test_a_member_who_cannot_buy_is_told_to_ask_an_admin(window, demo):
    win = window(MEMBER)
    page = win.page
    with win.step("member-app-page"):
        log_in_from_home(win, MEMBER)
        page.goto(demo.market + f"/apps/{NOT_OWNED}")
        article = page.locator(f'article[data-app="{NOT_OWNED}"]')
        expect()(article.locator("[data-owned]")).to_have_count(0)
        ask = article.locator("[data-ask-admin]")
        expect()(ask).to_have_text(re.compile(r"^Ask an admin \(.+\)$"))
        expect()(ask).to_have_text("Ask an admin (Berit Byrå, Customer)")  # Demo Bygg AB's admins by name: the seeded bureau's user and its own
        expect()(article.locator(f'form[action="/apps/{NOT_OWNED}/buy"]')).to_have_count(0)
        expect()(article.get_by_role("button", name="Buy")).to_have_count(0)
        expect()(article.get_by_role("button", name=re.compile("free trial"))).to_have_count(0)
        check_accessibility(win, "app page for a member")

    with win.step("member-my-apps"):
        page.goto(demo.market + "/account/apps")
        expect()(page.locator("h1")).to_have_text("My apps")
        expect()(page.locator("#my-apps").get_by_role("button", name="Activate")).to_have_count(0)
        expect()(page.locator("#my-apps .ask-admin").first).to_contain_text("Ask an admin")
    assert win.script_errors() == []


def test_a_partial_refund_by_the_platform_admin_shows_under_the_customers_invoice(second_purchase, window, demo):
    admin = window(PLATFORM_ADMIN)
    page = admin.page
    with admin.step("admin-refunds-page"):
        log_in_from_home(admin, PLATFORM_ADMIN)
        page.goto(demo.market + "/admin/refunds")
        expect()(page.locator("h1")).to_have_text("Refunds and disputes")
        payment = page.locator("table.payments tr[data-payment]").filter(has_text=BOUGHT_NAME).filter(
            has_text=COMPANY).first
        expect()(payment).to_be_visible()
        gross = payment.locator("td").nth(3).inner_text()
        expect()(payment.locator("td").nth(4)).to_have_text(gross)  # nothing refunded yet
        check_accessibility(admin, "admin refunds")

    with admin.step("admin-asks-to-refund-part"):
        payment.get_by_label("Amount in kronor").fill(str(REFUND_KR))
        payment.get_by_label("Reason").fill("Goodwill: the first week's reports were late")
        payment.get_by_role("button", name="Refund…").click()
        question = page.locator(".confirm[data-confirm='/admin/refunds']")
        expect()(question).to_contain_text(f"Refund {REFUND_KR} kr?")
        expect()(question.locator("[data-amount]")).to_have_text(f"{REFUND_KR} kr back to {COMPANY}")
        expect()(question).to_contain_text("Goodwill")

    with admin.step("admin-confirms-refund"):
        question.get_by_role("button", name=f"Refund {REFUND_KR} kr").click()
        page.wait_for_url(demo.market + "/admin/refunds")
        expect()(page.locator("main")).to_contain_text(f"Refunded {REFUND_KR} kr")
        expect()(page.locator("table.reversals")).to_contain_text(BOUGHT_NAME)
    assert admin.script_errors() == []

    customer = window(CUSTOMER)
    page = customer.page
    with customer.step("customer-sees-refund-under-invoice"):
        log_in_from_home(customer, CUSTOMER)
        page.goto(demo.market + "/account/apps")
        invoice = page.locator(f'#my-apps tr[data-app="{BOUGHT}"] li[data-invoice="{second_purchase["invoice"]}"]')
        refund = invoice.locator(".refund-list li.refund")
        # The refund's state comes with Stripe's webhooks: reload until it is paid back.
        reload_until(page, lambda: refund.count() == 1 and "paid back" in refund.inner_text(), seconds=30)
        expect()(refund).to_have_text(re.compile(rf"^Refund {REFUND_KR} kr · \d{{1,2}} [A-Z][a-z]{{2}} \d{{4}} · paid back$"))
        expect()(refund).to_have_attribute("data-refund-status", "succeeded")
        check_accessibility(customer, "My apps with a refund")
    assert customer.script_errors() == []
    (ARTIFACTS / f"journey-more-{demo.engine}-refund.txt").write_text(refund.inner_text() + "\n")


def query_one(demo, sql, params):
    """One row read straight from the demo's database (`?` placeholders)."""
    if demo.engine == "postgresql":
        with psycopg.connect(demo.database_url, autocommit=True) as conn:
            return conn.execute(sql.replace("?", "%s"), params).fetchone()
    conn = sqlite3.connect(demo.database_url.removeprefix("sqlite:///"), timeout=10)
    try:
        return conn.execute(sql, params).fetchone()
    finally:
        conn.close()


def test_a_downgrade_to_a_plan_the_developer_retires_is_dropped_and_the_customer_told(second_purchase, window,
                                                                                      demo):
    """Issue N, Deliver 3: the pending change keeps the price chosen until the developer retires
    the plan itself; then it is dropped and My apps says so (data-notice="plan-retired")."""
    (standard_id,) = query_one(demo, "SELECT p.id FROM plan p JOIN app a ON a.id = p.app_id "
                                     "WHERE a.slug = ? AND p.name = 'Standard' AND p.active", (BOUGHT,))
    (developer_email,) = query_one(demo, 'SELECT u.email FROM "user" u JOIN app a ON a.developer_id = u.developer_id '
                                         "WHERE a.slug = ? ORDER BY u.id", (BOUGHT,))
    customer = window(CUSTOMER)
    page = customer.page
    with customer.step("customer-asks-to-downgrade"):
        log_in_from_home(customer, CUSTOMER)
        page.goto(demo.market + f"/account/apps/{BOUGHT}/plan?plan={standard_id}")
        question = page.locator(f".confirm[data-confirm='/account/apps/{BOUGHT}/plan']")
        expect()(question).to_contain_text("Standard")
        question.locator("button.button-primary").click()
        page.wait_for_url(demo.market + "/account/apps")
        row = page.locator(f'#my-apps tr[data-app="{BOUGHT}"]')
        expect()(row.locator(".pending-plan")).to_contain_text("Changes to Standard")

    developer = window(developer_email)
    with developer.step("developer-retires-standard"):
        log_in_from_home(developer, developer_email)
        developer.page.goto(demo.market + f"/developer/apps/{BOUGHT}/plans")
        developer.page.get_by_role("button", name="Retire Standard").click()
        developer.page.wait_for_load_state()
        expect()(developer.page.locator("main")).to_contain_text("retired")
    assert developer.script_errors() == []

    with customer.step("customer-told-the-plan-was-retired"):
        page.goto(demo.market + "/account/apps")
        row = page.locator(f'#my-apps tr[data-app="{BOUGHT}"]')
        expect()(row.locator('[data-notice="plan-retired"]')).to_contain_text("retired the Standard plan")
        expect()(row.locator(".pending-plan")).to_have_count(0)
        check_accessibility(customer, "My apps with a retired plan's notice")
    assert customer.script_errors() == []
