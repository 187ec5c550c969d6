"""Peewee migrations -- 006_listing_revision.py: after approval, changes to a listing wait as a
revision until the admin approves them (models.ListingRevision, market/catalog/revisions.py);
an app's vendor name can differ from its developer's (App.vendor_name)."""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.add_fields('app', vendor_name=pw.CharField(max_length=120, null=True))

    @migrator.create_model
    class ListingRevision(pw.Model):
        id = pw.AutoField()
        app = pw.ForeignKeyField(column_name='app_id', field='id', model=migrator.orm['app'],
                                 on_delete='CASCADE')
        fields = pw.TextField()
        status = pw.CharField(max_length=10)
        reason = pw.TextField()
        created_at = pw.DateTimeField()
        decided_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "listing_revision"

    # At most one pending revision per app, whatever two requests do at once.
    migrator.sql("CREATE UNIQUE INDEX listing_revision_one_pending ON listing_revision (app_id) "
                 "WHERE status = 'pending'")


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_model('listing_revision')
    migrator.remove_fields('app', 'vendor_name')
