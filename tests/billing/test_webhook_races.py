"""Stripe sends the first events of a new subscription at once (customer.subscription.created,
invoice.paid, customer.subscription.updated), and on PostgreSQL their handlers run side by side:
the one that loses the race to create the market's Subscription row must apply its event over
the winner's row, not answer 500 (Stripe would retry, but a 500 is never the market's answer)."""
from models import StripeEvent, Subscription
from tests.billing.conftest import event, invoice_object, post_events_at_once, subscription_object


def test_first_events_of_a_new_subscription_at_once_make_one_row_and_all_succeed(
        app, client, fake_stripe, paid_app, customer):
    listing, plan, _ = paid_app
    _, company = customer
    sub = subscription_object("sub_race", "active", company, listing, plan)
    fake_stripe.subscriptions["sub_race"] = sub
    fake_stripe.payments["in_race"] = {"charge": "ch_race", "fee": 9950}
    invoice = invoice_object("in_race", sub, 19900)
    invoice.update({"status": "paid", "number": "MKT-0099"})
    bodies = [event("customer.subscription.created", sub), event("invoice.paid", invoice),
              event("customer.subscription.updated", sub), event("invoice.payment_succeeded", invoice)]
    statuses = post_events_at_once(app, bodies)
    assert sorted(statuses) == [200] * len(bodies)
    assert Subscription.select().where(Subscription.stripe_subscription_id == "sub_race").count() == 1
    assert StripeEvent.select().count() == len(bodies)
