"""Issue N item 7 (SSRF): an app's webhook URL pointing inside the market's network. The market
POSTs app events to the URL a developer gave; before, that could be the Stripe sandbox's
control endpoints (reset wiped all Stripe state), loopback on any port, or 169.254.169.254.
Now every call goes through market/outbound/http.py: the address is checked at send time for
every address the name resolves to and for the one actually connected to, no redirect is
followed; and the developer's form refuses such URLs in the first place.

Each attack is made through the market over HTTP: the developer's form, or a customer's Revoke
whose connection.revoked event the market then sends to the webhook URL (written straight to
the database, as an attacker who got past an older form would have left it)."""
import datetime
import json
import socket
import ssl
import time

import pytest
import requests

from market import config as market_config
from market.catalog import revisions
from market.notifications import outbox
from market.outbound import http as outbound_http
from models import App, AppNotification, Connection, Developer
from stripe_sandbox.testing import API_KEY, start_sandbox
from tests import factories
from tests.outbound.receivers import Receiver


@pytest.fixture
def sandbox():
    handle = start_sandbox()
    yield handle
    handle.stop()


def revoke_over_http(auth, webhook_url):
    """An app with `webhook_url`, a customer connected to it who presses Revoke: the market
    queues connection.revoked for the app. Returns the app."""
    listing = factories.app_listing(webhook_url=webhook_url)
    factories.oauth_client(listing)
    admin = getattr(auth, "customer", None)
    if admin is None:  # one customer per test, logged in once
        admin = auth.customer = factories.customer_admin()
        assert auth.login(admin.email).status_code == 303
    factories.connection(admin.company, listing)
    assert auth.post(f"/account/connections/{listing.slug}/revoke").status_code in (200, 303)
    assert Connection.get(Connection.app == listing).revoked_at is not None
    assert AppNotification.select().where(AppNotification.app == listing).count() == 1
    return listing


def the_row(listing):
    return AppNotification.get(AppNotification.app == listing)


@pytest.fixture
def connections(monkeypatch):
    """Every TCP connection the outbound module opens, by address (they still go through)."""
    opened = []
    real = outbound_http.open_socket

    def recording(address, port, timeout):
        opened.append((address, port))
        return real(address, port, timeout)

    monkeypatch.setattr(outbound_http, "open_socket", recording)
    return opened


def fake_dns(monkeypatch, answers):
    """Names the test's DNS answers (a list, or a callable giving the next answer); every other
    name resolves as usual. Returns the list of names asked."""
    asked = []
    real = outbound_http.resolve

    def resolve(host, port):
        asked.append(host)
        if host in answers:
            answer = answers[host]
            return list(answer() if callable(answer) else answer)
        return real(host, port)

    monkeypatch.setattr(outbound_http, "resolve", resolve)
    return asked


# ---------------------------------------------------------------------------- at send time
def test_a_webhook_at_the_sandbox_reset_endpoint_wipes_nothing(app, auth, sandbox, connections):
    stripe_api = requests.Session()
    stripe_api.headers["Authorization"] = f"Bearer {API_KEY}"
    customer = stripe_api.post(sandbox.url + "/v1/customers", data={"name": "Kept AB"}, timeout=10).json()
    clock = sandbox.now()
    for path in ("/_sandbox/reset", "/_sandbox/advance?days=30"):
        AppNotification.delete().execute()
        listing = revoke_over_http(auth, sandbox.url + path)
        assert outbox.deliver_due(app.config) == {"delivered": 0, "failed": 1}
        row = the_row(listing)
        assert row.delivered_at is None and row.last_error.startswith("Refused")
        assert "loopback" in row.last_error
    # The Stripe state is untouched and the sandbox was never even connected to.
    assert stripe_api.get(f"{sandbox.url}/v1/customers/{customer['id']}", timeout=10).status_code == 200
    assert sandbox.now() - clock < 60
    assert connections == []


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:{port}/notifications",
    "https://127.0.0.1:{port}/notifications",
    "http://localhost:{port}/notifications",
    "http://[::1]:{port}/notifications",
    "http://[::ffff:127.0.0.1]:{port}/notifications",
    "http://127.1:{port}/notifications",
    "http://0x7f000001:{port}/notifications",
    "http://0.0.0.0:{port}/notifications",
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://100.100.100.200/latest/meta-data/",
    "http://10.0.0.7:5432/",
    "http://192.168.1.1/admin",
    "http://[2002:7f00:1::1]:{port}/",
    "http://[64:ff9b::7f00:1]:{port}/",
])
def test_loopback_internal_and_metadata_webhooks_get_nothing(app, auth, receiver, connections, url):
    listing = revoke_over_http(auth, url.format(port=receiver.port))
    assert outbox.deliver_due(app.config) == {"delivered": 0, "failed": 1}
    assert the_row(listing).last_error.startswith("Refused")
    assert receiver.received == [] and connections == []


