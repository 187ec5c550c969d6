"""One blueprint per area (DESIGN.md §4). Views parse input, call a domain function, render or
redirect.

This package holds only what every view shares (`render_page`, `wants_fragment`) and imports
none of its own modules: the blueprints are put on the app by `views.blueprints`."""
from flask import make_response, render_template, request
from jinja2_fragments.flask import render_block


def wants_fragment():
    """HTMX asked for part of a page. A history restore needs the whole page, or the back
    button would show a bare fragment (DESIGN.md §4)."""
    return (request.headers.get("HX-Request") == "true"
            and request.headers.get("HX-History-Restore-Request") != "true")


def render_page(template, block=None, status=200, **context):
    """The full page, or only `block` of it when HTMX asked for a fragment."""
    if block and wants_fragment():
        body = render_block(template, block, **context)
    else:
        body = render_template(template, **context)
    response = make_response(body, status)
    response.vary.add("HX-Request")
    return response



def confirm_page(action, title, button, back, lines=(), fields=None, danger=False, amount_line=None,
                 reason=None, reason_value=None, back_label=None, status=200):
    """The question before an action (issue P): a page of its own for a GET on the action's
    path, or only its question in place when HTMX asked. Its one primary button posts the
    action's own fields to `action`; the POST needs nothing more to act."""
    confirm = {"action": action, "title": title, "button": button, "back": back, "lines": list(lines),
               "fields": fields or {}, "danger": danger, "amount_line": amount_line, "reason": reason,
               "reason_value": reason_value, "back_label": back_label}
    return render_page("confirm.html", "question", status=status, confirm=confirm)
