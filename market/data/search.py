"""The store's full-text search: one interface, a backend per engine.

The `app_search` table has a different shape on each engine (the migrations and
`database.create_tables_for_tests` make it): on SQLite an FTS5 virtual table whose rowid is the
app's id, one column per field; on PostgreSQL a tsvector per app with a GIN index, the name
weighted above the rest. Everything engine-specific about searching and keeping that table is
here; callers (market.catalog.store) hand over words and app ids and never see the difference.

Words are split, lower-cased and folded by Python (`words`: å, ä → a, ö → o, é → e), for the
index and for queries alike, so both engines see the same words: PostgreSQL's parser would
otherwise drop `<tag>`-like text and fold non-ASCII case by the server's locale, and no user
input ever reaches FTS or tsquery syntax.

A query word of MIN_INNER letters or more matches any word that contains it ("faktura" finds
Konsultfaktura): besides its words the index keeps each word's inner parts (`parts`: every suffix
of MIN_INNER letters or more but the word itself), so "contains" is a prefix query on a suffix,
which both engines answer from their index (FTS5's term index; the GIN index of the tsvector),
never by scanning rows. Shorter query words match word prefixes only. `matching_ids`' tiers tell
the matches apart: whole words first, then prefixes, then inner parts.
"""
import re
import unicodedata
from dataclasses import dataclass

from peewee import SQL

from market.data import database
from models import db

# A word: letters and digits (any script), nothing else.
_WORD = re.compile(r"[^\W_]+")
# Rows written per statement: well below both engines' limits on bound parameters.
BATCH = 500


# A query word this long matches inside words, not only at their start.
MIN_INNER = 3
# Inner parts are kept of this many letters of a word at most (queries are cut as long).
MAX_PART_WORD = 40


def fold(text):
    """Lower case without diacritics: "Stämpla" → "stampla", "Åkeri" → "akeri", "Café" → "cafe"."""
    decomposed = unicodedata.normalize("NFKD", (text or "").lower())
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))


def words(text):
    """The words of `text` as the index and the queries both see them: folded, in order."""
    return _WORD.findall(fold(text))


def parts(word_list):
    """The inner parts of these words, each once: every suffix of at least MIN_INNER letters
    except the whole word ("tidrapport" → "idrapport", "drapport", …, "ort")."""
    seen, out = set(), []
    for word in word_list:
        word = word[:MAX_PART_WORD]
        for start in range(1, len(word) - MIN_INNER + 1):
            part = word[start:]
            if part not in seen:
                seen.add(part)
                out.append(part)
    return out


@dataclass(frozen=True)
class Document:
    """What the index keeps of one app, each field as space-separated `words`."""
    app_id: int
    name: str
    tagline: str
    description: str
    category: str

    @property
    def parts(self):
        return " ".join(parts(" ".join([self.name, self.tagline, self.description, self.category]).split()))


WORD_COLUMNS = "{name tagline description category}"


class _SqliteSearch:
    """FTS5: a prefix query per word, every word required; the `parts` column holds the inner
    parts, searched only for words of MIN_INNER letters or more."""

    def _match(self, tokens, tier):
        terms = []
        for t in tokens:
            if tier == EXACT:
                terms.append(f'{WORD_COLUMNS} : "{t}"')
            elif tier == PREFIX or len(t) < MIN_INNER:
                terms.append(f'{WORD_COLUMNS} : "{t}"*')
            else:
                terms.append(f'"{t}"*')
        return " AND ".join(terms)

    def matching_ids(self, tokens, tier):
        return SQL("(SELECT rowid FROM app_search WHERE app_search MATCH ?)", [self._match(tokens, tier)])

    def write(self, documents):
        self.remove([d.app_id for d in documents])
        values = ", ".join("(?, ?, ?, ?, ?, ?)" for _ in documents)
        params = [value for d in documents
                  for value in (d.app_id, d.name, d.tagline, d.description, d.category, d.parts)]
        db.execute_sql("INSERT INTO app_search (rowid, name, tagline, description, category, parts) VALUES "
                       + values, params)

    def remove(self, app_ids):
        marks = ", ".join("?" for _ in app_ids)
        db.execute_sql(f"DELETE FROM app_search WHERE rowid IN ({marks})", list(app_ids))


class _PostgresSearch:
    """tsvector and to_tsquery with the 'simple' configuration (no stemming, no stop words): a
    prefix query per word, every word required; the name weighs more than the rest (A), the
    other words are B, the inner parts D and searched only for words of MIN_INNER letters or
    more (a weight-restricted query, `word:*AB`, still uses the GIN index)."""

    def _tsquery(self, tokens, tier):
        terms = []
        for t in tokens:
            if tier == EXACT:
                terms.append(f"{t}:AB")
            elif tier == PREFIX or len(t) < MIN_INNER:
                terms.append(f"{t}:*AB")
            else:
                terms.append(f"{t}:*")
        return " & ".join(terms)

    def matching_ids(self, tokens, tier):
        return SQL("(SELECT app_id FROM app_search WHERE document @@ to_tsquery('simple', %s))",
                   [self._tsquery(tokens, tier)])

    def write(self, documents):
        self.remove([d.app_id for d in documents])
        values = ", ".join("(%s, setweight(to_tsvector('simple', %s), 'A') || setweight(to_tsvector('simple', %s), "
                           "'B') || setweight(to_tsvector('simple', %s), 'D'))"
                           for _ in documents)
        params = [value for d in documents
                  for value in (d.app_id, d.name, " ".join([d.tagline, d.description, d.category]), d.parts)]
        db.execute_sql("INSERT INTO app_search (app_id, document) VALUES " + values, params)

    def remove(self, app_ids):
        db.execute_sql("DELETE FROM app_search WHERE app_id = ANY(%s)", [list(app_ids)])


_SQLITE = _SqliteSearch()
_POSTGRES = _PostgresSearch()


def _backend():
    return _POSTGRES if database.is_postgres(db) else _SQLITE


# How a token matches: a whole word, a word's start, or (MIN_INNER letters or more) anywhere.
EXACT, PREFIX, INNER = "exact", "prefix", "inner"


def matching_ids(tokens, tier=INNER):
    """A subquery of the ids of apps whose name, tagline, description or category match every
    token (INNER: contain it, a short one as a word prefix; PREFIX: as a word prefix; EXACT: as
    a whole word), for `App.id.in_(...)`. `tokens` are `words`, at least one."""
    return _backend().matching_ids(tokens, tier)


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
