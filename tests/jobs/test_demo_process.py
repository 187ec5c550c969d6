"""`python app.py` as a process (issue O, finding 15; issue P, deliverable 1): /healthz says
"starting" until a purchase can be taken and the helper servers answer, then "ok" within 30 s;
SIGTERM stops the sandbox and the sample integration with it and frees the ports; a start that
finds a port taken names it and exits non-zero. Run on SQLite and PostgreSQL."""
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

import psycopg
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
READY_WITHIN_SECONDS = 30


def free(port):
    """Nothing listens on it (a socket in TIME_WAIT from a closed connection does not count:
    the servers bind with SO_REUSEADDR, as a restarted demo does)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_block(count=3):
    """P with P..P+count-1 free: the demo's market, sample integration and sandbox."""
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port + count < 65000 and all(free(port + i) for i in range(count)):
            return port
    raise RuntimeError("no free block of ports")


def children_of(pid):
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as handle:
            found += [int(child) for child in handle.read().split()]
    return found


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError:
        return None, b""


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/demo.db"
        return
    name = "market_demo_" + uuid.uuid4().hex[:12]
    try:
        admin = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError:
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL is required under CI=true", pytrace=False)
        pytest.skip("PostgreSQL not available here")
    admin.execute(f'CREATE DATABASE "{name}"')
    yield ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def demo_env(database_url, tmp_path):
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("STRIPE_", "MARKET_", "SAMPLE_")) and name not in ("DATABASE_URL", "SECRET_KEY")}
    env.update(DATABASE_URL=database_url, STRIPE_SANDBOX_DATA=str(tmp_path / "sandbox.json"),
               ICON_DIR=str(tmp_path / "icons"), PYTHONUNBUFFERED="1")
    return env


def developers_without_payouts(database_url):
    query = ("SELECT count(*) FROM developer WHERE stripe_account_id IS NULL OR NOT payouts_enabled "
             "OR stripe_account_id LIKE 'acct_demo%'")
    if database_url.startswith("sqlite"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as connection:
            return connection.execute(query).fetchone()[0]
    with psycopg.connect(database_url) as connection:
        return connection.execute(query).fetchone()[0]


def test_healthz_is_starting_until_a_purchase_can_be_taken_and_sigterm_stops_everything(database_url, tmp_path):
    port = free_block()
    log = open(tmp_path / "demo.log", "w+", encoding="utf-8")  # noqa: SIM115 - read after the process ends
    started = time.monotonic()
    demo = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=ROOT,
                            env=demo_env(database_url, tmp_path), stdout=log, stderr=subprocess.STDOUT)
    try:
        seen, ready_after = [], None
        while time.monotonic() - started < READY_WITHIN_SECONDS + 30:
            status, body = get(f"http://127.0.0.1:{port}/healthz")
            if status is not None:
                seen.append((status, json.loads(body)))
            if status == 200:
                ready_after = time.monotonic() - started
                break
            assert demo.poll() is None, open(tmp_path / "demo.log", encoding="utf-8").read()[-3000:]
            time.sleep(0.1)
        print(f"/healthz answered 200 after {ready_after} s; first answers {seen[:2]}")
        assert ready_after is not None and ready_after < READY_WITHIN_SECONDS, ready_after
        assert seen[-1] == (200, {"status": "ok"})
        assert all(answer == (503, {"status": "starting"}) for answer in seen[:-1])
        # Ready means ready: every seeded developer can be paid, the helper servers answer.
        assert developers_without_payouts(database_url) == 0
        assert get(f"http://127.0.0.1:{port + 1}/")[0] == 200
        assert get(f"http://127.0.0.1:{port + 1}/apps/time-tracker-pro/")[0] == 200
        assert get(f"http://127.0.0.1:{port + 1}/apps/lonekollen/")[0] == 200
        assert get(f"http://127.0.0.1:{port + 2}/v1/customers")[0] in (200, 401)

        children = children_of(demo.pid)
        assert len(children) == 2, children  # the sandbox and the sample integration
        demo.send_signal(signal.SIGTERM)
        assert demo.wait(timeout=20) == 0
        deadline = time.monotonic() + 5
        while any(alive(child) for child in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(alive(child) for child in children)
        assert all(free(port + i) for i in range(3))
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait(5)
        log.close()


def test_a_start_that_finds_a_port_taken_names_it_and_exits_non_zero(tmp_path):
    port = free_block()
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", port + 1))
    squatter.listen()
    try:
        result = subprocess.run([sys.executable, "app.py", "--port", str(port)], cwd=ROOT, timeout=60,
                                env=demo_env(f"sqlite:///{tmp_path}/demo.db", tmp_path), capture_output=True,
                                text=True)
    finally:
        squatter.close()
    assert result.returncode != 0
    assert f"port {port + 1} (the sample integration) already in use" in result.stderr
    assert not os.path.exists(tmp_path / "demo.db")  # it stopped before doing anything
    assert all(free(port + i) for i in range(3))


def test_healthz_follows_the_demo_flag_and_without_it_checks_only_the_database(client, app):
    # Under gunicorn (no demo): no flag, only the database counts.
    assert "demo_ready" not in app.extensions
    assert client.get("/healthz").get_json() == {"status": "ok"}
    app.extensions["demo_ready"] = False
    starting = client.get("/healthz")
    assert starting.status_code == 503 and starting.get_json() == {"status": "starting"}
    assert starting.headers["Retry-After"] == "1"
    app.extensions["demo_ready"] = True
    assert client.get("/healthz").status_code == 200
