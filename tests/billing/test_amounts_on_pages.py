"""Issue M: one amount is written one way on every page. A plan is bought through the Stripe
sandbox as a browser would; then its monthly price (net) and what the customer paid (gross)
must read the same on the app page, My apps (price, next charge and the invoice, the
customer's receipt in the market), the admin's ledger of payments and the developer's
dashboard: whole kronor without decimals, other amounts with two, thousands grouped with a
no-break space."""
import re

import pytest

from models import Developer, LedgerEntry
from tests import factories
from tests.billing.conftest import onboard_developer, sandbox_config
from tests.billing.test_purchase import buy, pay

NBSP = "\u00a0"


@pytest.fixture
def app_config(sandbox, live_port):
    return sandbox_config(sandbox, live_port)


def only(pattern, html):
    found = re.findall(pattern, html, re.S)
    assert len(found) == 1, (pattern, found)
    return found[0].strip()


def row_of(html, slug):
    return html.split(f'<tr data-app="{slug}">', 1)[1].split("</tr>", 1)[0]


def in_swedish(session):
    """The market's own language: the way a Swedish reader sees every amount (issue Q)."""
    session.headers["Accept-Language"] = "sv"
    return session


@pytest.mark.parametrize("price_ore, gross_ore, net, gross", [
    (14950, 18688, "149,50 kr", "186,88 kr"),  # moms 37,375 kr, rounded half up
    (159200, 199000, f"1{NBSP}592 kr", f"1{NBSP}990 kr"),  # whole kronor, thousands grouped
])
def test_one_amount_reads_the_same_on_every_page(market, price_ore, gross_ore, net, gross):
    dev_user = factories.developer_user(email="dev@example.test", language="sv")
    developer = Developer.get_by_id(dev_user.developer_id)
    listing = factories.app_listing(developer_obj=developer, price_ore=price_ore, slug="ledger-pro",
                                    name="Ledger Pro")
    onboard_developer(market, developer, dev_user.email)
    buyer = factories.customer_admin(email="buyer@example.test", language="sv")
    factories.user(email="root@example.test", is_platform_admin=True, language="sv")

    customer = in_swedish(market.login(buyer.email))
    app_page = customer.get(market.url + "/apps/ledger-pro", timeout=10).text
    assert only(r'<p class="plan-price">(.*?)</p>', app_page) == f"{net}/mån exkl. moms"

    response = buy(market, customer, listing.slug)
    assert response.status_code == 303
    _, paid = pay(market, response.headers["Location"])
    assert paid.status_code == 303
    market.settle()
    entry = LedgerEntry.get()
    assert (entry.net_ore, entry.gross_ore) == (price_ore, gross_ore)  # what the customer paid, moms included

    my_apps = row_of(customer.get(market.url + "/account/apps", timeout=10).text, "ledger-pro")
    assert f"Standard: {net}/mån exkl. moms" in my_apps
    next_charge = only(r'<td class="next-charge">(.*?)</td>', my_apps)
    assert next_charge.startswith(f"{gross} inkl. moms den ")
    receipt = only(r'<ul class="invoice-list">(.*?)</ul>', my_apps)
    assert f"· {gross} · paid" in receipt

    admin = in_swedish(market.login("root@example.test"))
    ledger = admin.get(market.url + "/admin/refunds", timeout=10).text
    payment = ledger.split(f'data-payment="{entry.id}"', 1)[1].split("</tr>", 1)[0]
    assert re.findall(r"<td>([^<]*kr)</td>", payment) == [gross, gross]  # paid, and all of it left to refund

    dashboard_html = in_swedish(market.login(dev_user.email)).get(market.url + "/developer", timeout=10).text
    for scope in (dashboard_html.split('data-scope="total"', 1)[1].split("</dl>", 1)[0],
                  row_of(dashboard_html, "ledger-pro")):
        assert only(r'data-figure="mrr_ore" data-ore="\d+">([^<]*)<', scope) == net
        assert only(r'data-figure="gross_ore" data-ore="\d+">([^<]*)<', scope) == gross

    # Nowhere an amount written another way: "149.50 kr", "1990,00 kr", "0,00 kr".
    for html in (app_page, my_apps, ledger, dashboard_html):
        assert not re.search(r"\d\.\d\d kr|\d,00(\s|&nbsp;)*kr", html)