def test_a_name_that_resolves_to_loopback_gets_nothing(app, auth, receiver, connections, monkeypatch):
    asked = fake_dns(monkeypatch, {"hooks.attacker.example": ["127.0.0.1"],
                                   "mixed.attacker.example": ["93.184.216.34", "127.0.0.1"]})
    for name in ("hooks.attacker.example", "mixed.attacker.example"):
        AppNotification.delete().execute()
        listing = revoke_over_http(auth, f"http://{name}:{receiver.port}/notifications")
        assert outbox.deliver_due(app.config) == {"delivered": 0, "failed": 1}
        assert "127.0.0.1 is a loopback address" in the_row(listing).last_error
    assert asked == ["hooks.attacker.example", "mixed.attacker.example"]
    assert receiver.received == [] and connections == []  # every address is checked, not just the first


def test_a_dns_answer_that_changes_after_the_check_is_never_used(app, auth, receiver, monkeypatch):
    """DNS rebinding: the name answers a public address to the check and loopback afterwards.
    The market looks the name up once and connects to the address it checked."""
    answers = iter([["93.184.216.34"]] + [["127.0.0.1"]] * 10)
    asked = fake_dns(monkeypatch, {"rebind.attacker.example": lambda: next(answers)})
    opened = []

    def unreachable(address, port, timeout):
        opened.append((address, port))
        raise ConnectionRefusedError("no route in the test")

    monkeypatch.setattr(outbound_http, "open_socket", unreachable)
    listing = revoke_over_http(auth, f"http://rebind.attacker.example:{receiver.port}/notifications")
    assert outbox.deliver_due(app.config) == {"delivered": 0, "failed": 1}
    assert asked == ["rebind.attacker.example"]
    assert opened == [("93.184.216.34", receiver.port)]
    assert receiver.received == [] and the_row(listing).delivered_at is None


def test_a_connection_that_lands_on_loopback_sends_nothing(app, auth, receiver, monkeypatch):
    """However the network routes the checked public address, the address the socket actually
    reached is checked before a byte is sent."""
    fake_dns(monkeypatch, {"routed.attacker.example": ["93.184.216.34"]})
    monkeypatch.setattr(outbound_http, "open_socket",
                        lambda address, port, timeout: socket.create_connection(("127.0.0.1", port), timeout))
    listing = revoke_over_http(auth, f"http://routed.attacker.example:{receiver.port}/notifications")
    assert outbox.deliver_due(app.config) == {"delivered": 0, "failed": 1}
    assert "the connection reached 127.0.0.1 is a loopback address" in the_row(listing).last_error
    time.sleep(0.2)
    assert receiver.received == []


def test_a_redirect_to_loopback_is_not_followed(app, auth, receiver, other_receiver):
    app.config["OUTBOUND_ALLOWED_ORIGINS"] = receiver.origin  # the app's own endpoint, let through
    receiver.status = 307
    receiver.headers = {"Location": other_receiver.url}
    listing = revoke_over_http(auth, receiver.url)
    assert outbox.deliver_due(app.config) == {"delivered": 0, "failed": 1}
    assert "HTTP 307 (redirects are not followed)" in the_row(listing).last_error
    assert len(receiver.received) == 1 and other_receiver.received == []


# ---------------------------------------------------------------------------- allowed origins
def test_allowed_origins_are_exact(app, auth, receiver, other_receiver):
    app.config["OUTBOUND_ALLOWED_ORIGINS"] = f" {receiver.origin} , http://127.0.0.1:1"
    listing = revoke_over_http(auth, receiver.url)
    assert outbox.deliver_due(app.config) == {"delivered": 1, "failed": 0}
    path, body, headers, _ = receiver.received[0]
    assert path == "/notifications" and json.loads(body)["type"] == "connection.revoked"
    assert headers["Market-Signature"] and the_row(listing).delivered_at is not None
    # Another port, another scheme or another name for the same machine is not that origin.
    for url in (other_receiver.url, receiver.url.replace("http://", "https://"),
                receiver.url.replace("127.0.0.1", "localhost")):
        with pytest.raises(outbound_http.Refused):
            outbound_http.post(app.config, url, b"{}")
    assert other_receiver.received == [] and len(receiver.received) == 1


