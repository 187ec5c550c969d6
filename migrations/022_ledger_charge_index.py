"""Peewee migrations -- 022_ledger_charge_index.py: ledger rows found by their charge (issue R).

Whether a company's payment for an app was refunded in full sums the rows of the same charge;
without an index that scanned the whole ledger once per payment row, on every app page a
customer opens (market.reviews.customers)."""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.add_index("ledger_entry", "stripe_charge_id")


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.drop_index("ledger_entry", "stripe_charge_id")
