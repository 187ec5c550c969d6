"""Words: the market's catalogues, for every room and every page (DESIGN.md §10).

Messages are written in English in the code and templates (the msgid); Swedish, the market's
first language, comes from the catalogues under `translations/sv/*.po`, one file per area of
the product so each area keeps its own words. They are read and compiled in memory when the
market starts, so no build step can be forgotten and a fresh clone speaks Swedish at once.

Domain code (mail, notices) cannot read the request, so it names the reader's locale itself:
`say(locale, "Your receipt for %(app)s", app=name)`. The web glue (views/locale.py) hands
Flask-Babel the same translations for templates, flashes and form errors.
"""
import io
import pathlib
import threading

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

SWEDISH = "sv"
ENGLISH = "en"
LANGUAGES = (SWEDISH, ENGLISH)  # the first is the default
DEFAULT = SWEDISH
NAMES = {SWEDISH: "Svenska", ENGLISH: "English"}  # each language in its own words

ROOT = pathlib.Path(__file__).resolve().parents[2] / "translations"
# The pseudo-locale of the tests: every message comes back between these marks, so a test can
# tell text that went through a catalogue from text that did not.
PSEUDO = "xx"
MARK_OPEN, MARK_CLOSE = "\u27e6", "\u27e7"

_lock = threading.Lock()
_loaded = {}


def supported(code):
    """`code` when the market speaks it ("sv", "en"), else None."""
    code = (code or "").strip().lower()
    return code if code in LANGUAGES else None


def catalogue_files(locale, root=ROOT):
    return sorted((root / locale).glob("*.po"))


def read_catalogue(locale, root=ROOT):
    """Every area's messages for `locale`, merged into one babel Catalog (a message translated
    in two areas must read the same in both; tests/core/test_words.py checks it)."""
    merged = None
    for path in catalogue_files(locale, root):
        with path.open("rb") as handle:
            catalogue = read_po(handle, locale=locale)
        if merged is None:
            merged = catalogue
            continue
        for message in catalogue:
            if message.id and message.string:
                merged[message.id] = message
    return merged


class _Pseudo(NullTranslations):
    """Every message marked: ⟦Buy⟧. Placeholders stay usable, so "%(n)s apps" still formats."""

    def gettext(self, message):
        return f"{MARK_OPEN}{message}{MARK_CLOSE}"

    def ngettext(self, singular, plural, n):
        return self.gettext(singular if n == 1 else plural)

    def pgettext(self, context, message):
        return self.gettext(message)

    def npgettext(self, context, singular, plural, n):
        return self.ngettext(singular, plural, n)

    ugettext = gettext
    ungettext = ngettext


def translations(locale):
    """The compiled translations of `locale` (English, the msgids' language, translates nothing)."""
    if locale == PSEUDO:
        return _Pseudo()
    if locale not in _loaded:
        with _lock:
            if locale not in _loaded:
                _loaded[locale] = _compile(locale)
    return _loaded[locale]


def _compile(locale):
    if locale == ENGLISH:
        return NullTranslations()
    catalogue = read_catalogue(locale)
    if catalogue is None:
        return NullTranslations()
    buffer = io.BytesIO()
    write_mo(buffer, catalogue)
    buffer.seek(0)
    return Translations(fp=buffer)


def reload():
    """Forget the compiled catalogues (tests that write a catalogue)."""
    with _lock:
        _loaded.clear()


def say(locale, message, **values):
    """`message` in `locale`, with %(name)s placeholders filled: for text the domain writes
    (mail subjects and bodies, notices) where no request says who reads it."""
    text = translations(supported(locale) or (PSEUDO if locale == PSEUDO else DEFAULT)).gettext(message)
    return text % values if values else text


def say_plural(locale, singular, plural, n, **values):
    text = translations(supported(locale) or (PSEUDO if locale == PSEUDO else DEFAULT)).ngettext(singular, plural, n)
    return text % {"n": n, **values}


def marked(message):
    """A message the catalogues must know, written where it is defined but translated where it
    is shown (a constant, a choice list): `_N("Bookkeeping")`, later `say(locale, label)`."""
    return message


def _said_values(values, locale):
    return {name: value.said_in(locale) if isinstance(value, (Phrase, Refusal)) else
            value(locale) if callable(value) else value for name, value in values.items()}


class Refusal(Exception):
    """A domain refusal that a person reads: its English message (a msgid) and the values of
    its placeholders, so the view can say it in the reader's language. `str()` and `.message`
    are the English sentence (logs and tests read those)."""

    def __init__(self, message, **values):
        self.msgid, self.values = message, values
        self.message = self.said_in(ENGLISH)
        super().__init__(self.message)

    def said_in(self, locale):
        """A value may be a Phrase, or a function of the locale (an amount, a date), said too."""
        return say(locale, self.msgid, **_said_values(self.values, locale))


class Phrase:
    """Text the domain composes for a page (a recommendation's reason, a review's author line),
    kept as its msgid and values so each reader gets it in their language; `str()` is the
    English. A value may itself be a Phrase (an industry's name inside a sentence)."""

    __slots__ = ("msgid", "values")

    def __init__(self, message, **values):
        self.msgid, self.values = message, values

    def said_in(self, locale):
        """A value may be a Phrase, or a function of the locale (an amount, a date), said too."""
        return say(locale, self.msgid, **_said_values(self.values, locale))

    def __str__(self):
        return self.said_in(ENGLISH)

    def __eq__(self, other):
        return str(self) == str(other)

    def __hash__(self):
        return hash(str(self))

    def __bool__(self):
        return bool(self.msgid)
