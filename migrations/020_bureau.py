"""Peewee migrations -- 020_bureau.py: a bureau's saved card, its queue of client companies to
activate or buy for, and the clients' subscriptions it pays (issue T, models.BureauCard,
BureauStep, BureauSubscription)."""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    @migrator.create_model
    class BureauCard(pw.Model):
        id = pw.AutoField()
        company = pw.ForeignKeyField(column_name='company_id', field='id', model=migrator.orm['company'], on_delete='CASCADE', unique=True)
        stripe_payment_method_id = pw.CharField(max_length=64)
        brand = pw.CharField(max_length=20, default="")
        last4 = pw.CharField(max_length=4, default="")
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "bureau_card"

    @migrator.create_model
    class BureauStep(pw.Model):
        id = pw.AutoField()
        user = pw.ForeignKeyField(column_name='user_id', field='id', model=migrator.orm['user'], on_delete='CASCADE')
        company = pw.ForeignKeyField(column_name='company_id', field='id', model=migrator.orm['company'], on_delete='CASCADE')
        app = pw.ForeignKeyField(column_name='app_id', field='id', model=migrator.orm['app'], on_delete='CASCADE')
        plan = pw.ForeignKeyField(column_name='plan_id', field='id', model=migrator.orm['plan'], null=True, on_delete='SET NULL')
        payer = pw.CharField(max_length=10, default="client")
        position = pw.IntegerField(default=0)
        state = pw.CharField(max_length=12, default="waiting")
        detail = pw.TextField(default="")
        url = pw.TextField(default="")
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "bureau_step"

    @migrator.create_model
    class BureauSubscription(pw.Model):
        id = pw.AutoField()
        stripe_subscription_id = pw.CharField(max_length=64, unique=True)
        bureau = pw.ForeignKeyField(column_name='bureau_id', field='id', model=migrator.orm['company'], on_delete='CASCADE')
        company = pw.ForeignKeyField(column_name='company_id', field='id', model=migrator.orm['company'], on_delete='CASCADE')
        app = pw.ForeignKeyField(column_name='app_id', field='id', model=migrator.orm['app'], on_delete='CASCADE')
        user = pw.ForeignKeyField(column_name='user_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL')
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "bureau_subscription"


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_model('bureau_subscription')
    migrator.remove_model('bureau_step')
    migrator.remove_model('bureau_card')
