"""The billing portal and the hosted invoice page, used as a browser would."""

import re

from .helpers import checkout, pay


def bought(client, plan, developer, browser):
    session = checkout(client, plan, developer)
    pay(browser, session.url)
    return client.v1.subscriptions.retrieve(client.v1.checkout.sessions.retrieve(session.id).subscription)


def portal(client, customer):
    return client.v1.billing_portal.sessions.create(params={"customer": customer, "locale": "en",
                                                            "return_url": "http://market.test/account"})


def test_portal_cancel_and_undo(client, plan, developer, browser):
    sub = bought(client, plan, developer, browser)
    session = portal(client, sub.customer)
    page = browser.get(session.url, timeout=10)
    assert page.status_code == 200 and page.text.count("<h1>") == 1 and "<script" not in page.text
    assert "Time Tracker Pro" in page.text and "Visa ending in 4242" in page.text
    assert 'href="http://market.test/account"' in page.text
    cancel = re.search(r'action="([^"]+/cancel)"', page.text).group(1)
    assert browser.post(session.url.split("/p/")[0] + cancel, timeout=10).status_code == 200
    sub = client.v1.subscriptions.retrieve(sub.id)
    assert sub.cancel_at_period_end and sub.status == "active"
    page = browser.get(session.url, timeout=10).text
    assert "Don&#x27;t cancel" in page or "Don't cancel" in page
    renew = re.search(r'action="([^"]+/renew)"', page).group(1)
    browser.post(session.url.split("/p/")[0] + renew, timeout=10)
    assert not client.v1.subscriptions.retrieve(sub.id).cancel_at_period_end


def test_portal_new_card_pays_the_overdue_invoice(client, plan, developer, browser, sandbox):
    sub = bought(client, plan, developer, browser)
    sandbox.set_card_behavior(sub.customer, "fail")
    sandbox.advance(seconds=sub["items"].data[0].current_period_end - sandbox.now() + 60)
    sub = client.v1.subscriptions.retrieve(sub.id)
    assert sub.status == "past_due"
    session = portal(client, sub.customer)
    browser.get(session.url, timeout=10)
    declined = browser.post(session.url + "/card", data={"card_number": "4000000000000002", "exp": "12/34",
                                                         "cvc": "123", "name": "Buyer"}, timeout=10)
    assert declined.status_code == 402 and "Your card was declined." in declined.text
    resp = browser.post(session.url + "/card", data={"card_number": "5555 5555 5555 4444", "exp": "11/33",
                                                     "cvc": "321", "name": "Buyer"}, timeout=10)
    assert resp.status_code == 200 and "ending in 4444" in resp.text
    sub = client.v1.subscriptions.retrieve(sub.id)
    invoice = client.v1.invoices.retrieve(sub.latest_invoice)
    assert sub.status == "active" and invoice.status == "paid"
    customer = client.v1.customers.retrieve(sub.customer)
    pm = client.v1.payment_methods.retrieve(customer.invoice_settings.default_payment_method)
    assert pm.card.last4 == "4444"


def test_portal_lists_invoices_with_hosted_pages_and_receipts(client, plan, developer, browser, sandbox):
    sub = bought(client, plan, developer, browser)
    invoice = client.v1.invoices.retrieve(sub.latest_invoice)
    page = browser.get(portal(client, sub.customer).url, timeout=10).text
    assert invoice.hosted_invoice_url in page and invoice.number in page
    hosted = browser.get(invoice.hosted_invoice_url, timeout=10)
    assert hosted.status_code == 200 and "248,75 kr" in hosted.text and "49,75 kr" in hosted.text
    receipt = browser.get(invoice.invoice_pdf, timeout=10)
    assert receipt.status_code == 200 and "Receipt" in receipt.text and "@media print" in receipt.text


def test_open_invoice_can_be_paid_on_its_hosted_page(client, plan, developer, browser, sandbox):
    sub = bought(client, plan, developer, browser)
    sandbox.set_card_behavior(sub.customer, "fail")
    sandbox.advance(seconds=sub["items"].data[0].current_period_end - sandbox.now() + 60)
    invoice = client.v1.invoices.retrieve(client.v1.subscriptions.retrieve(sub.id).latest_invoice)
    page = browser.get(invoice.hosted_invoice_url, timeout=10).text
    assert "Pay 248,75 kr" in page
    resp = browser.post(invoice.hosted_invoice_url + "/pay", data={"card_number": "4242424242424242",
                                                                  "exp": "12/34", "cvc": "123", "name": "B"},
                        timeout=10)
    assert resp.status_code == 200
    assert client.v1.invoices.retrieve(invoice.id).status == "paid"
    assert client.v1.subscriptions.retrieve(sub.id).status == "active"


def test_unknown_links_are_404_pages(browser, sandbox):
    for path in ("/p/session/nope", "/i/nope", "/connect/onboarding/nope", "/express/nope", "/c/pay/cs_test_x"):
        resp = browser.get(sandbox.url + path, timeout=10)
        assert resp.status_code == 404 and "<h1>" in resp.text, path


def test_index_page(browser, sandbox, client):
    client.v1.customers.create(params={"email": "i@example.com"})
    resp = browser.get(sandbox.url + "/", timeout=10)
    assert resp.status_code == 200 and "<h1>Stripe sandbox</h1>" in resp.text and "customer" in resp.text


def test_the_portal_follows_its_sessions_locale_swedish_without_one(client, plan, developer, browser):
    sub = bought(client, plan, developer, browser)
    swedish = client.v1.billing_portal.sessions.create(params={"customer": sub.customer, "locale": "sv",
                                                               "return_url": "http://market.test/account"})
    page = browser.get(swedish.url, timeout=10).text
    assert '<html lang="sv">' in page and "<h1>Fakturering</h1>" in page
    assert "Visa som slutar på 4242" in page and ">Avsluta abonnemang</button>" in page
    assert ">Uppdatera kort</button>" in page and ">Tillbaka</a>" in page and "aktiv · förnyas" in page
    assert "248,75 kr" in page
    declined = browser.post(swedish.url + "/card", data={"card_number": "4000 0000 0000 0002", "exp": "12/34",
                                                         "cvc": "123", "name": "A"}, timeout=10)
    assert declined.status_code == 402 and "Ditt kort nekades." in declined.text
    unset = client.v1.billing_portal.sessions.create(params={"customer": sub.customer})
    assert "<h1>Fakturering</h1>" in browser.get(unset.url, timeout=10).text
    english = browser.get(portal(client, sub.customer).url, timeout=10).text
    assert '<html lang="en">' in english and "<h1>Billing</h1>" in english and "248.75 kr" in english
    assert "active · renews" in english
