"""Issue J's "done when": a purchase of `time-tracker-pro`, driven through billing's signed
webhooks (customer.subscription.created, invoice.paid) and the connection's first API use,
shows on the demo developer's dashboard as one more active and paying customer, the MRR change
and the 75/25 split of the payment equal to the ledger row to the öre; the admin sees the
platform's part; the ledger CSV equals the page."""
import csv
import io

import pytest

from market.billing import webhooks
from market.oauth import connections as oauth2
from market.stats import app_stats as stats
from models import Connection, LedgerEntry, Plan
from tests import factories
from tests.billing.conftest import FakeStripe, event, invoice_object, post_event, subscription_object
from tests.dashboards.test_dashboard import page_figures


@pytest.fixture
def fake(monkeypatch):
    stripe = FakeStripe()
    monkeypatch.setattr(webhooks, "fetch_subscription", stripe.fetch_subscription)
    monkeypatch.setattr(webhooks, "fetch_payment", stripe.fetch_payment)
    return stripe


def per_app(html, slug):
    row = html.split(f'<tr data-app="{slug}">', 1)[1].split("</tr>", 1)[0]
    import re

    return {name: int(ore) if ore else int(text)
            for name, ore, text in re.findall(r'data-figure="(\w+)"(?: data-ore="(-?\d+)")?>([^<]*)<', row)}


def test_a_purchase_shows_on_the_dashboards_to_the_ore(app, client, auth, fake):
    developer = factories.developer(name="Demo Developer AB", stripe_account_id="acct_demo_dev", payouts_enabled=True)
    factories.developer_user(email="developer@demo.test", developer_obj=developer)
    factories.user(email="admin@demo.test", is_platform_admin=True)
    listing = factories.app_listing(developer_obj=developer, price_ore=19900, slug="time-tracker-pro",
                                    name="Time Tracker Pro")
    plan = Plan.get(Plan.app == listing)
    earlier = factories.company(name="Earlier Customer AB")
    earlier_sub = factories.subscription(earlier, listing, plan=plan)
    factories.connection(earlier, listing, last_used_at=factories.utcnow())
    factories.ledger_entry(listing, earlier, gross_ore=24875, moms_ore=4975, subscription_obj=earlier_sub)
    stats.stats_rebuild(grace_days=7)

    auth.login("developer@demo.test")
    before_html = client.get("/developer").get_data(as_text=True)
    before, before_app = page_figures(before_html), per_app(before_html, "time-tracker-pro")

    buyer = factories.customer_admin(email="customer@demo.test").company
    buyer.stripe_customer_id = "cus_demo_bygg"
    buyer.save()
    sub = subscription_object("sub_ttp", "active", buyer, listing, plan, price_id="price_ttp")
    fake.subscriptions["sub_ttp"] = sub
    fake.payments["in_ttp"] = {"charge": "ch_ttp", "fee": 9950}
    assert post_event(client, event("customer.subscription.created", sub)).status_code == 200
    assert post_event(client, event("invoice.paid", invoice_object("in_ttp", sub, 19900))).status_code == 200
    connection = Connection.create(company=buyer, app=listing, scopes="")
    with app.app_context():
        oauth2.mark_connection_used(app.config, connection)  # the integration's first API call

    payment = LedgerEntry.get(LedgerEntry.stripe_ref == "in_ttp")
    assert (payment.gross_ore, payment.moms_ore, payment.developer_share_ore, payment.platform_fee_ore) == (
        24875, 4975, 14925, 4975)
    after_html = client.get("/developer").get_data(as_text=True)
    after, after_app = page_figures(after_html), per_app(after_html, "time-tracker-pro")
    for figures, earlier_figures in ((after, before), (after_app, before_app)):
        assert int(figures["active_customers"]) == int(earlier_figures["active_customers"]) + 1
        assert int(figures["paying_customers"]) == int(earlier_figures["paying_customers"]) + 1
        assert figures["mrr_ore"] - earlier_figures["mrr_ore"] == 19900
        assert figures["gross_ore"] - earlier_figures["gross_ore"] == payment.gross_ore
        assert figures["moms_ore"] - earlier_figures["moms_ore"] == payment.moms_ore
        assert figures["developer_ore"] - earlier_figures["developer_ore"] == payment.developer_share_ore
        assert figures["platform_ore"] - earlier_figures["platform_ore"] == payment.platform_fee_ore

    rows = list(csv.reader(io.StringIO(client.get("/developer/export/ledger.csv").get_data(as_text=True))))
    header, total = rows[0], rows[-1]
    assert [r[4] for r in rows[1:-1]].count("in_ttp") == 1
    assert round(float(total[header.index("developer_share_kr")]) * 100) == after["developer_ore"]
    assert round(float(total[header.index("platform_fee_kr")]) * 100) == after["platform_ore"]
    assert round(float(total[header.index("gross_kr")]) * 100) == after["gross_ore"]

    auth.logout()
    auth.login("admin@demo.test")
    admin_html = client.get("/admin").get_data(as_text=True)
    assert page_figures(admin_html, "platform")["platform_ore"] == 2 * 4975
    assert per_app(admin_html, "time-tracker-pro")["platform_ore"] == 2 * 4975
    assert "invoice.paid" in admin_html and "customer.subscription.created" in admin_html
