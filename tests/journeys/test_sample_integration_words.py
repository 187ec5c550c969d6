"""Issue Q: the sample integration speaks Swedish first and English with `Accept-Language: en`,
from its own catalogue in its own folder (examples/sample_integration/translations)."""
import re
import time
from pathlib import Path
from urllib.parse import urlencode

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from examples.sample_integration import security, words
from examples.sample_integration.app import create_app as create_integration
from tests.journeys.test_sample_integration import CLIENT_ID, CLIENT_SECRET, LANDING_SECRET, signed

FOLDER = Path(words.__file__).resolve().parent
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def integration():
    return create_integration("http://127.0.0.1:1", CLIENT_ID, CLIENT_SECRET, "http://127.0.0.1:2/callback",
                              LANDING_SECRET, secret_key="k").test_client()


def swedish():
    with words.CATALOGUE.open("rb") as handle:
        return {m.id: m.string for m in read_po(handle, locale="sv") if m.id and m.string}


def test_without_accept_language_it_speaks_swedish_and_with_en_english():
    client = integration()
    page = client.get("/").get_data(as_text=True)
    assert page.startswith('<!doctype html>\n<html lang="sv">')
    assert "<h1>Välkommen till Sample Integration</h1>" in page and "<strong>Aktivera</strong>" in page
    assert '<a href="http://127.0.0.1:1/apps/sample-integration">Sample Integration på App Market</a>' in page
    english = client.get("/", headers={"Accept-Language": "en"})
    assert '<html lang="en">' in english.get_data(as_text=True)
    assert "<h1>Welcome to Sample Integration</h1>" in english.get_data(as_text=True)
    assert "Accept-Language" in english.headers["Vary"]
    assert '<html lang="sv">' in client.get("/", headers={"Accept-Language": "de, sv;q=0.5"}).get_data(as_text=True)
    # security.check_landing's English answer, on the page in the reader's words.
    stale = client.get("/?" + urlencode(signed(int(time.time()) - 400))).get_data(as_text=True)
    assert "<h1>Länken kan inte användas</h1>" in stale and "Länken från App Market har gått ut." in stale
    assert "Please start again" not in stale


def test_every_message_of_its_pages_and_of_the_landing_check_has_swedish():
    marked = set()
    for _name, _line, message, _comments, _context in extract_from_dir(
            str(FOLDER), method_map=[("**.py", "python"), ("templates/**.html", "jinja2")],
            keywords={"_": None, "gettext": None, "say": None},
            options_map={"templates/**.html": {"extensions": "jinja2.ext.i18n"}}):
        marked.add(message)
    source = (FOLDER / "security.py").read_text()
    answers = set(re.findall(r'return "([A-Z][^"]+\.)"', source.split("def check_landing")[1].split("\ndef ")[0]))
    assert len(marked) > 30 and len(answers) == 5
    known = swedish()
    assert not sorted((marked | answers) - set(known))
    bad = [k for k, v in known.items() if sorted(PLACEHOLDER.findall(k)) != sorted(PLACEHOLDER.findall(v))]
    assert not bad
    assert security.check_landing({}, CLIENT_ID, LANDING_SECRET) in known
