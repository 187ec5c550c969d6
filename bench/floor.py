"""The floor of a benchmark scenario (issue R): a bare WSGI callable that, per request, runs the
SQL statements the market ran for one request of the scenario, on the same database with the
same driver, and answers with the bytes the market answered, under the same gunicorn
(gunicorn.conf.py, the same workers and threads) and the same wrk driver. What it costs is what
the scenario costs without Flask, Jinja, peewee's query building and the market's own Python:
when a scenario misses its target and its floor misses it too, the target is beyond the machine.

    gunicorn -c gunicorn.conf.py 'bench.floor:create_app()'   # BENCH_FLOOR_RECORDING, DATABASE_URL

`bench/run.py --floor` records one request per scenario through the market
(bench/market_app.py, `X-Bench-Record`: its statements with their parameters and its
transactions' BEGIN / COMMIT / ROLLBACK in order, its status, headers and body) and runs the
floor right after the scenario, beside it in the same run.

Kept honest: the connection is the market's (`market.data.database.open_database`: the same
driver, pooled class, pragmas and `BEGIN IMMEDIATE` on SQLite), every statement is executed and
its rows fetched, the request body is read, and transactions commit where the market's did
(durability as configured for the market). An INSERT's parameters that must be unique (token
hashes, event ids: strings of 16 or more letters, digits, `_` or `-`) get fresh values of the
same length each time, so a write is a write and not a constraint error; other statements keep
the recorded parameters (an UPDATE guarded by "not yet used" then changes no row, which is
cheaper than the market's, so the floor stays a floor). The rows its INSERTs added are deleted
after the run (`clean_up`).
"""
import os
import pickle
import re
import secrets
import string
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

RECORD_HEADER = "X-Bench-Record"
UNIQUE_LOOKING = re.compile(r"^[A-Za-z0-9_\-]{16,}$")
HEX = re.compile(r"^[0-9a-f]+$")
INSERT_TABLE = re.compile(r'^\s*INSERT\s+(?:OR\s+\w+\s+)?INTO\s+"?(\w+)"?', re.IGNORECASE)
ALPHABET = string.ascii_letters + string.digits


def load(path):
    with open(path, "rb") as f:
        return pickle.load(f)


def summary(path):
    recording = load(path)
    return {"statements": sum(kind == "sql" for kind, _, _ in recording["statements"]),
            "body_bytes": len(recording["body"])}


def _fresh(value):
    if HEX.match(value):
        return secrets.token_hex(len(value) // 2 + 1)[:len(value)]
    return "".join(secrets.choice(ALPHABET) for _ in range(len(value)))


def _plan(statements):
    """(kind, sql, params, fresh) per recorded step; `fresh` lists the positions of an INSERT's
    parameters that get new values per request."""
    steps = []
    for kind, sql, params in statements:
        fresh = ()
        if kind == "sql" and INSERT_TABLE.match(sql):
            fresh = tuple(i for i, v in enumerate(params) if isinstance(v, str) and UNIQUE_LOOKING.match(v))
        steps.append((kind, sql, tuple(params), fresh))
    return steps


def create_app():
    from market.data import database as market_database

    recording = load(os.environ["BENCH_FLOOR_RECORDING"])
    database = market_database.open_database(os.environ["DATABASE_URL"])
    steps = _plan(recording["statements"])
    status, headers, body = recording["status"], recording["headers"], recording["body"]

    def floor(environ, start_response):
        length = environ.get("CONTENT_LENGTH")
        if length:
            environ["wsgi.input"].read(int(length))
        connection = database.connection()  # this thread's, opened once (the market's pool class)
        for kind, sql, params, fresh in steps:
            if kind == "begin":
                database.begin()
            elif kind == "commit":
                database.commit()
            elif kind == "rollback":
                database.rollback()
            else:
                if fresh:
                    params = list(params)
                    for i in fresh:
                        params[i] = _fresh(params[i])
                cursor = connection.cursor()
                cursor.execute(sql, params)
                if cursor.description is not None:
                    cursor.fetchall()
                cursor.close()
        start_response(status, list(headers))
        return [body]

    return floor


def _inserted_tables(path):
    tables = []
    for kind, sql, _ in load(path)["statements"]:
        match = INSERT_TABLE.match(sql) if kind == "sql" else None
        if match and match.group(1) not in tables:
            tables.append(match.group(1))
    return tables


def table_marks(url, path):
    """The largest id of each table the recording inserts into, before the floor runs."""
    from market.data import database as market_database

    database = market_database.open_database(url)
    with database.connection_context():
        return {t: database.execute_sql(f'SELECT COALESCE(MAX(id), 0) FROM "{t}"').fetchone()[0]
                for t in _inserted_tables(path)}


def clean_up(url, path, marks):
    """Delete what the floor's INSERTs added (rows above the marks: the market is idle meanwhile)."""
    from market.data import database as market_database

    database = market_database.open_database(url)
    placeholder = "%s" if market_database.is_postgres(database) else "?"
    with database.connection_context(), database.atomic():
        for table, mark in marks.items():
            database.execute_sql(f'DELETE FROM "{table}" WHERE id > {placeholder}', (mark,))
