"""Hosted Checkout as a browser uses it, with each test card, and the Checkout Session API."""

import re

import pytest
import stripe

from .helpers import checkout, pay


def test_page_shows_price_moms_and_has_accessible_form(client, plan, browser):
    session = checkout(client, plan, locale="sv")
    page = browser.get(session.url, timeout=10)
    assert page.status_code == 200 and "sandbox_session" in browser.cookies
    html = page.text
    assert html.count("<h1>") == 1
    assert "Time Tracker Pro" in html and "199,00 kr" in html and "Moms 25 %" in html and "49,75 kr" in html
    assert "248,75 kr" in html
    # The market passes its reader's language as the session's locale: Swedish here.
    assert html.startswith('<!doctype html><html lang="sv">') and "<h1>Prenumerera</h1>" in html
    assert "Totalt per månad" in html and "Kortnummer" in html and ">Avbryt och gå tillbaka<" in html
    for field in ("card_number", "exp", "cvc", "name"):
        assert re.search(rf'<label for="{field}">', html) and f'name="{field}"' in html
    assert "<script" not in html
    assert 'href="http://market.test/cancel"' in html


@pytest.mark.parametrize("locale", [None, "auto", "sv", "sv-SE"])
def test_checkout_reads_swedish_unless_its_locale_is_english(client, plan, browser, locale):
    extra = {"locale": locale} if locale else {}
    session = checkout(client, plan, trial_days=14, **extra) if locale else client.v1.checkout.sessions.create(
        params={"mode": "subscription", "success_url": "http://market.test/ok", "customer_email": "a@example.com",
                "line_items": [{"price": plan["price"].id, "quantity": 1, "tax_rates": [plan["tax"].id]}],
                "subscription_data": {"trial_period_days": 14}})
    html = browser.get(session.url, timeout=10).text
    assert '<html lang="sv">' in html and "14 dagars gratis provperiod" in html
    assert "Att betala i dag: 0,00 kr." in html and ">Prenumerera</button>" in html
    assert "Betalar som a@example.com" in html or "Betalar som buyer@example.com" in html
    declined = browser.post(session.url, data={"card_number": "4000 0000 0000 0002", "exp": "12/34", "cvc": "123",
                                               "name": "A"}, allow_redirects=False, timeout=10)
    assert declined.status_code == 402 and "Ditt kort nekades." in declined.text


def test_checkout_in_english_writes_amounts_the_english_way(client, plan, browser):
    html = browser.get(checkout(client, plan, locale="en").url, timeout=10).text
    assert '<html lang="en">' in html and "<h1>Subscribe</h1>" in html and "Total per month" in html
    assert "199.00 kr" in html and "248.75 kr" in html and "199,00 kr" not in html


def test_trial_is_shown_and_nothing_due_today(client, plan, browser):
    session = checkout(client, plan, trial_days=14)
    assert session.amount_total == 0
    html = browser.get(session.url, timeout=10).text
    assert "14 days free trial" in html


def test_4242_succeeds_and_redirects_with_the_session_id(client, plan, browser, developer):
    session = checkout(client, plan, developer, client_reference_id="company-7", metadata={"x": "y"})
    resp = pay(browser, session.url)
    assert resp.status_code == 303
    assert resp.headers["Location"] == f"http://market.test/ok?s={session.id}"
    session = client.v1.checkout.sessions.retrieve(session.id)
    assert session.status == "complete" and session.payment_status == "paid"
    assert session.client_reference_id == "company-7" and session.metadata.to_dict() == {"x": "y"}
    sub = client.v1.subscriptions.retrieve(session.subscription)
    assert sub.status == "active" and sub.application_fee_percent == 40
    assert sub.transfer_data.destination == developer.id and sub.metadata.to_dict() == {"company": "c1"}
    item = sub["items"].data[0]
    assert item.current_period_end > item.current_period_start and item.tax_rates[0].id == plan["tax"].id
    customer = client.v1.customers.retrieve(session.customer)
    assert customer.email == "buyer@example.com"
    # the page cannot be paid twice
    assert browser.get(session.url or f"{client._requestor.base_addresses['api']}/c/pay/{session.id}",
                       timeout=10).status_code in (200, 410)


def test_declined_card_shows_message_and_creates_nothing(client, plan, browser):
    session = checkout(client, plan)
    resp = pay(browser, session.url, card="4000 0000 0000 0002")
    assert resp.status_code == 402 and "Your card was declined." in resp.text
    assert client.v1.checkout.sessions.retrieve(session.id).status == "open"
    assert client.v1.customers.list().data == [] and client.v1.subscriptions.list().data == []
    # the buyer can try again with a good card
    assert pay(browser, session.url).status_code == 303


def test_card_that_attaches_but_fails_every_charge(client, plan, browser, sandbox):
    session = checkout(client, plan)
    resp = pay(browser, session.url, card="4000 0000 0000 0341")
    assert resp.status_code == 402 and "Your card was declined." in resp.text
    # with a trial the card attaches, and the first charge at the trial's end fails
    session = checkout(client, plan, trial_days=7)
    assert pay(browser, session.url, card="4000 0000 0000 0341").status_code == 303
    sub = client.v1.subscriptions.retrieve(client.v1.checkout.sessions.retrieve(session.id).subscription)
    assert sub.status == "trialing"
    sandbox.advance(days=8)
    sub = client.v1.subscriptions.retrieve(sub.id)
    assert sub.status == "past_due"
    invoice = client.v1.invoices.retrieve(sub.latest_invoice)
    assert invoice.status == "open" and invoice.attempt_count == 1


