"""Peewee migrations -- 004_pending_plan_change.py: a downgrade waits for the end of the paid
period (models.PendingPlanChange); the sweep switches the Stripe price shortly before renewal."""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    @migrator.create_model
    class PendingPlanChange(pw.Model):
        id = pw.AutoField()
        subscription = pw.ForeignKeyField(column_name='subscription_id', field='id',
                                          model=migrator.orm['subscription'], on_delete='CASCADE',
                                          unique=True)
        plan = pw.ForeignKeyField(column_name='plan_id', field='id', model=migrator.orm['plan'],
                                  on_delete='CASCADE')
        effective_at = pw.DateTimeField(index=True)
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "pending_plan_change"


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_model('pending_plan_change')
