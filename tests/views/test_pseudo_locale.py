"""Every word a person reads goes through the catalogues (issue Q, deliverable 5).

The market runs with the pseudo-locale: every message comes back marked, ⟦Buy⟧. Every GET page
of the URL map is rendered as every role (and the demo logins' pages), whole and as HTMX
fragments, and every visible text node, and every alt, title, placeholder, aria-label and
button value, must be marked or data: values from the database or the request, numbers,
amounts, dates, the name "App Market". A word left over is a string that a Swedish reader
would see in English.
"""
import re
from html.parser import HTMLParser

import pytest

from market.core import words
from models import MODELS
from tests.views.test_html_valid import (  # noqa: F401
    DEMO_ROLES,
    EXTRA_PAGES,
    NOT_HTML,
    ROLES,
    _clients,
    _demo_pages,
    seeded_world,
)
from tests.views.test_no_server_errors import _urls, sandbox, world  # noqa: F401

MARKED = re.compile(re.escape(words.MARK_OPEN) + "[^" + re.escape(words.MARK_OPEN + words.MARK_CLOSE) + "]*"
                    + re.escape(words.MARK_CLOSE))
WORD = re.compile(r"[^\W\d_]+")
# Words that are data by nature: the market's name, the currency, Babel's month and weekday
# names (dates are data), each language's own name in the switch.
ALWAYS_DATA = {"App", "Market", "kr", "öre", "Svenska", "English", "SEK", "CSV", "xx", "Werkzeug"} | {
    m.strip(".") for m in ("jan. feb. mars apr. maj juni juli aug. sep. okt. nov. dec. "
                           "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec").split()}
READ_ATTRIBUTES = ("alt", "title", "placeholder", "aria-label")
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@pytest.fixture
def app_config(sandbox):  # noqa: F811
    from stripe_sandbox.testing import API_KEY

    return {"STRIPE_API_BASE": sandbox.url, "STRIPE_SECRET_KEY": API_KEY, "PSEUDO_LOCALE": True}


class _Readable(HTMLParser):
    """The text a person reads on a page: text nodes outside script/style/code, and the
    attributes a screen reader or a browser shows."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.pieces, self._skip = [], 0
        self._english = []  # open elements: True where lang="en" declares the words English
        # Open elements: True for an app's icon badge, which shows the app's initial (data: the
        # first letter of its name, no word of the market's).
        self._initial = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag not in VOID:
            self._english.append(attrs.get("lang") == "en" and tag != "a")
            self._initial.append("app-icon" in (attrs.get("class") or "").split())
        if tag in ("script", "style", "code", "pre", "svg"):
            self._skip += 1
        if any(self._english):
            return  # declared English: the developer guide, as the platform's API docs (issue Q)
        for name in READ_ATTRIBUTES:
            if attrs.get(name):
                self.pieces.append((f"<{tag} {name}>", attrs[name]))
        # An <input type=submit>'s value is its label; a <button>'s value is never shown (decision=allow).
        if attrs.get("value") and tag == "input" and attrs.get("type") in ("submit", "button"):
            self.pieces.append((f"<{tag} value>", attrs["value"]))

    def handle_endtag(self, tag):
        if tag not in VOID and self._english:
            self._english.pop()
            self._initial.pop()
        if tag in ("script", "style", "code", "pre", "svg") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip and data.strip() and not any(self._english) and not any(self._initial):
            self.pieces.append(("text", data))


def _unmarked_words(text, data_words):
    rest = text
    while True:  # marks may nest: ⟦From ⟦16 dec.⟧ …⟧
        shorter = MARKED.sub(" ", rest)
        if shorter == rest:
            break
        rest = shorter
    # A message holding markup ("the address /apps/<code>slug</code>. It cannot…") is cut by its
    # elements: the text before a lone closing mark and after a lone opening one is the message's.
    if words.MARK_CLOSE in rest:
        rest = rest.rsplit(words.MARK_CLOSE, 1)[1]
    if words.MARK_OPEN in rest:
        rest = rest.split(words.MARK_OPEN, 1)[0]
    return [w for w in WORD.findall(rest) if w not in data_words and w not in ALWAYS_DATA]


def _data_words(db):
    """Every word stored in the database's text columns: names, taglines, emails, reviews."""
    found = set()
    for model in MODELS:
        columns = [f.column_name for f in model._meta.sorted_fields
                   if f.field_type in ("VARCHAR", "TEXT", "CHAR")]
        if not columns:
            continue
        for row in model.select(*[model._meta.columns[c] for c in columns]).tuples().iterator():
            for value in row:
                if value:
                    found.update(WORD.findall(str(value)))
    return found


