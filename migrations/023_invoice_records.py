"""Peewee migrations -- 023_invoice_records.py: each subscription's invoices as the market
heard of them from Stripe's `invoice.*` events (issue R, models.SubscriptionInvoice), so My apps
lists them without asking Stripe. A running deployment fills the table for the subscriptions it
had before once, with `flask --app app invoices-backfill`."""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    @migrator.create_model
    class SubscriptionInvoice(pw.Model):
        id = pw.AutoField()
        subscription = pw.ForeignKeyField(column_name='subscription_id', field='id', model=migrator.orm['subscription'], on_delete='CASCADE')
        company = pw.ForeignKeyField(column_name='company_id', field='id', model=migrator.orm['company'], on_delete='CASCADE')
        stripe_invoice_id = pw.CharField(max_length=64, unique=True)
        number = pw.CharField(max_length=64, default="")
        status = pw.CharField(max_length=20)
        total_ore = pw.IntegerField(default=0)
        created = pw.DateTimeField()
        hosted_invoice_url = pw.TextField(default="")
        updated_at = pw.DateTimeField()

        class Meta:
            table_name = "subscription_invoice"
            indexes = ((("subscription", "created"), False),)


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_model('subscription_invoice')
