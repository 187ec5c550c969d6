"""Peewee migrations -- 007_agreed_price.py: the price agreed is the price paid (issue N).

A pending plan change keeps the Stripe price and amount the customer chose
(`pending_plan_change.stripe_price_id`, `price_ore`) and says when the developer's retiring the
chosen plan dropped it (`dropped_at`); a Checkout Session remembers the Stripe price it charges
(`checkout_attempt.stripe_price_id`), so a Buy reuses it only at the same price. Existing pending
changes take their plan's current price, the only one they can be known to have been shown.
"""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.add_fields(
        'pending_plan_change',
        stripe_price_id=pw.CharField(max_length=64, null=True),
        price_ore=pw.IntegerField(null=True),
        dropped_at=pw.DateTimeField(null=True),
    )
    migrator.add_fields('checkout_attempt', stripe_price_id=pw.CharField(max_length=64, null=True))
    migrator.sql(
        "UPDATE pending_plan_change SET price_ore = (SELECT plan.price_ore FROM plan "
        "WHERE plan.id = pending_plan_change.plan_id), stripe_price_id = (SELECT plan.stripe_price_id "
        "FROM plan WHERE plan.id = pending_plan_change.plan_id)")


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_fields('checkout_attempt', 'stripe_price_id')
    migrator.remove_fields('pending_plan_change', 'stripe_price_id', 'price_ore', 'dropped_at')
