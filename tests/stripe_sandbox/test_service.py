"""The sandbox as a service: `python -m stripe_sandbox`, state kept in a file across restarts,
the `advance` command, several sandboxes at once, and the end-to-end demo script."""

import os
import socket
import subprocess
import sys
import time

import requests
import stripe
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stripe_sandbox import demo_script
from stripe_sandbox.testing import API_KEY, start_sandbox

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(port, data):
    proc = subprocess.Popen([sys.executable, "-m", "stripe_sandbox", "--port", str(port), "--data", data],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "STRIPE_SANDBOX_KEYS": API_KEY})
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/_sandbox/health", timeout=1)
            return proc
        except requests.ConnectionError:
            time.sleep(0.05)
    proc.kill()
    raise AssertionError("the sandbox did not start")


def stop(proc):
    proc.terminate()
    proc.wait(timeout=10)


def test_state_survives_a_restart_and_the_cli_advances_the_clock(tmp_path):
    port, data = free_port(), str(tmp_path / "stripe.json")
    url = f"http://127.0.0.1:{port}"
    client = stripe.StripeClient(API_KEY, base_addresses={"api": url, "connect": url, "files": url},
                                 max_network_retries=0)
    proc = serve(port, data)
    try:
        assert requests.get(url + "/v1/customers", timeout=5).status_code == 401
        product = client.v1.products.create(params={"name": "Kept"})
        price = client.v1.prices.create(params={"product": product.id, "unit_amount": 5000, "currency": "sek",
                                                "recurring": {"interval": "month"}})
        customer = client.v1.customers.create(params={"email": "kept@example.com", "payment_method": "pm_card_visa"})
        pm = client.v1.payment_methods.list(params={"customer": customer.id}).data[0]
        sub = client.v1.subscriptions.create(params={"customer": customer.id, "default_payment_method": pm.id,
                                                     "items": [{"price": price.id}]})
    finally:
        stop(proc)
    proc = serve(port, data)
    try:
        assert client.v1.products.retrieve(product.id).name == "Kept"
        assert client.v1.subscriptions.retrieve(sub.id).status == "active"
        out = subprocess.run([sys.executable, "-m", "stripe_sandbox", "advance", "--port", str(port), "--days", "32",
                              "--key", API_KEY], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert len(client.v1.invoices.list(params={"subscription": sub.id}).data) == 2
    finally:
        stop(proc)
    proc = serve(port, data)
    try:
        # the renewal and the moved clock were kept too
        assert len(client.v1.invoices.list(params={"subscription": sub.id}).data) == 2
        assert requests.get(url + "/_sandbox/clock", timeout=5, headers={"Authorization": f"Bearer {API_KEY}"}
                            ).json()["offset"] >= 32 * 86400 - 5
    finally:
        stop(proc)


def test_cli_advance_reports_an_unreachable_sandbox():
    out = subprocess.run([sys.executable, "-m", "stripe_sandbox", "advance", "--port", str(free_port()),
                          "--days", "1"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "cannot reach" in out.stderr


def test_two_sandboxes_at_once_keep_separate_state(sandbox):
    other = start_sandbox()
    try:
        a = stripe.StripeClient(API_KEY, base_addresses=sandbox.base_addresses, max_network_retries=0)
        b = stripe.StripeClient(API_KEY, base_addresses=other.base_addresses, max_network_retries=0)
        a.v1.customers.create(params={"email": "a@example.com"})
        assert b.v1.customers.list().data == []
        other.advance(days=10)
        assert other.now() - sandbox.now() >= 10 * 86400 - 5
    finally:
        other.stop()


def test_demo_script_runs_end_to_end(sandbox, capsys):
    demo_script.run(sandbox.url, year=True)
    out = capsys.readouterr().out
    assert "platform balance" in out and "developer balance" in out


ENDPOINTS = ["/v1/customers", "/v1/products", "/v1/prices", "/v1/checkout/sessions", "/v1/subscriptions",
             "/v1/refunds", "/v1/accounts", "/v1/account_links", "/v1/webhook_endpoints", "/v1/tax_rates",
             "/v1/payment_methods", "/v1/billing_portal/sessions", "/v1/test_helpers/test_clocks",
             "/v1/subscriptions/sub_x", "/v1/invoices/in_x/pay", "/v1/disputes/dp_x/close"]


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(ENDPOINTS), body=st.lists(
    st.tuples(st.text(alphabet="abcdefgimnopqrstuy_[]0123", max_size=20), st.text(max_size=12)), max_size=6))
def test_no_500_for_any_form_body(sandbox, path, body):
    from urllib.parse import urlencode
    resp = requests.post(sandbox.url + path, data=urlencode(body), timeout=10,
                         headers={"Authorization": f"Bearer {API_KEY}",
                                  "Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status_code < 500, (path, body, resp.text)
    assert "error" in resp.json() or resp.status_code == 200


def test_unreadable_state_file_is_kept_aside(tmp_path):
    data = tmp_path / "stripe.json"
    data.write_text("{not json")
    handle = start_sandbox(data=str(data))
    try:
        client = stripe.StripeClient(API_KEY, base_addresses=handle.base_addresses, max_network_retries=0)
        assert client.v1.customers.list().data == []
        assert list(tmp_path.glob("stripe.json.unreadable-*"))
    finally:
        handle.stop()
