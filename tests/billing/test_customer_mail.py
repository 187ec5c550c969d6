"""Issue P, Deliver 7: customers are told. Each mail goes out once for its event, whatever
Stripe redelivers (receipt, renewal, cancellation, refund), with the receipt's amounts per line
to the öre; My apps lists each invoice's refunds from the ledger and explains a suspended app."""
import datetime
import functools
import time
from types import SimpleNamespace

import pytest

from market import config
from market.billing import subscriptions
from market.core import money
from market.core.clock import format_day
from models import App, LedgerEntry, OutboxMail, Subscription, utcnow
from tests import factories
from tests.billing.conftest import event, invoice_object, post_event, subscription_object
from tests.english import day


def mails(to, contains=""):
    return list(OutboxMail.select().where(OutboxMail.to == to, OutboxMail.subject.contains(contains))
                .order_by(OutboxMail.id))


def _setup(fake_stripe, paid_app, customer, name="rc"):
    listing, plan, _ = paid_app
    admin, company = customer
    sub = subscription_object(f"sub_{name}", "active", company, listing, plan)
    fake_stripe.subscriptions[sub["id"]] = sub
    return listing, plan, admin, company, sub


def test_a_receipt_once_per_invoice_with_seller_buyer_and_amounts_per_line(app, client, fake_stripe, paid_app,
                                                                           customer):
    listing, plan, admin, company, sub = _setup(fake_stripe, paid_app, customer)
    invoice = invoice_object("in_receipt", sub, 19900 + 10033)
    invoice["billing_reason"] = "subscription_create"
    invoice["number"] = "AM-0001"
    # Two lines, each with its own moms: 199 kr (49,75) and a prorated 100,33 kr (25,08).
    invoice["lines"] = {"object": "list", "data": [
        {"amount": 19900, "description": "1 × Standard", "taxes": [{"amount": 4975, "tax_behavior": "exclusive"}]},
        {"amount": 10033, "description": "Remaining time on Plus", "taxes": [{"amount": 2508,
                                                                               "tax_behavior": "exclusive"}]}]}
    invoice["total"] = 19900 + 10033 + 4975 + 2508
    invoice["total_taxes"] = [{"amount": 4975 + 2508, "tax_behavior": "exclusive"}]
    fake_stripe.payments[invoice["id"]] = {"charge": "ch_receipt", "fee": None}
    paid = event("invoice.paid", invoice)
    assert post_event(client, paid).status_code == 200
    assert post_event(client, paid).status_code == 200  # Stripe redelivers the same event
    assert post_event(client, event("invoice.payment_succeeded", invoice)).status_code == 200  # and its twin
    receipts = mails(admin.email, "eceipt")
    assert len(receipts) == 1
    assert receipts[0].subject == f"Receipt: your company bought {listing.name}"
    body = receipts[0].body
    assert "Receipt AM-0001" in body
    assert f"Seller: App Market, org. nr {app.config['PLATFORM_ORG_NUMBER']}, " \
           f"VAT nr {app.config['PLATFORM_VAT_NUMBER']}" in body
    assert app.config["PLATFORM_ORG_NUMBER"] and app.config["PLATFORM_VAT_NUMBER"]
    assert f"Buyer: {company.name}, org. nr {company.org_number}" in body
    kr = functools.partial(money.format_kr, locale="en")  # the factories' admins read English
    assert f"1 × Standard: net {kr(19900)}, VAT 25 % {kr(4975)}, gross {kr(24875)}" in body
    assert f"Remaining time on Plus: net {kr(10033)}, VAT 25 % {kr(2508)}, gross {kr(12541)}" in body
    assert f"Total: net {kr(29933)}, VAT {kr(7483)}, gross {kr(37416)}" in body
    assert kr(37416) == "374.16 kr"


