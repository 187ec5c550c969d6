"""Peewee migrations -- 013_statement_month.py: a developer's statement kept as it stood when its
month closed (issue U item 4, models.StatementMonth), so a closed month never changes."""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    @migrator.create_model
    class StatementMonth(pw.Model):
        id = pw.AutoField()
        developer = pw.ForeignKeyField(column_name='developer_id', field='id', model=migrator.orm['developer'],
                                       on_delete='CASCADE')
        month = pw.CharField(max_length=7)
        body = pw.TextField()
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "statement_month"
            indexes = ((("developer", "month"), True),)


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_model('statement_month')
