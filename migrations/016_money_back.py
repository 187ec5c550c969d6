"""Peewee migrations -- 016_money_back.py: a company's money back for an app, once per company
and app ever (issue T, models.MoneyBack)."""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    @migrator.create_model
    class MoneyBack(pw.Model):
        id = pw.AutoField()
        company = pw.ForeignKeyField(column_name='company_id', field='id', model=migrator.orm['company'], on_delete='CASCADE')
        app = pw.ForeignKeyField(column_name='app_id', field='id', model=migrator.orm['app'], on_delete='CASCADE')
        subscription = pw.ForeignKeyField(column_name='subscription_id', field='id', model=migrator.orm['subscription'], null=True, on_delete='SET NULL')
        user = pw.ForeignKeyField(column_name='user_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL')
        error = pw.TextField(default="")
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "money_back"
            indexes = ((("company", "app"), True),)


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_model('money_back')
