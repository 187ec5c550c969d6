"""The sample integration's words, Swedish first and English on request.

A separate program from the market, so it keeps its own catalogue in its own folder
(translations/sv/LC_MESSAGES/messages.po: msgid the English text, msgstr the Swedish), read and
compiled in memory at start with Babel, as the market does with its own: no build step. The
reader's language is the browser's `Accept-Language` when it asks for English, else Swedish
(the market's customers are Swedish companies).

Templates write `{{ _("Connect to App Market") }}`, with values `{{ _("Welcome to %(app)s", app=app_name) }}`;
Python writes `say("Not connected")`.
"""
import io
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from flask import g, has_request_context, request

SWEDISH, ENGLISH = "sv", "en"
LANGUAGES = (SWEDISH, ENGLISH)  # the first is the default
CATALOGUE = Path(__file__).resolve().parent / "translations" / SWEDISH / "LC_MESSAGES" / "messages.po"


def _compile(path):
    with path.open("rb") as handle:
        catalogue = read_po(handle, locale=SWEDISH)
    buffer = io.BytesIO()
    write_mo(buffer, catalogue)
    buffer.seek(0)
    return Translations(fp=buffer)


TRANSLATIONS = {SWEDISH: _compile(CATALOGUE), ENGLISH: NullTranslations()}


def language():
    """The reader's language for this request: English when the browser prefers it, else Swedish."""
    if not has_request_context():
        return SWEDISH
    if "sample_language" not in g:
        g.sample_language = request.accept_languages.best_match(LANGUAGES) or SWEDISH
    return g.sample_language


def gettext(text):
    return TRANSLATIONS[language()].gettext(text)


def ngettext(singular, plural, n):
    return TRANSLATIONS[language()].ngettext(singular, plural, n)


def say(text, **values):
    """`text` in the reader's language, with %(name)s placeholders filled."""
    text = gettext(text)
    return text % values if values else text


def init_app(app):
    """Templates get `_()` (jinja's i18n, newstyle: values as keywords) and `html_lang`; every
    answer varies with Accept-Language, since its words do."""
    app.jinja_env.add_extension("jinja2.ext.i18n")
    app.jinja_env.install_gettext_callables(gettext, ngettext, newstyle=True)
    app.context_processor(lambda: {"html_lang": language()})

    @app.after_request
    def vary(response):
        response.vary.add("Accept-Language")
        return response
