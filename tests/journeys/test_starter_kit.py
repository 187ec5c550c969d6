"""The sample integration is a starter kit (issue S, deliverable 5): copied out of the
repository into a folder of its own, with only its requirements.txt installed into a fresh
virtual environment, it runs against a live market: landing → consent → the company's data,
and it verifies the market's signed notifications."""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time

import pytest
import requests

from market.core import credentials
from tests import factories
from tests.journeys.test_sample_integration import LiveServer, csrf_from

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KIT = os.path.join(ROOT, "examples", "sample_integration")
CLIENT_ID = "starter-kit-app"
CLIENT_SECRET = "starter-kit-secret"


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    """The folder copied outside the repository, and a fresh venv with its requirements."""
    where = tmp_path_factory.mktemp("starter-kit")
    shutil.copytree(KIT, where / "sample_integration", ignore=shutil.ignore_patterns("__pycache__"))
    for name in os.listdir(where / "sample_integration"):
        if name.endswith(".py"):
            source = (where / "sample_integration" / name).read_text(encoding="utf-8")
            # Only relative imports of its own modules, and nothing of the market's.
            assert not re.search(r"^\s*(from|import)\s+(examples|market|models|views|app)\b", source, re.M), name
    subprocess.run([sys.executable, "-m", "venv", str(where / "venv")], check=True, timeout=120)
    subprocess.run([str(where / "venv" / "bin" / "pip"), "install", "-q", "--disable-pip-version-check",
                    "-r", str(where / "sample_integration" / "requirements.txt")], check=True, timeout=400)
    return where


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_copy_outside_the_repository_runs_landing_consent_and_data(app, kit):
    market, port = LiveServer(), free_port()
    sample_url = f"http://127.0.0.1:{port}"
    app.config.update(MARKET_URL=market.url, OUTBOUND_ALLOWED_ORIGINS=sample_url)
    listing = factories.app_listing(slug="starter-kit-app", name="Starter Kit App", landing_url=sample_url + "/",
                                    webhook_url=sample_url + "/notifications")
    factories.oauth_client(listing, redirect_uris=sample_url + "/callback", client_id=CLIENT_ID,
                           secret=CLIENT_SECRET)
    company = factories.company(name="Demo Bygg AB")
    factories.customer_admin(email="customer@demo.test", company_obj=company)
    factories.company_customer(company, customer_number="1", name="Byggmästarn i Lund")
    landing_secret = credentials.landing_secret(app.config["SECRET_KEY"], CLIENT_ID)
    market.start(app)
    env = {"PATH": os.environ.get("PATH", ""), "SAMPLE_PORT": str(port), "SAMPLE_MARKET_URL": market.url,
           "SAMPLE_CLIENT_ID": CLIENT_ID, "SAMPLE_CLIENT_SECRET": CLIENT_SECRET,
           "SAMPLE_LANDING_SECRET": landing_secret}
    sample = subprocess.Popen([str(kit / "venv" / "bin" / "python"), "-m", "sample_integration"], cwd=kit, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(sample_url + "/", timeout=2)
                break
            except requests.ConnectionError:
                assert sample.poll() is None and time.monotonic() < deadline, sample.stdout.read()
                time.sleep(0.2)
        browser = requests.Session()
        browser.headers["Accept-Language"] = "en"  # the suite reads English
        login = browser.get(market.url + "/login")
        browser.post(market.url + "/login", data={"email": "customer@demo.test", "password": factories.PASSWORD,
                                                  "csrf_token": csrf_from(login.text)})
        app_page = browser.get(market.url + "/apps/starter-kit-app")
        landing = browser.post(market.url + "/apps/starter-kit-app/activate",
                               data={"csrf_token": csrf_from(app_page.text)})
        assert landing.url == sample_url + "/" and 'href="/connect"' in landing.text
        consent = browser.get(sample_url + "/connect")
        assert "code_challenge_method=S256" in consent.url
        done = browser.post(consent.url, data={"csrf_token": csrf_from(consent.text), "decision": "allow"})
        assert done.status_code == 200 and done.url == sample_url + "/company", done.text[:500]
        assert "Demo Bygg AB" in done.text and "Byggmästarn i Lund" in done.text

        # A notification signed as the market signs them is taken; a forged one is refused.
        body = json.dumps({"id": "evt_1", "type": "subscription.updated", "company": company.public_id,
                           "data": {}}).encode()
        signed = requests.post(sample_url + "/notifications", data=body, timeout=5,
                               headers={"Market-Signature": credentials.sign_payload(landing_secret, body)})
        assert signed.status_code == 200
        forged = requests.post(sample_url + "/notifications", data=body, timeout=5,
                               headers={"Market-Signature": credentials.sign_payload("not-the-secret", body)})
        assert forged.status_code == 400
        browser.close()
    finally:
        sample.terminate()
        output = sample.communicate(timeout=10)[0]
        market.stop()
    assert "hmac=" not in output and "code=" not in output  # its access log keeps no secrets
