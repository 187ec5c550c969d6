"""Hot read queries compiled to SQL once, then run with new values.

peewee builds a query's SQL anew on every call, and for the queries every request runs (the
session's user, the store generation, an API token with its grant) that building cost 0.3-0.9 ms,
ten to twenty times the query itself. `select(key, build, *args)` builds the peewee query once per
database with stand-in values, remembers its SQL and where each argument goes, and afterwards only
executes that SQL and turns the rows into the same model instances peewee would (joined models
included, built by `_plan` below without peewee's per-column setattr). Arguments are str, int or naive datetimes (never None: `== None` would change the
SQL; an INSERT leaves a None column out instead, under its own key). `execute` does the same for
an INSERT or UPDATE and returns the number of rows it changed.
"""
import datetime

import peewee

from models import db

# The peewee versions whose cursor-wrapper internals (`_row_spec`, `_constructor_list`,
# `src_to_dest`, `_dest_reachable`) `_plan` reads; with any other version `select` lets peewee's
# own wrapper build every row, and tests/data/test_prepared.py fails until this is checked again.
PEEWEE_CHECKED = ("4.5.3",)

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
    return query, sql, slots, None, None


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
    query, sql, slots, layout, plan = entry
    cursor = engine.execute_sql(sql, [param if position is None else args[position] for position, param in slots])
    if plan is not None:
        return [_build(plan, row) for row in cursor.fetchall()]
    rows = query._get_cursor_wrapper(cursor)
    if layout is not None:
        # peewee works out which column goes to which model and converter on every execution
        # (most of the cost of a row of five joined models); the SQL is the same, so is that.
        rows.__dict__.update(layout)
        rows.initialized = True
    result = list(rows)
    if layout is None and rows.initialized:
        cache[key] = (query, sql, slots, {k: v for k, v in rows.__dict__.items() if k not in _CURSOR_STATE},
                      _plan(rows))
    return result


def _plan(wrapper):
    """How to build a row of a joined select the way peewee's ModelCursorWrapper.process_row
    does (the same instances, __data__, __rel__ and clean _dirty), straight into each
    instance's __data__: peewee's setattr per column through the field descriptors was most of
    an API call's token lookup (five joined models, 70 columns). None (peewee builds the rows)
    for shapes it does not cover: a single model, dicts, aliases, non-FK joins, another peewee."""
    if peewee.__version__ not in PEEWEE_CHECKED or type(wrapper) is not peewee.ModelCursorWrapper:
        return None
    columns = {}
    for index, key, column, converter in wrapper._row_spec:
        if not peewee.is_model(key) or column not in key._meta.fields:
            return None
        columns.setdefault(key, []).append((index, column, converter))
    models = []
    for key, constructor, is_model in wrapper._constructor_list:
        if not is_model or constructor is not key:
            return None
        models.append((key, tuple(columns.get(key, ()))))
    joins = []
    for source, attr, dest, is_dict, is_outer, is_fk in wrapper.src_to_dest:
        if is_dict or not is_fk:
            return None
        joins.append((source, attr, dest, is_outer, wrapper._dest_reachable.get(dest, frozenset()),
                      source._meta.fields[attr].rel_field.name))
    return wrapper.model, tuple(models), tuple(joins)


def _build(plan, row):
    root, models, joins = plan
    objects, filled = {}, set()
    for key, columns in models:
        instance = objects[key] = key(__no_default__=True)
        data = instance.__data__
        for index, column, converter in columns:
            value = row[index]
            if value is not None:
                filled.add(key)
            data[column] = value if converter is None else converter(value)
    for source, attr, dest, is_outer, reachable, rel_name in joins:
        if dest not in filled and not (reachable & filled):
            # Nothing of the joined row: an inner join leaves the attribute alone, an outer join
            # marks the row as verified absent (peewee's None in __rel__, the FK id kept).
            if is_outer and source in filled:
                objects[source].__rel__[attr] = None
            continue
        joined = objects[dest]
        objects[source].__data__[attr] = getattr(joined, rel_name)
        objects[source].__rel__[attr] = joined
    return objects[root]


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
    _, sql, slots, _, _ = entry
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
