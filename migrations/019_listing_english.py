"""Peewee migrations -- 019_listing_english.py: a listing may carry English texts beside its
Swedish ones (issue Q 4): `tagline_en` and `description_en` (with its sanitised rendering),
shown on the English interface; empty, the interface shows the listing's own texts."""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.add_fields("app", tagline_en=pw.CharField(max_length=140, default=""),
                        description_en=pw.TextField(default=""), description_html_en=pw.TextField(default=""))


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_fields("app", "tagline_en", "description_en", "description_html_en")