def _every_page(app, seeded_world, language=None):  # noqa: F811 (the fixture's value)
    """(who, url, response) for every GET page as every role and the demo logins, whole and
    as an HTMX fragment."""
    rules = sorted((r for r in app.url_map.iter_rules() if "GET" in r.methods and r.endpoint not in NOT_HTML),
                   key=lambda r: ("logout" in r.rule, r.rule))
    pages = [(r.endpoint, _urls(r, seeded_world["real"], varied=False)[0]) for r in rules]
    pages += EXTRA_PAGES + seeded_world["extra"]
    jobs = [(role, client, pages) for role, client in _clients(app, ROLES).items()]
    demo = _demo_pages(rules)
    jobs += [(role, client, demo) for role, client in _clients(app, DEMO_ROLES).items()]
    for role, client, role_pages in jobs:
        if language:
            client.set_cookie("lang", language)  # beats the test users' saved English
        for _endpoint, url in role_pages:
            for htmx in (False, True):
                response = client.get(url, headers={"HX-Request": "true"} if htmx else {})
                if response.mimetype != "text/html" or 300 <= response.status_code < 400:
                    continue
                yield f"{role} GET {url}{' (htmx)' if htmx else ''}", url, response


def test_no_page_shows_a_word_that_did_not_go_through_the_catalogues(app, seeded_world):  # noqa: F811
    from models import db

    data_words = _data_words(db)
    found, rendered = {}, 0
    for who, url, response in _every_page(app, seeded_world):
        rendered += 1
        data = data_words | set(WORD.findall(url))  # the request's own values are data too
        parser = _Readable()
        parser.feed(response.get_data(as_text=True))
        for where, text in parser.pieces:
            if _unmarked_words(text, data):
                found.setdefault(" ".join(text.split())[:120], f"{who} {where}")
    assert rendered > 400
    assert not found, f"{len(found)} texts a reader sees untranslated:\n" + "\n".join(
        f"  {where}: {text!r}" for text, where in sorted(found.items(), key=lambda item: item[1]))


# An amount as English writes it ("149.50 kr", "1,234 kr") or as a machine does ("SEK 149").
ENGLISH_AMOUNT = re.compile(r"\d[.,]\d{3}(?:\s|\u00a0)?kr|\d\.\d{2}(?:\s|\u00a0)?kr|\bSEK\b")


def test_no_swedish_page_writes_an_amount_with_a_decimal_point(app, seeded_world):  # noqa: F811
    app.config["PSEUDO_LOCALE"] = False  # the real Swedish pages, as a reader without a choice sees them
    found = {}
    for who, _url, response in _every_page(app, seeded_world, "sv"):
        html = response.get_data(as_text=True)
        assert '<html lang="sv"' in html or not html.lstrip().lower().startswith("<!doctype"), who
        parser = _Readable()
        parser.feed(html)
        for _where, text in parser.pieces:
            for amount in ENGLISH_AMOUNT.findall(text):
                found.setdefault(amount, who)
    assert not found, "amounts written the English way on Swedish pages:\n" + "\n".join(
        f"  {where}: {amount!r}" for amount, where in found.items())


def test_the_pseudo_locale_marks_what_goes_through_the_catalogues(app, client):
    page = client.get("/login").get_data(as_text=True)
    assert words.MARK_OPEN in page
    assert '<html lang="sv"' in page  # the pseudo-locale stands for the default language