def test_a_renewal_is_mailed_once_with_its_receipt(client, fake_stripe, paid_app, customer):
    listing, plan, admin, company, sub = _setup(fake_stripe, paid_app, customer, "rn")
    first = invoice_object("in_first", sub, 19900)
    first["billing_reason"] = "subscription_create"
    assert post_event(client, event("invoice.paid", first)).status_code == 200
    renewal = invoice_object("in_renewal", sub, 19900)
    renewal["billing_reason"] = "subscription_cycle"
    for _ in range(2):
        assert post_event(client, event("invoice.paid", renewal)).status_code == 200
    renewed = mails(admin.email, "renewed")
    assert len(renewed) == 1 and renewed[0].subject == f"{listing.name} renewed: receipt for the next period"
    kr = functools.partial(money.format_kr, locale="en")  # the factories' admins read English
    assert f"net {kr(19900)}, VAT 25 % {kr(4975)}, gross {kr(24875)}" in renewed[0].body
    assert "renewed and runs until" in renewed[0].body
    assert len(mails(admin.email, "eceipt")) == 2  # one per invoice


def test_a_cancellation_in_the_billing_portal_is_mailed_once(client, fake_stripe, paid_app, customer):
    listing, plan, admin, company, sub = _setup(fake_stripe, paid_app, customer, "cx")
    assert post_event(client, event("customer.subscription.created", sub)).status_code == 200
    canceling = dict(sub, cancel_at_period_end=True)
    fake_stripe.subscriptions[sub["id"]] = canceling
    for _ in range(2):  # two events telling the same state
        assert post_event(client, event("customer.subscription.updated", canceling)).status_code == 200
    told = mails(admin.email, "canceled")
    assert len(told) == 1 and told[0].subject == f"{listing.name}: subscription canceled"
    end = Subscription.get().current_period_end
    assert f"ends on {format_day(end, 'en')}" in told[0].body
    # Kept, then canceled again: that is a second cancellation, told again.
    fake_stripe.subscriptions[sub["id"]] = sub
    assert post_event(client, event("customer.subscription.updated", sub)).status_code == 200
    fake_stripe.subscriptions[sub["id"]] = canceling
    assert post_event(client, event("customer.subscription.updated", canceling)).status_code == 200
    assert len(mails(admin.email, "canceled")) == 2


def test_cancel_in_my_apps_is_mailed_once(client, auth, paid_app):
    listing, plan, _ = paid_app
    admin = factories.customer_admin()
    end = utcnow() + datetime.timedelta(days=12)
    Subscription.create(company=admin.company, app=listing, plan=plan, status="active", price_ore=19900,
                        imported=True, current_period_end=end)
    auth.login(admin.email)
    assert auth.post(f"/account/apps/{listing.slug}/cancel").status_code == 303
    assert auth.post(f"/account/apps/{listing.slug}/cancel").status_code == 303  # a double click
    told = mails(admin.email, "canceled")
    assert len(told) == 1 and f"ends on {format_day(end, 'en')}" in told[0].body


def test_a_refund_is_mailed_once_and_listed_under_its_invoice(client, auth, fake_stripe, paid_app, customer,
                                                              monkeypatch):
    listing, plan, admin, company, sub = _setup(fake_stripe, paid_app, customer, "rf")
    invoice = invoice_object("in_refunded", sub, 19900)
    invoice["number"] = "AM-0042"
    invoice["created"] = int(time.time())
    fake_stripe.payments[invoice["id"]] = {"charge": "ch_rf", "fee": 9950}
    assert post_event(client, event("invoice.paid", invoice)).status_code == 200
    refund = {"id": "re_part", "object": "refund", "amount": 10000, "charge": "ch_rf", "status": "pending",
              "created": int(time.time())}
    assert post_event(client, event("refund.created", refund)).status_code == 200
    assert post_event(client, event("refund.updated", dict(refund, status="succeeded"))).status_code == 200
    assert post_event(client, event("charge.refund.updated", dict(refund, status="succeeded"))).status_code == 200
    told = mails(admin.email, "Refund")
    assert len(told) == 1 and told[0].subject == f"Refund of {money.format_kr(10000, 'en')} for {listing.name}"
    failed = {"id": "re_fail", "object": "refund", "amount": 5000, "charge": "ch_rf", "status": "pending",
              "created": int(time.time())}
    assert post_event(client, event("refund.created", failed)).status_code == 200
    assert post_event(client, event("refund.failed", dict(failed, status="failed"))).status_code == 200
    assert len(mails(admin.email, "Refund")) == 2

    # My apps: Stripe's invoice still says paid; the market's ledger says what was given back.
    listed = SimpleNamespace(data=[SimpleNamespace(to_dict=lambda: dict(invoice))])
    stripe = SimpleNamespace(v1=SimpleNamespace(invoices=SimpleNamespace(list=lambda params: listed)))
    monkeypatch.setattr(subscriptions.gateway, "stripe_client", lambda config: stripe)
    auth.login(admin.email)
    page = client.get("/account/apps").get_data(as_text=True)
    row = page.split(f'<tr data-app="{listing.slug}"')[1].split("</tr>")[0]
    assert "AM-0042" in row and "248.75 kr · paid" in row
    refunds = row.split('class="refund-list"')[1].split("</ul>")[0]
    today = day(utcnow())
    assert f'data-refund-status="succeeded">Refund 100 kr · {today} · paid back' in refunds
    assert f'data-refund-status="failed">Refund 50 kr · {today} · failed, nothing was paid back' in refunds
    assert refunds.count("<li") == 2
    assert LedgerEntry.select().where(LedgerEntry.kind == "refund").count() == 3  # with the undoing row


