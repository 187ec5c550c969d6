"""Peewee migrations -- 005_trust.py: every developer gets a test company (models.Company
`test_of_developer`, its users its admins), a company keeps the address it registered from, a
review can be taken out of the totals (`removed_at`), and a connection's API use is kept per day
(models.ConnectionUseDay) for the free apps' verified customers (DESIGN.md §3)."""
import datetime
import secrets

import peewee as pw
from peewee_migrate import Migrator


def _test_company_name(vendor):
    return (vendor or "Developer")[:113] + " (test)"


def give_developers_test_companies(database):
    """One test company per developer that has none; its users without a company become its admins."""
    p = database.param
    developers = database.execute_sql(
        "SELECT id, name FROM developer WHERE id NOT IN "
        "(SELECT test_of_developer_id FROM company WHERE test_of_developer_id IS NOT NULL) ORDER BY id").fetchall()
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    for developer_id, vendor in developers:
        database.execute_sql(
            "INSERT INTO company (public_id, name, org_number, industry, size, show_name_in_reviews, "
            f"share_org_number, imported, created_at, test_of_developer_id) VALUES ({p}, {p}, {p}, {p}, {p}, "
            f"{p}, {p}, {p}, {p}, {p})",
            (secrets.token_urlsafe(12), _test_company_name(vendor), f"TEST-{developer_id}", "other", "1-9",
             False, False, False, now, developer_id))
        (company_id,) = database.execute_sql(
            f"SELECT id FROM company WHERE test_of_developer_id = {p}", (developer_id,)).fetchone()
        database.execute_sql(
            f"UPDATE \"user\" SET company_id = {p}, company_role = 'admin' "
            f"WHERE developer_id = {p} AND company_id IS NULL", (company_id, developer_id))


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.add_fields(
        "company",
        test_of_developer=pw.ForeignKeyField(column_name="test_of_developer_id", field="id",
                                             model=migrator.orm["developer"], null=True, unique=True,
                                             on_delete="CASCADE"),
        registered_from=pw.CharField(max_length=64, null=True, index=True),
    )
    migrator.add_fields("review", removed_at=pw.DateTimeField(null=True))

    @migrator.create_model
    class ConnectionUseDay(pw.Model):
        id = pw.AutoField()
        connection = pw.ForeignKeyField(column_name="connection_id", field="id",
                                        model=migrator.orm["connection"], on_delete="CASCADE")
        day = pw.DateField()

        class Meta:
            table_name = "connection_use_day"
            indexes = [(("connection", "day"), True)]

    if not fake:
        migrator.run(give_developers_test_companies, database)


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_model("connection_use_day")
    migrator.sql("UPDATE \"user\" SET company_id = NULL, company_role = NULL WHERE company_id IN "
                 "(SELECT id FROM company WHERE test_of_developer_id IS NOT NULL)")
    migrator.sql("DELETE FROM company WHERE test_of_developer_id IS NOT NULL")
    migrator.remove_fields("review", "removed_at")
    migrator.remove_fields("company", "test_of_developer", "registered_from")
