"""The catalogues (issue Q): every message the market's code and templates mark has a Swedish
translation, a message translated in two areas reads the same in both, and a translation keeps
its placeholders. Run alone, it lists what is missing: `pytest tests/core/test_words.py -q`."""
import re
from pathlib import Path

from babel.messages.extract import extract_from_dir

from market.core import words

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None,
            "say": (2,), "say_plural": (2, 3), "marked": None}
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def marked_messages():
    """{msgid: "file:line"} of every message marked in the market (babel.cfg's sources)."""
    found = {}
    method_map = [("market/**.py", "python"), ("views/**.py", "python"), ("stripe_sandbox/**.py", "python"),
                  ("app.py", "python"), ("templates/**.html", "jinja2"),
                  ("stripe_sandbox/templates/**.html", "jinja2")]
    for filename, _line, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map=method_map, keywords=KEYWORDS,
            options_map={"templates/**.html": {"extensions": "jinja2.ext.i18n"}}):
        for one in (message[:1] if isinstance(message, tuple) else (message,)):  # a plural: its singular names it
            if one:
                found.setdefault(one, f"{filename}:{_line}")
    return found


def test_every_marked_message_has_a_swedish_translation():
    swedish = words.read_catalogue(words.SWEDISH)
    known = {m.id if isinstance(m.id, str) else m.id[0] for m in swedish if m.id and m.string} if swedish else set()
    missing = {msgid: where for msgid, where in marked_messages().items() if msgid not in known}
    assert not missing, "no Swedish for:\n" + "\n".join(f"  {where}: {msgid!r}" for msgid, where in sorted(
        missing.items(), key=lambda item: item[1]))


def test_a_message_in_two_areas_reads_the_same_and_keeps_its_placeholders():
    seen = {}
    problems = []
    from babel.messages.pofile import read_po
    for path in words.catalogue_files(words.SWEDISH):
        with path.open("rb") as handle:
            for message in read_po(handle, locale="sv"):
                if not message.id or not message.string:
                    continue
                msgid = message.id if isinstance(message.id, str) else message.id[0]
                string = message.string if isinstance(message.string, str) else message.string[0]
                if sorted(PLACEHOLDER.findall(msgid)) != sorted(PLACEHOLDER.findall(string)):
                    problems.append(f"{path.name}: {msgid!r} → {string!r} changes the placeholders")
                if msgid in seen and seen[msgid][1] != string:
                    problems.append(f"{path.name} and {seen[msgid][0]}: {msgid!r} reads {string!r} and {seen[msgid][1]!r}")
                seen.setdefault(msgid, (path.name, string))
    assert not problems, "\n".join(problems)


def test_swedish_is_what_a_reader_without_a_choice_gets_and_english_translates_nothing():
    assert words.say("sv", "%(amount)s/month excl. VAT", amount="199 kr") == "199 kr/mån exkl. moms"
    assert words.say(None, "%(amount)s/month excl. VAT", amount="199 kr") == "199 kr/mån exkl. moms"
    assert words.say("en", "%(amount)s/month excl. VAT", amount="199 kr") == "199 kr/month excl. VAT"
    assert words.say("xx", "Buy") == "\u27e6Buy\u27e7"
