"""Shared fixtures of the browser tests: Debian's Chromium through Playwright, and the whole
demo (`python app.py --port P`: market, sample integration, Stripe sandbox) as a subprocess on
free ports with a fresh database, once per engine.

The existing test_store_browser.py keeps its own in-process market; the journey needs the real
three servers, started as an operator starts them."""
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]
ARTIFACTS = ROOT / "tests" / "artifacts"
POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI") == "true"
DEMO_START_SECONDS = 90  # seeding on PostgreSQL under a loaded CI machine; normally ~10 s


def require_chromium():
    if os.path.exists(CHROMIUM):
        return
    if IN_CI:
        pytest.fail(f"{CHROMIUM} is required under CI=true (apt-get install chromium)", pytrace=False)
    pytest.skip(f"{CHROMIUM} is not installed")


def _port_is_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_consecutive_ports(count=3):
    """P, P+1, ... all free: the demo puts its three servers on consecutive ports."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            base = sock.getsockname()[1]
        if base + count < 65536 and all(_port_is_free(base + i) for i in range(count)):
            return base
    raise RuntimeError("no run of free consecutive ports on 127.0.0.1")


def _answers(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status < 500
    except urllib.error.HTTPError as error:
        return error.code < 500
    except OSError:
        return False


@dataclass
class Demo:
    engine: str
    port: int
    log: Path
    process: subprocess.Popen
    artifacts: Path = field(default=ARTIFACTS)
    database_url: str = ""

    @property
    def market(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def integration(self):
        return f"http://127.0.0.1:{self.port + 1}"

    @property
    def sandbox(self):
        return f"http://127.0.0.1:{self.port + 2}"

    def sandbox_command(self, *args):
        """`python -m stripe_sandbox ...` against this demo's sandbox, as an operator types it."""
        return subprocess.run([sys.executable, "-m", "stripe_sandbox", *args, "--port", str(self.port + 2)],
                              cwd=ROOT, capture_output=True, text=True, timeout=300)


def _stop(process):
    if process.poll() is not None:
        return
    # The demo's children (sample integration, sandbox) share its process group.
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def _wait_until_ready(demo):
    """/healthz, the sandbox and the sample integration answer, and the demo has set up Stripe
    (webhook endpoints and secrets, the developer's Connect account): it prints its URLs last."""
    deadline = time.monotonic() + DEMO_START_SECONDS
    while time.monotonic() < deadline:
        if demo.process.poll() is not None:
            raise RuntimeError(f"the demo exited with {demo.process.returncode}:\n{demo.log.read_text()[-4000:]}")
        if ("App Market demo:" in demo.log.read_text(errors="replace")
                and _answers(demo.market + "/healthz")
                and _answers(demo.sandbox + "/_sandbox/health")
                and _answers(demo.integration + "/")):
            return
        time.sleep(0.25)
    raise RuntimeError(f"the demo did not start in {DEMO_START_SECONDS} s:\n{demo.log.read_text()[-4000:]}")


def _postgres_database():
    psycopg = pytest.importorskip("psycopg")
    name = "market_journey_" + uuid.uuid4().hex[:12]
    try:
        admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError:
        if IN_CI:
            pytest.fail(f"PostgreSQL at {POSTGRES_ADMIN_URL} is required under CI=true", pytrace=False)
        pytest.skip(f"PostgreSQL at {POSTGRES_ADMIN_URL} not available here")
    admin.execute(f'CREATE DATABASE "{name}"')
    return admin, name, f"{POSTGRES_ADMIN_URL.rsplit('/', 1)[0]}/{name}"


_artifacts_cleared = set()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def demo(request, tmp_path_factory):
    """`python app.py --port P` with a fresh database: the market on P, the sample integration
    on P+1, the Stripe sandbox on P+2 (state in a fresh file)."""
    require_chromium()
    engine = request.param
    if engine not in _artifacts_cleared:  # once a session: a later module's demo keeps the earlier's
        _artifacts_cleared.add(engine)
        for stale in ARTIFACTS.glob(f"journey-{engine}-*"):
            stale.unlink()
    workdir = tmp_path_factory.mktemp(f"demo-{engine}")
    admin = name = None
    if engine == "postgresql":
        admin, name, url = _postgres_database()
    else:
        url = f"sqlite:///{workdir}/market.db"
    port = free_consecutive_ports(3)
    env = {key: value for key, value in os.environ.items()
           if key not in ("STRIPE_SECRET_KEY", "MARKET_URL", "STRIPE_API_BASE", "STRIPE_WEBHOOK_SECRET",
                          "STRIPE_CONNECT_WEBHOOK_SECRET", "STRIPE_SANDBOX_KEYS")}
    env.update(MARKET_ENV="demo", DATABASE_URL=url, STRIPE_SANDBOX_DATA=str(workdir / "stripe-sandbox.json"),
               PYTHONUNBUFFERED="1")
    log = workdir / "demo.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=ROOT, env=env,
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    running = Demo(engine=engine, port=port, log=log, process=process, database_url=url)
    try:
        _wait_until_ready(running)
        yield running
    finally:
        _stop(process)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        # One log per module's demo: journey-sqlite-demo.log, journey-sqlite-test_journey_more-demo.log
        module = request.module.__name__.rsplit(".", 1)[-1]
        suffix = "" if module == "test_journey" else f"-{module}"
        (ARTIFACTS / f"journey-{engine}{suffix}-demo.log").write_bytes(log.read_bytes())
        if admin is not None:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.close()


@pytest.fixture(scope="module")
def chromium():
    # Module scope: test_store_browser.py starts its own Playwright, and two cannot run at once.
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # executable_path: Debian's Chromium; Playwright never downloads a browser.
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
