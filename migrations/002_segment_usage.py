"""Peewee migrations -- 002_segment_usage.py: kept counts of companies per industry, size and
app for Recommended (models.SegmentUsage), filled by the co-usage rebuild."""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    @migrator.create_model
    class SegmentUsage(pw.Model):
        id = pw.AutoField()
        industry = pw.CharField(max_length=40)
        size = pw.CharField(max_length=16)
        app = pw.ForeignKeyField(column_name='app_id', field='id', model=migrator.orm['app'], null=True,
                                 on_delete='CASCADE')
        companies = pw.IntegerField()

        class Meta:
            table_name = "segment_usage"
            indexes = [(('industry', 'app', 'size'), True)]


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_model('segment_usage')