def test_production_refuses_to_start_with_allowed_origins(monkeypatch):
    base = {"MARKET_ENV": "production", "SECRET_KEY": "k" * 32, "STRIPE_SECRET_KEY": "sk_live_x",
            "STRIPE_WEBHOOK_SECRET": "whsec_x", "MARKET_URL": "https://market.example", "MAIL_DISABLED": 1}
    market_config.load(base)  # starts without it
    for value in ("http://127.0.0.1:5001", " https://hooks.internal:443 "):
        with pytest.raises(RuntimeError, match="OUTBOUND_ALLOWED_ORIGINS"):
            market_config.load({**base, "OUTBOUND_ALLOWED_ORIGINS": value})
    monkeypatch.setenv("OUTBOUND_ALLOWED_ORIGINS", "http://127.0.0.1:5001")
    with pytest.raises(RuntimeError, match="OUTBOUND_ALLOWED_ORIGINS"):
        market_config.load(base)
    assert market_config.load({"MARKET_ENV": "demo"})["OUTBOUND_ALLOWED_ORIGINS"] == "http://127.0.0.1:5001"


def test_production_calls_only_https_and_ignores_allowed_origins(receiver):
    production = {"MARKET_ENV": "production", "OUTBOUND_ALLOWED_ORIGINS": receiver.origin}
    with pytest.raises(outbound_http.Refused, match="https"):
        outbound_http.post(production, receiver.url, b"{}")
    with pytest.raises(outbound_http.Refused, match="loopback"):
        outbound_http.post(production, receiver.url.replace("http://", "https://"), b"{}")
    assert receiver.received == []


def test_a_malformed_allowed_origin_is_an_error_not_a_wildcard(receiver):
    for value in ("http://127.0.0.1:{port}/path", "127.0.0.1:{port}", "http://user@127.0.0.1:{port}"):
        with pytest.raises(ValueError):
            outbound_http.post({"OUTBOUND_ALLOWED_ORIGINS": value.format(port=receiver.port)}, receiver.url, b"{}")
    assert receiver.received == []


# ---------------------------------------------------------------------------- caps
def test_the_answer_is_read_up_to_64_kib(receiver):
    receiver.body = b"y" * (1024 * 1024)
    started = time.monotonic()
    answer = outbound_http.post({"OUTBOUND_ALLOWED_ORIGINS": receiver.origin}, receiver.url, b"{}")
    assert answer.status == 200 and answer.truncated
    assert len(answer.body) == outbound_http.MAX_RESPONSE_BYTES == 64 * 1024
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("behaviour", ["sleeps", "trickles"])
def test_the_whole_call_is_time_capped(receiver, behaviour):
    if behaviour == "sleeps":
        receiver.delay = 6
    else:
        receiver.trickle = (60, 0.1)  # a byte every 0.1 s: no single read times out
    started = time.monotonic()
    with pytest.raises(outbound_http.TimedOut):
        outbound_http.post({"OUTBOUND_ALLOWED_ORIGINS": receiver.origin}, receiver.url, b"{}", total=1.0)
    assert time.monotonic() - started < 2.5


def test_a_slow_endpoint_costs_one_attempt_of_at_most_the_cap(app, auth, receiver):
    app.config["OUTBOUND_ALLOWED_ORIGINS"] = receiver.origin
    receiver.trickle = (200, 0.1)
    listing = revoke_over_http(auth, receiver.url)
    started = time.monotonic()
    assert outbox.deliver_due(app.config) == {"delivered": 0, "failed": 1}
    assert time.monotonic() - started < outbox.TOTAL_TIMEOUT + 2
    assert "TimedOut" in the_row(listing).last_error


# ---------------------------------------------------------------------------- the form
def as_developer_of(auth, email="hooks-dev@example.test"):
    user = factories.developer_user(email=email)
    assert auth.login(email).status_code == 303
    developer = Developer.get_by_id(user.developer_id)
    return factories.app_listing(developer_obj=developer, slug="hooked-app")


