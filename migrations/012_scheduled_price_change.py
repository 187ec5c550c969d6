"""Peewee migrations -- 012_scheduled_price_change.py: price changes with notice (issue U, Deliver 1).

A plan's new price announced ahead: the old and new amounts and Stripe prices, the Stockholm
date from which it applies, and when it was withdrawn or applied to the plan
(market/billing/price_schedule.py).
"""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    @migrator.create_model
    class ScheduledPriceChange(pw.Model):
        id = pw.AutoField()
        plan = pw.ForeignKeyField(column_name='plan_id', field='id', model=migrator.orm['plan'],
                                  on_delete='CASCADE')
        old_price_ore = pw.IntegerField()
        new_price_ore = pw.IntegerField()
        old_stripe_price_id = pw.CharField(max_length=64)
        new_stripe_price_id = pw.CharField(max_length=64)
        effective_on = pw.DateField(index=True)
        created_at = pw.DateTimeField()
        withdrawn_at = pw.DateTimeField(null=True)
        applied_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "scheduled_price_change"


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_model('scheduled_price_change')