def test_3ds_card_asks_for_confirmation(client, plan, browser):
    session = checkout(client, plan)
    resp = pay(browser, session.url, card="4000 0025 0000 3155")
    assert resp.status_code == 200 and "Complete authentication" in resp.text
    assert resp.text.count("<h1>") == 1
    assert client.v1.subscriptions.list().data == []
    done = browser.post(f"{session.url}/confirm", data={"action": "complete"}, allow_redirects=False, timeout=10)
    assert done.status_code == 303 and session.id in done.headers["Location"]
    assert client.v1.checkout.sessions.retrieve(session.id).status == "complete"


def test_3ds_failed_authentication_creates_nothing(client, plan, browser):
    session = checkout(client, plan)
    pay(browser, session.url, card="4000 0025 0000 3155")
    resp = browser.post(f"{session.url}/confirm", data={"action": "fail"}, allow_redirects=False, timeout=10)
    assert resp.status_code == 402 and "unable to authenticate" in resp.text
    assert client.v1.subscriptions.list().data == []


@pytest.mark.parametrize("field,value,message", [
    ("card", "4242 4242 4242 4241", "Your card number is incorrect."),
    ("exp", "13/30", "expiration month is invalid"),
    ("exp", "01/20", "expiration year is invalid"),
    ("exp", "garbage", "incomplete"),
    ("cvc", "1", "security code is invalid"),
    ("name", "", "name on the card"),
])
def test_bad_card_input_is_shown_not_500(client, plan, browser, field, value, message):
    session = checkout(client, plan)
    resp = pay(browser, session.url, **{field: value})
    assert resp.status_code == 402 and message in resp.text


def test_existing_customer_and_listing_by_customer_and_status(client, plan, browser):
    customer = client.v1.customers.create(params={"email": "known@example.com", "name": "Known AB"})
    first = checkout(client, plan, customer=customer.id)
    second = checkout(client, plan, customer=customer.id)
    checkout(client, plan)
    open_ones = client.v1.checkout.sessions.list(params={"customer": customer.id, "status": "open"}).data
    assert {s.id for s in open_ones} == {first.id, second.id}
    client.v1.checkout.sessions.expire(first.id)
    assert client.v1.checkout.sessions.retrieve(first.id).status == "expired"
    assert browser.get(first.url, timeout=10).status_code == 410
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.checkout.sessions.expire(first.id)
    pay(browser, second.url)
    complete = client.v1.checkout.sessions.list(params={"customer": customer.id, "status": "complete"}).data
    assert [s.id for s in complete] == [second.id]
    assert client.v1.subscriptions.list(params={"customer": customer.id}).data[0].customer == customer.id


def test_sessions_expire_after_24_hours(client, plan, sandbox):
    session = checkout(client, plan)
    sandbox.advance(hours=25)
    assert client.v1.checkout.sessions.retrieve(session.id).status == "expired"


def test_checkout_rejects_what_stripe_rejects(client, plan, sandbox):
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.checkout.sessions.create(params={"mode": "subscription", "success_url": "http://x.test/",
                                                   "line_items": [{"price": "price_missing", "quantity": 1}]})
    one_time = client.v1.prices.create(params={"product": plan["product"].id, "unit_amount": 100, "currency": "sek"})
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.checkout.sessions.create(params={"mode": "subscription", "success_url": "http://x.test/",
                                                   "line_items": [{"price": one_time.id, "quantity": 1}]})
    pending = client.v1.accounts.create(params={"type": "express"})
    with pytest.raises(stripe.InvalidRequestError) as err:
        checkout(client, plan, pending)
    assert "transfers" in err.value.user_message


def test_checkout_without_an_email_asks_for_one(client, plan, browser):
    session = client.v1.checkout.sessions.create(params={
        "mode": "subscription", "success_url": "http://market.test/ok", "locale": "en",
        "line_items": [{"price": plan["price"].id, "quantity": 1}]})
    html = browser.get(session.url, timeout=10).text
    assert '<label for="email">' in html
    resp = browser.post(session.url, data={"card_number": "4242424242424242", "exp": "12/34", "cvc": "123",
                                           "name": "A"}, allow_redirects=False, timeout=10)
    assert resp.status_code == 402 and "valid email" in resp.text
    resp = browser.post(session.url, data={"card_number": "4242424242424242", "exp": "12/34", "cvc": "123",
                                           "name": "A", "email": "new@example.com"}, allow_redirects=False,
                        timeout=10)
    assert resp.status_code == 303
    customer = client.v1.customers.retrieve(client.v1.checkout.sessions.retrieve(session.id).customer)
    assert customer.email == "new@example.com"


def test_sandbox_pay_endpoint(client, plan, sandbox):
    session = checkout(client, plan)
    assert sandbox.pay_checkout(session.id)["redirect"] == f"http://market.test/ok?s={session.id}"
    assert client.v1.checkout.sessions.retrieve(session.id).status == "complete"