def integration_form(webhook_url):
    return {"landing_url": "https://hooked.example.test/start", "webhook_url": webhook_url,
            "redirect_uris": "https://hooked.example.test/callback", "scopes": ["customer"]}


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:{port}/_sandbox/reset",
    "https://127.0.0.1:{port}/_sandbox/reset",
    "https://localhost/hooks",
    "https://app.localhost/hooks",
    "https://[::1]/hooks",
    "https://[::ffff:127.0.0.1]/hooks",
    "https://127.1/hooks",
    "https://0x7f000001/hooks",
    "https://2130706433/hooks",
    "https://169.254.169.254/latest/meta-data/",
    "https://metadata.google.internal/computeMetadata/v1/",
    "https://10.1.2.3/hooks",
    "https://172.16.0.1/hooks",
    "https://192.168.0.10/hooks",
    "https://[fd00::1]/hooks",
    "https://[fe80::1]/hooks",
    "https://db.internal/hooks",
    "https://intranet/hooks",
    "https://hooks.attacker.example/notifications",  # resolves to 127.0.0.1
])
def test_the_form_refuses_loopback_and_internal_webhook_urls(app, auth, monkeypatch, url):
    fake_dns(monkeypatch, {"hooks.attacker.example": ["127.0.0.1"]})
    listing = as_developer_of(auth)
    url = url.format(port=5002)
    # Whatever the setting lets the sender call, the form never takes a local address.
    app.config["OUTBOUND_ALLOWED_ORIGINS"] = outbound_http.origin(url)
    response = auth.post(f"/developer/apps/{listing.slug}/integration", integration_form(url))
    assert response.status_code == 422, url
    assert "local or internal" in response.get_data(as_text=True) or "https" in response.get_data(as_text=True)
    assert App.get_by_id(listing.id).webhook_url is None


def test_the_form_takes_a_public_https_webhook_url(app, auth, monkeypatch):
    fake_dns(monkeypatch, {"hooks.vendor.example": ["93.184.216.34", "2606:2800:220:1::1"]})
    listing = as_developer_of(auth)
    url = "https://hooks.vendor.example/market/notifications"
    response = auth.post(f"/developer/apps/{listing.slug}/integration", integration_form(url))
    assert response.status_code == 303
    # A published app's new webhook URL waits for the admin (issue N, Deliver 2): it is taken.
    assert revisions.changes(revisions.pending(listing))["webhook_url"] == url
    # Plain http is refused for a webhook, public or not.
    response = auth.post(f"/developer/apps/{listing.slug}/integration",
                         integration_form("http://hooks.vendor.example/market/notifications"))
    assert response.status_code == 422
    assert revisions.changes(revisions.pending(listing))["webhook_url"] == url


# ---------------------------------------------------------------------------- TLS
def self_signed(tmp_path, name):
    """A certificate for `name` (its own CA) and its key, as files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_file), str(key_file)


def test_tls_is_verified_against_the_host_name_not_the_address(tmp_path, monkeypatch):
    cert, key = self_signed(tmp_path, "hooks.vendor.example")
    server = Receiver(ssl_context=(cert, key))
    try:
        fake_dns(monkeypatch, {"hooks.vendor.example": ["127.0.0.1"], "other.vendor.example": ["127.0.0.1"]})
        right = f"https://hooks.vendor.example:{server.port}/notifications"
        wrong = f"https://other.vendor.example:{server.port}/notifications"
        config = {"OUTBOUND_ALLOWED_ORIGINS": f"{outbound_http.origin(right)},{outbound_http.origin(wrong)}"}
        trusting = ssl.create_default_context(cafile=cert)
        answer = outbound_http.post(config, right, b"{}", tls_context=trusting)
        assert answer.status == 200
        assert server.received[0][2]["Host"] == f"hooks.vendor.example:{server.port}"  # SNI and Host: the name
        # A certificate for another name, or one nobody vouches for, is refused before sending.
        with pytest.raises(outbound_http.OutboundError, match="CERTIFICATE_VERIFY_FAILED|match"):
            outbound_http.post(config, wrong, b"{}", tls_context=trusting)
        with pytest.raises(outbound_http.OutboundError, match="CERTIFICATE_VERIFY_FAILED"):
            outbound_http.post(config, right, b"{}")
        assert len(server.received) == 1
    finally:
        server.stop()