def test_my_apps_explains_a_suspended_app(client, auth, paid_app):
    listing, plan, _ = paid_app
    admin = factories.customer_admin()
    end = utcnow() + datetime.timedelta(days=9)
    Subscription.create(company=admin.company, app=listing, plan=plan, status="active", price_ore=19900,
                        imported=True, current_period_end=end, cancel_at_period_end=True)
    factories.connection(admin.company, listing)
    App.update(status="suspended").where(App.id == listing.id).execute()
    auth.login(admin.email)
    page = client.get("/account/apps").get_data(as_text=True)
    row = page.split(f'<tr data-app="{listing.slug}"')[1].split("</tr>")[0]
    notice = row.split('data-notice="suspended">')[1].split("</p>")[0]
    assert f"The App Market has suspended {listing.name}" in notice
    assert f"it ends on {day(end)} and nothing more is charged" in notice
    assert f'href="/apps/{listing.slug}"' not in row  # no link to a page that is gone
    assert "Connected" not in row and f'action="/apps/{listing.slug}/activate"' not in row
    assert client.get(f"/apps/{listing.slug}").status_code == 404


@pytest.mark.parametrize("missing", ["PLATFORM_ORG_NUMBER", "PLATFORM_VAT_NUMBER"])
def test_production_refuses_to_start_without_the_platforms_numbers(monkeypatch, missing):
    for name in config.SETTINGS:
        monkeypatch.delenv(name, raising=False)
    given = {"MARKET_ENV": "production", "SECRET_KEY": "s" * 40, "STRIPE_SECRET_KEY": "sk_live_x",
             "STRIPE_WEBHOOK_SECRET": "whsec_a", "STRIPE_CONNECT_WEBHOOK_SECRET": "whsec_b",
             "MARKET_URL": "https://market.example", "MAIL_DISABLED": 1,
             "PLATFORM_ORG_NUMBER": "556677-8899", "PLATFORM_VAT_NUMBER": "SE556677889901"}
    assert config.load(given)["PLATFORM_VAT_NUMBER"] == "SE556677889901"
    del given[missing]
    with pytest.raises(RuntimeError, match=missing):
        config.load(given)


def test_connected_apps_explains_a_suspended_app(client, auth, paid_app):
    listing, _, _ = paid_app
    admin = factories.customer_admin()
    factories.api_connection(admin.company, listing, scopes="companyinformation")
    App.update(status="suspended").where(App.id == listing.id).execute()
    auth.login(admin.email)
    page = client.get("/account/connections").get_data(as_text=True)
    row = page.split(f'<tr data-app="{listing.slug}"')[1].split("</tr>")[0]
    assert 'data-notice="suspended"' in row and f"The App Market has suspended {listing.name}" in row
    assert f'href="/apps/{listing.slug}"' not in row
