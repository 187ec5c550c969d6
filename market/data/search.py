"""The store's full-text search: one interface, a backend per engine.

The `app_search` table has a different shape on each engine (the migrations and
`database.create_tables_for_tests` make it): on SQLite an FTS5 virtual table whose rowid is the
app's id, one column per field; on PostgreSQL a tsvector per app with a GIN index, the name
weighted above the rest. Everything engine-specific about searching and keeping that table is
here; callers (market.catalog.store) hand over words and app ids and never see the difference.

Words are split and lower-cased by Python (`words`), for the index and for queries alike, so
both engines see the same words: PostgreSQL's parser would otherwise drop `<tag>`-like text and
fold non-ASCII case by the server's locale, and no user input ever reaches FTS or tsquery syntax.
"""
import re
from dataclasses import dataclass

from peewee import SQL

from market.data import database
from models import db

# A word: letters and digits (any script), nothing else.
_WORD = re.compile(r"[^\W_]+")
# Rows written per statement: well below both engines' limits on bound parameters.
BATCH = 500


def words(text):
    """The words of `text` as the index and the queries both see them: lower-cased, in order."""
    return _WORD.findall((text or "").lower())


@dataclass(frozen=True)
class Document:
    """What the index keeps of one app, each field as space-separated `words`."""
    app_id: int
    name: str
    tagline: str
    description: str
    category: str


class _SqliteSearch:
    """FTS5: a prefix query per word, every word required."""

    def matching_ids(self, tokens):
        match = " ".join(f'"{t}"*' for t in tokens)
        return SQL("(SELECT rowid FROM app_search WHERE app_search MATCH ?)", [match])

    def write(self, documents):
        self.remove([d.app_id for d in documents])
        values = ", ".join("(?, ?, ?, ?, ?)" for _ in documents)
        params = [value for d in documents for value in (d.app_id, d.name, d.tagline, d.description, d.category)]
        db.execute_sql("INSERT INTO app_search (rowid, name, tagline, description, category) VALUES " + values,
                       params)

    def remove(self, app_ids):
        marks = ", ".join("?" for _ in app_ids)
        db.execute_sql(f"DELETE FROM app_search WHERE rowid IN ({marks})", list(app_ids))


class _PostgresSearch:
    """tsvector and to_tsquery with the 'simple' configuration (no stemming, no stop words): a
    prefix query per word, every word required; the name weighs more than the rest."""

    def matching_ids(self, tokens):
        tsquery = " & ".join(f"{t}:*" for t in tokens)
        return SQL("(SELECT app_id FROM app_search WHERE document @@ to_tsquery('simple', %s))", [tsquery])

    def write(self, documents):
        self.remove([d.app_id for d in documents])
        values = ", ".join("(%s, setweight(to_tsvector('simple', %s), 'A') || to_tsvector('simple', %s))"
                           for _ in documents)
        params = [value for d in documents
                  for value in (d.app_id, d.name, " ".join([d.tagline, d.description, d.category]))]
        db.execute_sql("INSERT INTO app_search (app_id, document) VALUES " + values, params)

    def remove(self, app_ids):
        db.execute_sql("DELETE FROM app_search WHERE app_id = ANY(%s)", [list(app_ids)])


_SQLITE = _SqliteSearch()
_POSTGRES = _PostgresSearch()


def _backend():
    return _POSTGRES if database.is_postgres(db) else _SQLITE


def matching_ids(tokens):
    """A subquery of the ids of apps whose name, tagline, description or category contain every
    token as a word prefix, for `App.id.in_(...)`. `tokens` are `words`, at least one."""
    return _backend().matching_ids(tokens)


def write(documents):
    """(Re)write the index rows of these apps."""
    documents = list(documents)
    backend = _backend()
    for start in range(0, len(documents), BATCH):
        backend.write(documents[start:start + BATCH])


def remove(app_ids):
    """Take these apps out of the index."""
    app_ids = list(app_ids)
    backend = _backend()
    for start in range(0, len(app_ids), BATCH):
        backend.remove(app_ids[start:start + BATCH])


def clear():
    """Empty the index (before a rebuild)."""
    db.execute_sql("DELETE FROM app_search")
