"""Payouts of a connected account (issue U item 4): made and listed with the Stripe-Account header,
each in the shape of Stripe's own example object, and never visible from another account."""
import pytest
import stripe

from .helpers import checkout, pay
from .test_shapes import assert_shape, fixtures  # noqa: F401  (the fixture file, as test_shapes reads it)


def test_a_connected_accounts_payouts_are_its_own(client, sandbox, plan, developer, browser, fixtures):  # noqa: F811
    session = checkout(client, plan, developer)
    assert pay(browser, session.url).status_code == 303
    balance = client.v1.balance.retrieve(options={"stripe_account": developer.id}).available[0].amount
    assert balance > 0
    payout = client.v1.payouts.create(params={"amount": balance - 100, "currency": "sek"},
                                      options={"stripe_account": developer.id, "idempotency_key": "po-test-1"})
    assert_shape(fixtures, "payout", payout)
    assert payout.amount == balance - 100 and payout.status == "paid"
    assert client.v1.balance.retrieve(options={"stripe_account": developer.id}).available[0].amount == 100

    listed = client.v1.payouts.list(options={"stripe_account": developer.id}).data
    assert [p.id for p in listed] == [payout.id]
    assert_shape(fixtures, "payout", listed[0])
    assert client.v1.payouts.retrieve(payout.id, options={"stripe_account": developer.id}).amount == payout.amount
    # The platform's own payouts are not the account's; the account's id alone does not find it.
    assert client.v1.payouts.list().data == []
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payouts.retrieve(payout.id)
    # created filters as Stripe's lists do.
    assert client.v1.payouts.list(params={"created": {"lt": payout.created}},
                                  options={"stripe_account": developer.id}).data == []
    # More than the balance is refused, and nothing is paid out.
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payouts.create(params={"amount": 101, "currency": "sek"},
                                 options={"stripe_account": developer.id, "idempotency_key": "po-test-2"})
    assert len(client.v1.payouts.list(options={"stripe_account": developer.id}).data) == 1
