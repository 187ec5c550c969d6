"""Peewee migrations -- 003_subscription_change.py: each subscription's MRR history
(models.SubscriptionChange), written wherever a subscription's status or price changes, so the
developer dashboard's past months use the price paid then."""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    @migrator.create_model
    class SubscriptionChange(pw.Model):
        id = pw.AutoField()
        subscription = pw.ForeignKeyField(column_name='subscription_id', field='id',
                                          model=migrator.orm['subscription'], on_delete='CASCADE')
        company = pw.ForeignKeyField(column_name='company_id', field='id', model=migrator.orm['company'],
                                     on_delete='CASCADE')
        app = pw.ForeignKeyField(column_name='app_id', field='id', model=migrator.orm['app'], on_delete='CASCADE')
        developer = pw.ForeignKeyField(column_name='developer_id', field='id', model=migrator.orm['developer'],
                                       on_delete='CASCADE')
        at = pw.DateTimeField()
        kind = pw.CharField(max_length=20)
        mrr_before_ore = pw.IntegerField()
        mrr_after_ore = pw.IntegerField()
        imported = pw.BooleanField(default=False)

        class Meta:
            table_name = "subscription_change"
            indexes = [(('developer', 'at'), False), (('subscription', 'at'), False)]


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_model('subscription_change')
