"""Peewee migrations -- 010_money_states.py: Stripe's money states followed (issue O):
a developer's deauthorized Connect account and the `created` of the last `account.updated`
applied, each refund's state on its ledger row, and a lost dispute's transfer reversal keyed by
the dispute (models.DisputeReversal)."""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.add_fields('developer',
                        stripe_deauthorized_at=pw.DateTimeField(null=True),
                        stripe_account_event_created=pw.IntegerField(null=True))
    migrator.add_fields('ledger_entry', refund_status=pw.CharField(max_length=20, null=True))

    @migrator.create_model
    class DisputeReversal(pw.Model):
        id = pw.AutoField()
        dispute_id = pw.CharField(max_length=100, unique=True)
        charge_id = pw.CharField(max_length=64, null=True)
        amount_ore = pw.IntegerField()
        status = pw.CharField(max_length=10, default="pending")
        stripe_reversal_id = pw.CharField(max_length=64, null=True)
        created_at = pw.DateTimeField()
        done_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "dispute_reversal"


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_model('dispute_reversal')
    migrator.remove_fields('ledger_entry', 'refund_status')
    migrator.remove_fields('developer', 'stripe_deauthorized_at', 'stripe_account_event_created')
