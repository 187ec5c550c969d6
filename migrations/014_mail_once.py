"""Peewee migrations -- 014_mail_once.py: mail sent once per event (models.MailOnce): a
receipt per invoice, a refund per refund id, a review decision per revision."""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    @migrator.create_model
    class MailOnce(pw.Model):
        id = pw.AutoField()
        key = pw.CharField(max_length=200, unique=True)
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "mail_once"


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_model('mail_once')
