"""Hot read queries compiled to SQL once, then run with new values.

peewee builds a query's SQL anew on every call, and for the queries every request runs (the
session's user, the store generation, an API token with its grant) that building cost 0.3-0.9 ms,
ten to twenty times the query itself. `select(key, build, *args)` builds the peewee query once per
database with stand-in values, remembers its SQL and where each argument goes, and afterwards only
executes that SQL and turns the rows into the same model instances peewee would (joined models
included). Arguments are str, int or naive datetimes (never None: `== None` would change the
SQL; an INSERT leaves a None column out instead, under its own key). `execute` does the same for
an INSERT or UPDATE and returns the number of rows it changed.
"""
import datetime

from models import db

_INT_MARK = -7_391_000_000_000  # an id or number no query here is ever asked for
_DATETIME_MARK = datetime.datetime(1901, 2, 3, 4, 5, 6)  # naive UTC, like every market time
# What a peewee cursor wrapper keeps about one execution; the rest is the column layout.
_CURSOR_STATE = frozenset({"cursor", "count", "index", "initialized", "populated", "row_cache"})


def _marks(args):
    marks = []
    for i, value in enumerate(args):
        if isinstance(value, datetime.datetime):
            marks.append(_DATETIME_MARK + datetime.timedelta(seconds=i))
        elif isinstance(value, bool) or not isinstance(value, (int, str)):
            raise TypeError(f"prepared queries take str, int or datetime arguments, not {type(value).__name__}")
        else:
            marks.append(_INT_MARK - i if isinstance(value, int) else f"\x00prepared-{i}\x00")
    return marks


def _compile(build, args):
    marks = _marks(args)
    query = build(*marks)
    sql, params = query.sql()
    slots, seen = [], set()
    for param in params:
        position = next((i for i, mark in enumerate(marks) if type(param) is type(mark) and param == mark), None)
        slots.append((position, param))
        seen.add(position)
    if len(seen - {None}) != len(marks):
        # A build that transforms its argument cannot be replayed with a new value.
        raise ValueError("every argument must appear unchanged among the query's parameters")
    return query, sql, slots, None


def select(key, build, *args):
    """The rows (model instances) of `build(*args)`, a peewee select whose SQL is built once
    per database and `key`. `key` names the query's shape; `build` must use its arguments only
    as values compared in the query."""
    engine = db.obj
    # Kept on the database object: SQLite and PostgreSQL quote and mark parameters differently.
    cache = engine.__dict__.setdefault("_market_prepared", {})
    entry = cache.get(key)
    if entry is None:
        entry = cache[key] = _compile(build, args)
    query, sql, slots, layout = entry
    cursor = engine.execute_sql(sql, [param if position is None else args[position] for position, param in slots])
    rows = query._get_cursor_wrapper(cursor)
    if layout is not None:
        # peewee works out which column goes to which model and converter on every execution
        # (most of the cost of a row of five joined models); the SQL is the same, so is that.
        rows.__dict__.update(layout)
        rows.initialized = True
    result = list(rows)
    if layout is None and rows.initialized:
        cache[key] = (query, sql, slots, {k: v for k, v in rows.__dict__.items() if k not in _CURSOR_STATE})
    return result


def first(key, build, *args):
    """The first row of `select`, or None; `build` should limit itself to one row."""
    rows = select(key, build, *args)
    return rows[0] if rows else None


def execute(key, build, *args):
    """Run `build(*args)`, a peewee INSERT or UPDATE, its SQL built once per database and `key`;
    the number of rows changed."""
    engine = db.obj
    cache = engine.__dict__.setdefault("_market_prepared", {})
    entry = cache.get(key)
    if entry is None:
        entry = cache[key] = _compile(build, args)
    _, sql, slots, _ = entry
    cursor = engine.execute_sql(sql, [param if position is None else args[position] for position, param in slots])
    return cursor.rowcount


# A list longer than this is built anew every time rather than kept once per length.
MOST_LISTED = 64


def select_listed(key, build, args, *lists):
    """`select` of a query that also takes lists of values (`IN (...)`, for many rows at once):
    the rows of `build(*args, *lists)`, each list given to `build` as a list. Its SQL is built
    once per database, `key` and lengths of the lists (up to MOST_LISTED values each; longer
    lists are built anew every time). An empty list gives peewee's `IN ()` that matches nothing."""
    lists = [list(values) for values in lists]
    if any(len(values) > MOST_LISTED for values in lists):
        return list(build(*args, *lists))
    lengths = [len(values) for values in lists]
    shape = f"{key}/{'/'.join(map(str, lengths))}"
    n = len(args)

    def replay(*values):
        out, start = list(values[:n]), n
        for length in lengths:
            out.append(list(values[start:start + length]))
            start += length
        return build(*out)

    return select(shape, replay, *args, *(value for values in lists for value in values))
