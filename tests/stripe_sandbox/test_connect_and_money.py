"""Connect onboarding through the hosted form, and the money of a destination charge to the öre."""

import pytest
import stripe

from stripe_sandbox.engine import pct_of

from .helpers import checkout, form_fields, pay


def onboarding_link(client, account_id, **extra):
    return client.v1.account_links.create(params={"account": account_id, "type": "account_onboarding",
                                                  "refresh_url": "http://market.test/refresh",
                                                  "return_url": "http://market.test/return", **extra})


def test_onboarding_form_completes_in_one_submit(client, browser, hooks, receiver, sandbox):
    account = client.v1.accounts.create(params={"type": "express", "country": "SE", "email": "dev@example.com",
                                                "capabilities": {"transfers": {"requested": True},
                                                                 "card_payments": {"requested": True}}})
    assert account.capabilities["transfers"] == "inactive" and not account.charges_enabled
    link = onboarding_link(client, account.id)
    page = browser.get(link.url, timeout=10)
    assert page.status_code == 200 and page.text.count("<h1>") == 1 and "<script" not in page.text
    for field in ("business_name", "url", "support_phone", "iban"):
        assert f'<label for="{field}">' in page.text
    done = browser.post(link.url, data={**form_fields(page.text), "tos": "on"}, allow_redirects=False, timeout=10)
    assert done.status_code == 303 and done.headers["Location"] == "http://market.test/return"
    account = client.v1.accounts.retrieve(account.id)
    assert account.charges_enabled and account.payouts_enabled and account.details_submitted
    assert account.capabilities["transfers"] == "active"
    sandbox.wait_for_deliveries()
    updated = receiver.of_type("account.updated")
    assert len(updated) == 1 and updated[0].account == account.id
    assert updated[0].data.object.capabilities["transfers"] == "active"
    # account.updated goes to the Connect endpoint only
    assert [p for p, _, body in receiver.raw if '"account.updated"' in body] == ["/connect"]
    login = client.v1.accounts.login_links.create(account.id)
    assert browser.get(login.url, timeout=10).status_code == 200


def test_missing_fields_are_shown(client, browser):
    account = client.v1.accounts.create(params={"type": "express"})
    link = onboarding_link(client, account.id)
    resp = browser.post(link.url, data={"business_name": ""}, allow_redirects=False, timeout=10)
    assert resp.status_code == 400 and "Please fill in" in resp.text
    assert not client.v1.accounts.retrieve(account.id).charges_enabled


def test_expired_link_redirects_to_refresh_url(client, browser, sandbox):
    account = client.v1.accounts.create(params={"type": "express"})
    link = onboarding_link(client, account.id)
    sandbox.advance(seconds=301)
    resp = browser.get(link.url, allow_redirects=False, timeout=10)
    assert resp.status_code == 303 and resp.headers["Location"] == "http://market.test/refresh"


def test_login_link_needs_finished_onboarding(client):
    account = client.v1.accounts.create(params={"type": "express"})
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.accounts.login_links.create(account.id)


def test_connect_split_to_the_ore(client, plan, developer, browser):
    session = checkout(client, plan, developer, fee=40)
    pay(browser, session.url)
    sub = client.v1.subscriptions.retrieve(client.v1.checkout.sessions.retrieve(session.id).subscription)
    invoice = client.v1.invoices.retrieve(sub.latest_invoice, params={"expand": ["payments"]})
    assert (invoice.subtotal, invoice.total_taxes[0].amount, invoice.total) == (19900, 4975, 24875)
    assert invoice.status == "paid" and invoice.amount_paid == 24875 and invoice.hosted_invoice_url
    assert "payment_intent" not in invoice and "application_fee_amount" not in invoice
    assert invoice.lines.data[0].taxes[0].amount == 4975
    pi = client.v1.payment_intents.retrieve(invoice.payments.data[0].payment.payment_intent)
    charge = client.v1.charges.retrieve(pi.latest_charge, params={"expand": ["application_fee"]})
    assert charge.amount == 24875 and charge.application_fee_amount == 9950 == charge.application_fee.amount
    assert charge.application_fee.account == developer.id
    transfer = client.v1.transfers.retrieve(charge.transfer)
    assert transfer.amount == 24875 and transfer.destination == developer.id
    assert client.v1.transfers.list(params={"destination": developer.id}).data[0].id == transfer.id
    assert client.v1.application_fees.list(params={"charge": charge.id}).data[0].amount == 9950
    # developer: 75 % of the price excl. moms; platform: 25 % of it plus the moms it remits
    dev = client.v1.balance.retrieve(options={"stripe_account": developer.id}).available[0].amount
    platform = client.v1.balance.retrieve().available[0].amount
    assert dev == 14925 == pct_of(19900, 75)
    assert platform == 9950 == pct_of(19900, 25) + 4975
    assert dev + platform == charge.amount


@pytest.mark.parametrize("unit,percent,fee_percent", [(19900, 25, 40), (9999, 25, 40), (12345, 12, 33.33),
                                                       (101, 6, 25)])
def test_tax_and_fee_round_half_up(client, developer, browser, unit, percent, fee_percent):
    product = client.v1.products.create(params={"name": "P"})
    price = client.v1.prices.create(params={"product": product.id, "unit_amount": unit, "currency": "sek",
                                            "recurring": {"interval": "month"}})
    rate = client.v1.tax_rates.create(params={"display_name": "Moms", "percentage": percent, "inclusive": False})
    session = checkout(client, {"price": price, "tax": rate}, developer, fee=fee_percent)
    pay(browser, session.url)
    invoice = client.v1.invoices.list().data[0]
    tax = pct_of(unit, percent)
    assert invoice.total == unit + tax and invoice.total_taxes[0].amount == tax
    charge = client.v1.charges.list().data[0]
    assert charge.application_fee_amount == pct_of(unit + tax, fee_percent)
