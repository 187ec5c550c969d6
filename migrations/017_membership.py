"""Peewee migrations -- 017_membership.py: every company a user belongs to (issue T, bureaus;
models.Membership). Each user with a company gets the membership of that company, with its role.
Company.public_id already exists (random, unique, never the row id)."""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    @migrator.create_model
    class Membership(pw.Model):
        id = pw.AutoField()
        user = pw.ForeignKeyField(column_name='user_id', field='id', model=migrator.orm['user'], on_delete='CASCADE')
        company = pw.ForeignKeyField(column_name='company_id', field='id', model=migrator.orm['company'], on_delete='CASCADE')
        role = pw.CharField(max_length=10)
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "membership"
            indexes = ((("user", "company"), True),)

    migrator.sql('INSERT INTO membership (user_id, company_id, role, created_at) '
                 'SELECT id, company_id, COALESCE(company_role, \'member\'), created_at FROM "user" '
                 'WHERE company_id IS NOT NULL')


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_model('membership')
