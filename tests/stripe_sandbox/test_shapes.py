"""Every object the sandbox returns has exactly the top-level keys of Stripe's own example object
(../shared/stripe/fixtures3.json), the same `object` value and the same id prefix."""

import json
import pathlib
import re

import pytest
import requests

from .helpers import checkout, pay

FIXTURES = pathlib.Path(__file__).resolve().parents[2] / ".." / "shared" / "stripe" / "fixtures3.json"

# Deliberate differences, each a real Stripe field the example object happens not to show.
EXTRA = {
    # Destination charges carry `transfer` (the id of the transfer to the connected account);
    # the example is not a destination charge. The market finds the developer's transfer by it.
    "charge": {"transfer"},
    # Connect events name the connected account in `account`; the example is a platform event.
    "event": {"account"},
}
# Keys of the example the sandbox leaves out on purpose: none.
MISSING: dict[str, set] = {}


def fixtures_file():
    """Stripe's example objects: beside the project (../shared), or beside a checkout's parents
    (a worktree or a clone elsewhere on this machine)."""
    here = pathlib.Path(__file__).resolve()
    candidates = [FIXTURES] + [parent / "shared" / "stripe" / "fixtures3.json" for parent in here.parents]
    return next((path for path in candidates if path.exists()), None)


@pytest.fixture(scope="module")
def fixtures():
    found = fixtures_file()
    if found is None:
        pytest.skip(f"{FIXTURES} not available")
    return json.loads(found.read_text())["resources"]


def prefix(obj_id):
    """`cus_QXg1o8vcGmoR32` -> `cus_`; `cs_test_a1…` -> `cs_test_`."""
    m = re.match(r"^([a-z]+_(?:test_)?)", obj_id or "")
    return m.group(1) if m else None


def assert_shape(fixtures, name, obj, extra=()):
    expected = fixtures[name]
    data = obj.to_dict() if hasattr(obj, "to_dict") else obj
    keys = set(data)
    want = (set(expected) | EXTRA.get(name, set()) | set(extra)) - MISSING.get(name, set())
    assert keys - want == set(), f"{name}: keys Stripe's {name} does not have: {sorted(keys - want)}"
    # `account` on events is present on Connect events only
    optional = {"account"} if name == "event" else set()
    assert want - keys - optional == set(), f"{name}: missing keys: {sorted(want - keys)}"
    assert data["object"] == expected["object"]
    if expected.get("id") and not expected["id"].startswith("obj_"):
        assert prefix(data["id"]) == prefix(expected["id"]), (data["id"], expected["id"])


