"""The sandbox's own catalogue (stripe_sandbox/words.py): every text its pages pass to `word`
has Swedish, and a translation keeps its placeholders."""
import ast
import re
from pathlib import Path

from stripe_sandbox import words

PAGES = Path(words.__file__).with_name("pages.py")
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def said_in_pages():
    """The literal texts of every word(lang, "...") in pages.py (both arms of a conditional too)."""
    found = set()
    for node in ast.walk(ast.parse(PAGES.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "word" and len(node.args) >= 2:
            text = node.args[1]
            for part in ([text.body, text.orelse] if isinstance(text, ast.IfExp) else [text]):
                if isinstance(part, ast.Constant) and isinstance(part.value, str):
                    found.add(part.value)
    return found


def test_every_text_of_the_pages_has_swedish():
    said = said_in_pages()
    assert len(said) > 30  # the walk finds the pages' texts
    assert not sorted(said - set(words.SV))


def test_a_translation_keeps_its_placeholders():
    bad = [k for k, v in words.SV.items() if sorted(PLACEHOLDER.findall(k)) != sorted(PLACEHOLDER.findall(v))]
    assert not bad


def test_the_language_of_a_locale():
    assert [words.language(x) for x in (None, "", "auto", "sv", "sv-SE", "de", "en", "en-GB", "EN")] == [
        "sv", "sv", "sv", "sv", "sv", "sv", "en", "en", "en"]
    assert words.money(123450, "sv") == "1\xa0234,50 kr" and words.money(123450, "en") == "1,234.50 kr"
