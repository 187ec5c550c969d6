"""`/developers/docs` (issue S, deliverable 5): its sections, its Python verification snippet
run on a notification the market really signed and sent, and its curl lines run against a
live market (and the notification curl against a live sample integration)."""
import html
import json
import os
import re
import subprocess
import threading

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from examples.sample_integration.app import create_app as create_integration
from market.catalog import listings
from market.notifications import outbox
from tests import factories
from tests.journeys.test_sample_integration import LiveServer

SECTIONS = ("oauth", "scopes", "landing", "notifications", "rate-limits", "errors", "openapi")


def snippet(page, name):
    match = re.search(rf'<code class="language-\w+" data-snippet="{name}">(.*?)</code>', page, re.S)
    assert match, name
    return html.unescape(match.group(1))


def test_the_guide_has_its_sections_and_is_linked_from_the_credentials_page(client, app):
    page = client.get("/developers/docs")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    for section in SECTIONS:
        assert f'id="{section}"' in text
    assert "/api/v1/openapi.json" in text and "examples/sample_integration" in text
    developer = factories.developer()
    user = factories.user(developer=developer)
    listing = factories.app_listing(developer_obj=developer, slug="my-app")
    factories.oauth_client(listing)
    login = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', login).group(1)
    client.post("/login", data={"email": user.email, "password": factories.PASSWORD, "csrf_token": token})
    credentials_page = client.get("/developer/apps/my-app/credentials").get_data(as_text=True)
    assert 'href="/developers/docs"' in credentials_page


class Capture:
    """An app's notification endpoint that keeps what it was sent."""

    def __init__(self):
        self.received = []

        @Request.application
        def endpoint(request):
            self.received.append((request.get_data(), request.headers.get("Market-Signature")))
            return Response("{}", content_type="application/json")

        self.server = make_server("127.0.0.1", 0, endpoint, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_the_python_snippet_verifies_a_notification_the_market_signed(client, app):
    capture = Capture()
    app.config["OUTBOUND_ALLOWED_ORIGINS"] = capture.url
    try:
        listing = factories.app_listing(webhook_url=capture.url + "/notifications")
        factories.oauth_client(listing)
        company = factories.company()
        row = outbox.enqueue(listing, "subscription.updated", company, {"subscription": {"status": "active"}})
        assert outbox.deliver(app.config, row)
    finally:
        capture.server.shutdown()
    body, header = capture.received[0]
    namespace = {}
    exec(snippet(client.get("/developers/docs").get_data(as_text=True), "verify-notification"), namespace)  # noqa: S102
    verify = namespace["verify_notification"]
    secret = listings.landing_secret(app.config["SECRET_KEY"], listing)
    assert verify(body, header, secret) is True
    assert verify(body + b" ", header, secret) is False
    assert verify(body, header, "another-secret") is False
    assert verify(body, None, secret) is False


def run_shell(script, env):
    return subprocess.run(["bash", "-e", "-c", script], env={"PATH": os.environ["PATH"], **env},
                          capture_output=True, text=True, timeout=60)


def test_the_curl_lines_work_against_a_live_market_and_sample_integration(app):
    market = LiveServer()
    app.config["MARKET_URL"] = market.url
    listing = factories.app_listing(slug="curl-app")
    factories.oauth_client(listing, client_id="curl-app-client", secret="curl-app-secret")
    company = factories.company(name="Curl AB")
    access_token = factories.issue_token(factories.connection(company, listing, scopes="companyinformation"))
    market.start(app)
    try:
        page = app.test_client().get("/developers/docs").get_data(as_text=True)
        script = snippet(page, "curl")
        assert script.startswith(f"MARKET={market.url}\n")
        lines = [line for line in script.splitlines() if line.startswith("curl ")]
        assert len(lines) == 4
        outputs = []
        for line in lines:
            result = run_shell(script.splitlines()[0] + "\n" + line,
                               {"ACCESS_TOKEN": access_token, "CLIENT_ID": "curl-app-client",
                                "CLIENT_SECRET": "curl-app-secret"})
            assert result.returncode == 0, (line, result.stderr)
            outputs.append(json.loads(result.stdout))
        assert outputs[0]["issuer"].rstrip("/") == market.url
        assert "paths" in outputs[1]
        assert outputs[2]["CompanyInformation"]["CompanyName"] == "Curl AB"
        assert outputs[3]["active"] is True

        # The notification curl, against the sample integration that verifies it.
        sample = LiveServer()
        sample.start(create_integration(market.url, "curl-app-client", "curl-app-secret",
                                        sample.url + "/callback", "the-landing-secret", secret_key="k"))
        try:
            notify = snippet(page, "curl-notification")
            sent = run_shell(notify, {"LANDING_SECRET": "the-landing-secret", "APP_URL": sample.url})
            assert sent.returncode == 0 and json.loads(sent.stdout) == {"received": True}, sent.stderr
            forged = run_shell(notify, {"LANDING_SECRET": "a-wrong-secret", "APP_URL": sample.url})
            assert forged.returncode != 0  # curl -f: the integration answered 400
        finally:
            sample.stop()
    finally:
        market.stop()