def test_every_resource_has_stripes_shape(client, sandbox, plan, developer, hooks, receiver, browser, fixtures):
    platform, _ = hooks
    assert_shape(fixtures, "webhook_endpoint", client.v1.webhook_endpoints.retrieve(platform.id))
    # the create answer also shows the signing secret, as Stripe's does
    assert_shape(fixtures, "webhook_endpoint", platform, extra={"secret"})
    assert_shape(fixtures, "product", plan["product"])
    assert_shape(fixtures, "price", plan["price"])
    assert_shape(fixtures, "tax_rate", plan["tax"])
    assert_shape(fixtures, "account", developer)
    link = client.v1.account_links.create(params={"account": developer.id, "type": "account_onboarding",
                                                  "refresh_url": "http://x.test/r", "return_url": "http://x.test/"})
    assert_shape(fixtures, "account_link", link)
    assert_shape(fixtures, "login_link", client.v1.accounts.login_links.create(developer.id))

    session = checkout(client, plan, developer)
    assert_shape(fixtures, "checkout.session", session)
    assert pay(browser, session.url).status_code == 303
    session = client.v1.checkout.sessions.retrieve(session.id)
    assert_shape(fixtures, "checkout.session", session)
    sub = client.v1.subscriptions.retrieve(session.subscription)
    assert_shape(fixtures, "subscription", sub)
    assert_shape(fixtures, "subscription_item", sub["items"].data[0])
    assert_shape(fixtures, "subscription_item", client.v1.subscription_items.retrieve(sub["items"].data[0].id))
    customer = client.v1.customers.retrieve(sub.customer)
    assert_shape(fixtures, "customer", customer)
    pm = client.v1.payment_methods.retrieve(customer.invoice_settings.default_payment_method)
    assert_shape(fixtures, "payment_method", pm)
    invoice = client.v1.invoices.retrieve(sub.latest_invoice)
    assert_shape(fixtures, "invoice", invoice)
    assert_shape(fixtures, "line_item", invoice.lines.data[0])
    payment = client.v1.invoice_payments.list(params={"invoice": invoice.id}).data[0]
    assert_shape(fixtures, "invoice_payment", payment)
    pi = client.v1.payment_intents.retrieve(payment.payment.payment_intent)
    assert_shape(fixtures, "payment_intent", pi)
    charge = client.v1.charges.retrieve(pi.latest_charge)
    assert_shape(fixtures, "charge", charge)
    fee = client.v1.application_fees.retrieve(charge.application_fee)
    assert_shape(fixtures, "application_fee", fee)
    transfer = client.v1.transfers.retrieve(charge.transfer)
    assert_shape(fixtures, "transfer", transfer)
    assert_shape(fixtures, "balance", client.v1.balance.retrieve())
    assert_shape(fixtures, "balance_transaction", client.v1.balance_transactions.retrieve(charge.balance_transaction))

    refund = client.v1.refunds.create(params={"charge": charge.id, "amount": 1000, "reverse_transfer": True,
                                              "refund_application_fee": True})
    assert_shape(fixtures, "refund", refund)
    assert_shape(fixtures, "transfer_reversal", client.v1.transfers.reversals.list(transfer.id).data[0])
    assert_shape(fixtures, "fee_refund", client.v1.application_fees.refunds.list(fee.id).data[0])

    bigger = client.v1.prices.create(params={"product": plan["product"].id, "unit_amount": 29900, "currency": "sek",
                                             "recurring": {"interval": "month"}})
    client.v1.subscriptions.update(sub.id, params={"items": [{"id": sub["items"].data[0].id, "price": bigger.id}]})
    prorations = client.v1.invoice_items.list(params={"customer": customer.id}).data
    assert len(prorations) == 2
    for item in prorations:
        assert_shape(fixtures, "invoiceitem", item)

    portal = client.v1.billing_portal.sessions.create(params={"customer": customer.id,
                                                              "return_url": "http://x.test/"})
    assert_shape(fixtures, "billing_portal.session", portal)
    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": 1767225600})
    assert_shape(fixtures, "test_helpers.test_clock", clock)

    session2 = checkout(client, plan, developer, customer_email="other@example.com")
    pay(browser, session2.url, card="4000 0000 0000 0259")
    dispute = client.v1.disputes.list().data[0]
    assert_shape(fixtures, "dispute", dispute)

    sandbox.wait_for_deliveries()
    events = client.v1.events.list(params={"limit": 100}).data
    assert events
    for event in events:
        assert_shape(fixtures, "event", event)
    connect_events = client.v1.events.list(options={"stripe_account": developer.id}).data
    assert connect_events and connect_events[0].account == developer.id
    assert_shape(fixtures, "event", connect_events[0])


def test_event_payload_is_the_objects_current_json(client, plan, developer, hooks, receiver, browser, sandbox):
    session = checkout(client, plan, developer)
    pay(browser, session.url)
    sandbox.wait_for_deliveries()
    completed = receiver.of_type("checkout.session.completed")[0]
    assert completed.api_version == "2026-10-28.endive"
    assert completed.livemode is False and isinstance(completed.created, int)
    assert completed.data.object.id == session.id and completed.data.object.status == "complete"
    assert "pending_webhooks" in completed and "request" in completed
    raw = requests.get(f"{sandbox.url}/_sandbox/deliveries", timeout=5,
                       headers={"Authorization": f"Bearer {sandbox.api_key}"}).json()["data"]
    assert all(d["attempts"] for d in raw)
