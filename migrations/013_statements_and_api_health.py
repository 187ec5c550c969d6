"""Peewee migrations -- 013_statements_and_api_health.py: a developer's statement kept as it stood
when its month closed (issue U item 4, models.StatementMonth), so a closed month never changes;
and each app's API health per day (issue U item 3: calls, errors, latency histogram, throttled
companies)."""

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

    @migrator.create_model
    class ApiHealthDay(pw.Model):
        id = pw.AutoField()
        app = pw.ForeignKeyField(column_name='app_id', field='id', model=migrator.orm['app'], on_delete='CASCADE')
        day = pw.DateField()
        calls = pw.IntegerField(default=0)
        client_errors = pw.IntegerField(default=0)
        server_errors = pw.IntegerField(default=0)
        throttled = pw.IntegerField(default=0)
        refresh_failed = pw.IntegerField(default=0)
        token_errors = pw.IntegerField(default=0)
        jump_mailed_at = pw.DateTimeField(null=True)
        updated_at = pw.DateTimeField()

        class Meta:
            table_name = "api_health_day"
            indexes = ((("app", "day"), True),)

    @migrator.create_model
    class ApiHealthLatency(pw.Model):
        id = pw.AutoField()
        app = pw.ForeignKeyField(column_name='app_id', field='id', model=migrator.orm['app'], on_delete='CASCADE')
        day = pw.DateField()
        bucket_ms = pw.IntegerField()
        calls = pw.IntegerField(default=0)

        class Meta:
            table_name = "api_health_latency"
            indexes = ((("app", "day", "bucket_ms"), True),)

    @migrator.create_model
    class ApiHealthThrottle(pw.Model):
        id = pw.AutoField()
        app = pw.ForeignKeyField(column_name='app_id', field='id', model=migrator.orm['app'], on_delete='CASCADE')
        day = pw.DateField()
        company = pw.ForeignKeyField(column_name='company_id', field='id', model=migrator.orm['company'],
                                     on_delete='CASCADE')
        throttled = pw.IntegerField(default=0)

        class Meta:
            table_name = "api_health_throttle"
            indexes = ((("app", "day", "company"), True),)


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_model('api_health_throttle')
    migrator.remove_model('api_health_latency')
    migrator.remove_model('api_health_day')
    migrator.remove_model('statement_month')
