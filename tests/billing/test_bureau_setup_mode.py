"""The sandbox's Checkout in `setup` mode and its SetupIntent (issue T: a bureau saves a card
once), shape-checked against Stripe's own example objects (../shared/stripe/fixtures3.json),
and the saved card then paying a subscription off-session, as the bureau's clients' do."""
import re

import pytest
import requests
import stripe

from stripe_sandbox.testing import API_KEY
from tests.stripe_sandbox.test_shapes import assert_shape, fixtures  # noqa: F401 (Stripe's example objects)


@pytest.fixture
def client(sandbox):
    sandbox.reset()
    return stripe.StripeClient(API_KEY, base_addresses=sandbox.base_addresses, max_network_retries=0)


def setup_session(client, customer, **extra):
    return client.v1.checkout.sessions.create({
        "mode": "setup", "customer": customer.id, "currency": "sek", "payment_method_types": ["card"], "locale": "en",
        "setup_intent_data": {"metadata": {"company_id": "7"}}, "metadata": {"purpose": "bureau_card"},
        "success_url": "http://market.test/bureau/card/saved?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "http://market.test/bureau/card", **extra})


def fill(sandbox, url, card):
    browser = requests.Session()
    page = browser.get(url, timeout=10)
    assert page.status_code == 200 and "Save card" in page.text and "Nothing is charged now" in page.text
    action = re.search(r'<form method=post action="([^"]+)"', page.text).group(1)
    return browser, browser.post(sandbox.url + action, allow_redirects=False, timeout=10,
                                 data={"card_number": card, "exp": "12/34", "cvc": "123", "name": "Berit Byrå"})


def test_a_setup_session_saves_a_card_as_stripes_objects_look(sandbox, client, fixtures):  # noqa: F811
    customer = client.v1.customers.create({"email": "byra@example.test", "name": "Byrån AB"})
    session = setup_session(client, customer)
    assert_shape(fixtures, "checkout.session", session)
    assert (session.mode, session.status, session.setup_intent, session.payment_status) == (
        "setup", "open", None, "no_payment_required")
    assert session.amount_total is None and session.url.startswith(sandbox.url + "/c/pay/cs_")

    _, done = fill(sandbox, session.url, "4242 4242 4242 4242")
    assert done.status_code == 303
    assert done.headers["Location"] == f"http://market.test/bureau/card/saved?session_id={session.id}"
    session = client.v1.checkout.sessions.retrieve(session.id)
    assert session.status == "complete" and session.setup_intent.startswith("seti_")
    intent = client.v1.setup_intents.retrieve(session.setup_intent)
    assert_shape(fixtures, "setup_intent", intent)
    assert (intent.status, intent.usage, intent.customer) == ("succeeded", "off_session", customer.id)
    assert intent.metadata["company_id"] == "7"
    method = client.v1.payment_methods.retrieve(intent.payment_method)
    assert method.customer == customer.id and method.card.last4 == "4242"
    # Nothing was charged, and Stripe leaves the customer's default card to the integration.
    assert not list(client.v1.invoices.list({"customer": customer.id}).data)
    assert client.v1.customers.retrieve(customer.id).invoice_settings.default_payment_method is None


def test_the_saved_card_pays_a_subscription_off_session(sandbox, client):
    customer = client.v1.customers.create({"email": "byra@example.test"})
    session = setup_session(client, customer)
    fill(sandbox, session.url, "4242 4242 4242 4242")
    intent = client.v1.setup_intents.retrieve(client.v1.checkout.sessions.retrieve(session.id).setup_intent)
    product = client.v1.products.create({"name": "Time Tracker"})
    price = client.v1.prices.create({"product": product.id, "unit_amount": 19900, "currency": "sek",
                                     "recurring": {"interval": "month"}})
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}],
                                          "default_payment_method": intent.payment_method,
                                          "metadata": {"company_id": "42"}})
    assert sub.status == "active" and sub.default_payment_method == intent.payment_method
    assert client.v1.invoices.retrieve(sub.latest_invoice).status == "paid"


def test_a_card_asking_for_authentication_is_confirmed_first(sandbox, client):
    customer = client.v1.customers.create({"email": "byra@example.test"})
    session = setup_session(client, customer)
    browser, asked = fill(sandbox, session.url, "4000 0025 0000 3155")
    assert asked.status_code == 200 and "Complete authentication" in asked.text
    assert client.v1.checkout.sessions.retrieve(session.id).status == "open"
    done = browser.post(f"{sandbox.url}/c/pay/{session.id}/confirm", data={"action": "complete"},
                        allow_redirects=False, timeout=10)
    assert done.status_code == 303
    assert client.v1.checkout.sessions.retrieve(session.id).status == "complete"


def test_setup_mode_refuses_what_stripe_refuses(client):
    customer = client.v1.customers.create({"email": "byra@example.test"})
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.checkout.sessions.create({"mode": "setup", "customer": customer.id,
                                            "success_url": "http://market.test/ok"})
    assert refused.value.param == "currency"
    with pytest.raises(stripe.InvalidRequestError) as refused:
        setup_session(client, customer, line_items=[{"price": "price_x", "quantity": 1}])
    assert refused.value.param == "line_items"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.setup_intents.retrieve("seti_unknown")
