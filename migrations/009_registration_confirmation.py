"""Peewee migrations -- 009_registration_confirmation.py: a registration confirms its email
address before its company may buy, consent, rate or invite (issue N); the address it came
from is kept. Everyone who has an account today counts as confirmed."""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.add_fields("user", confirmed_at=pw.DateTimeField(null=True),
                        registered_from=pw.CharField(max_length=64, null=True))
    migrator.sql('UPDATE "user" SET confirmed_at = created_at WHERE confirmed_at IS NULL')


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_fields("user", "confirmed_at", "registered_from")
