"""Peewee migrations -- 008_login_sessions.py: a server-side row per login (models.LoginSession)
replaces the session epoch in the cookie (issue O), and on SQLite the ids of users, companies
and login sessions become AUTOINCREMENT, so a deleted row's id is never given to a new one.

SQLite cannot add AUTOINCREMENT to a table: each is rebuilt (new table, copy, drop, rename) with
foreign keys off, as SQLite's documentation describes, so dropping the old table cascades to
nothing; the rows that reference it keep their ids. PostgreSQL's sequences never reuse an id."""

import peewee as pw
from peewee_migrate import Migrator

PLAIN_KEY = '"id" INTEGER NOT NULL PRIMARY KEY'


def _rebuild_with_autoincrement(database, table):
    (create_sql,) = database.execute_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()
    if "AUTOINCREMENT" in create_sql.upper():
        return
    if PLAIN_KEY not in create_sql:
        raise RuntimeError(f"unexpected primary key in {table}: {create_sql}")
    indexes = [row[0] for row in database.execute_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL", (table,))]
    columns = ", ".join(f'"{row[1]}"' for row in database.execute_sql(f'PRAGMA table_info("{table}")'))
    new_table = f"{table}__rebuilt"
    head, rest = create_sql.split("(", 1)
    database.execute_sql(f'CREATE TABLE "{new_table}" (' + rest.replace(PLAIN_KEY, PLAIN_KEY + " AUTOINCREMENT", 1))
    database.execute_sql(f'INSERT INTO "{new_table}" ({columns}) SELECT {columns} FROM "{table}"')
    database.execute_sql(f'DROP TABLE "{table}"')
    database.execute_sql(f'ALTER TABLE "{new_table}" RENAME TO "{table}"')
    for index_sql in indexes:
        database.execute_sql(index_sql)
    # The copy left a row for the table in sqlite_sequence (renamed with it): one row, the
    # highest id, from which every new id counts up.
    database.execute_sql("DELETE FROM sqlite_sequence WHERE name = ?", (table,))
    database.execute_sql("INSERT INTO sqlite_sequence (name, seq) "
                         f'SELECT ?, COALESCE(MAX(id), 0) FROM "{table}"', (table,))


LOGIN_SESSION_SQLITE = [
    'CREATE TABLE "login_session" ("id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, '
    '"public_id" VARCHAR(32) NOT NULL, "secret_hash" VARCHAR(64) NOT NULL, "user_id" INTEGER NOT NULL, '
    '"device" VARCHAR(200) NOT NULL, "address" VARCHAR(64) NOT NULL, "created_at" DATETIME NOT NULL, '
    '"last_seen" DATETIME NOT NULL, FOREIGN KEY ("user_id") REFERENCES "user" ("id") ON DELETE CASCADE)',
    'CREATE UNIQUE INDEX "login_session_public_id" ON "login_session" ("public_id")',
    'CREATE UNIQUE INDEX "login_session_secret_hash" ON "login_session" ("secret_hash")',
    'CREATE INDEX "login_session_user_id" ON "login_session" ("user_id")',
]


def _sqlite_now(database):
    """Runs at once, in the migration's own transaction (the router's, not a savepoint):
    PRAGMA foreign_keys is ignored inside a transaction, so that one is committed, the tables
    rebuilt in one of our own with foreign keys off and checked, and a transaction opened again
    for the router to record the migration in."""
    database.execute_sql('ALTER TABLE "user" DROP COLUMN "session_epoch"')
    for statement in LOGIN_SESSION_SQLITE:
        database.execute_sql(statement)
    database.execute_sql("COMMIT")
    database.execute_sql("PRAGMA foreign_keys = OFF")
    try:
        database.execute_sql("BEGIN IMMEDIATE")
        for table in ("user", "company"):
            _rebuild_with_autoincrement(database, table)
        problems = database.execute_sql("PRAGMA foreign_key_check").fetchall()
        if problems:
            database.execute_sql("ROLLBACK")
            raise RuntimeError(f"foreign keys broken by the rebuild: {problems[:5]}")
        database.execute_sql("COMMIT")
    finally:
        database.execute_sql("PRAGMA foreign_keys = ON")
        database.execute_sql("BEGIN IMMEDIATE")


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    sqlite = isinstance(getattr(database, "obj", database), pw.SqliteDatabase)  # a proxy or the database
    if sqlite and not fake:
        _sqlite_now(database)

    def schema():
        migrator.remove_fields("user", "session_epoch")

        @migrator.create_model
        class LoginSession(pw.Model):
            id = pw.AutoField()
            public_id = pw.CharField(max_length=32, unique=True)
            secret_hash = pw.CharField(max_length=64, unique=True)
            user = pw.ForeignKeyField(column_name="user_id", field="id", model=migrator.orm["user"],
                                      on_delete="CASCADE")
            device = pw.CharField(max_length=200, default="")
            address = pw.CharField(max_length=64, default="")
            created_at = pw.DateTimeField()
            last_seen = pw.DateTimeField()

            class Meta:
                table_name = "login_session"

    if sqlite:
        with migrator.fake():  # done above; the migrator's picture of the schema follows
            schema()
    else:
        schema()


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_model("login_session")
    migrator.add_fields("user", session_epoch=pw.IntegerField(default=0))
