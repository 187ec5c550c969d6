"""Search through app_search: FTS5 on SQLite, tsvector on PostgreSQL, one function."""
import pytest

from market.catalog import store
from models import App, Category
from tests import factories


def found(q):
    return {App.get_by_id(app_id).slug for app_id in store.search_app_ids(q)}


@pytest.fixture
def catalogue(app):
    with app.app_context():
        transport = factories.category("transport", "Transport & åkeri")
        yield {
            "akeri": factories.app_listing(slug="akeri-planering", name="Åkeri Planering",
                                           tagline="Orders and drivers for hauliers", category=transport),
            "tid": factories.app_listing(slug="tidrapport", name="Tidrapport Enkel",
                                         tagline="Simple time reports"),
            "lon": factories.app_listing(slug="lonekollen", name="Lönekollen",
                                         tagline="Payroll with tax tables",
                                         description="<p>Semesterlöner och <strong>ÖVERTID</strong></p>"),
            "draft": factories.app_listing(slug="utkast", name="Tidrapport Utkast", status="draft"),
        }


def test_swedish_letters_match_in_any_case(catalogue):
    for q in ("åkeri", "ÅKERI", "Åkeri", "åKeRi planering"):
        assert found(q) == {"akeri-planering"}, q
    assert found("lönekollen") == found("LÖNEKOLLEN") == {"lonekollen"}
    # å is not a: a search for "akeri" is not a search for "åkeri".
    assert found("akeri") == set()


def test_prefixes_match_and_every_word_must_match(catalogue):
    assert found("tid") == {"tidrapport"}  # the draft with the same name is never found
    assert found("TIDRAP enk") == {"tidrapport"}
    assert found("tid payroll") == set()
    assert found("pay") == {"lonekollen"}


def test_search_covers_tagline_description_and_category(catalogue):
    assert found("hauliers") == {"akeri-planering"}
    assert found("övertid") == {"lonekollen"}           # from the description, markup stripped
    assert found("strong") == set()                      # the markup itself is not indexed
    assert found("transport") == {"akeri-planering"}     # the category's name


HOSTILE_QUERIES = ['"', "'", "*", "tid*", "tid OR lön", "NEAR(tid lön)", "-tid", "name:tid", "tid & lön",
                   "tid | lön", "!tid", "(", "tid:*", "\\", "%", "_", "\x00", "💥", "a" * 500,
                   " ".join(["tid"] * 50), "tid'); DROP TABLE app; --"]


def test_query_syntax_of_either_engine_is_only_ever_words(catalogue):
    for q in HOSTILE_QUERIES:
        result = found(q)  # never an error
        tokens = store.search_tokens(q)
        assert all(token.isalnum() for token in tokens), q
        assert len(tokens) <= store.MAX_QUERY_TOKENS, q
        if tokens and all("tidrapport".startswith(t) for t in tokens):
            assert result == {"tidrapport"}, q
    assert App.select().count() == 4


def test_reindexing_follows_the_listing(catalogue):
    listing = catalogue["tid"]
    listing.name = "Stämpelklocka"
    listing.save()
    store.index_app(listing)
    assert found("stämpel") == {"tidrapport"}
    assert found("tidrapport") == set()
    store.remove_from_index(listing)
    assert found("stämpel") == set()
    store.index_all()  # a rebuild puts it back
    assert found("stämpel") == {"tidrapport"}


def test_index_app_bumps_the_store_generation(catalogue):
    before = store.store_generation()
    store.index_app(catalogue["lon"])
    assert store.store_generation() == before + 1
    assert Category.select().count() >= 2
