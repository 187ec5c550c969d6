"""Peewee migrations -- 018_language.py: a user's saved language (issue Q): "sv", "en" or none,
when the browser's Accept-Language decides."""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.add_fields("user", language=pw.CharField(max_length=5, null=True))


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_fields("user", "language")
