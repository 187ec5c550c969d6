"""`python app.py [--port P]`: the whole demo on one machine (DESIGN.md §8).

The market on P, the sample integration on P+1 and the Stripe sandbox on P+2 (unless
STRIPE_SECRET_KEY is set in the environment: then that Stripe is used). The database is
migrated and seeded on first start; on every start every seeded app gets its landing page,
redirect URI and notification URL at the sample integration (the sample app at `/`, every other
app at `/apps/<slug>/`, with fresh client credentials that only the sample integration is
given), every seeded developer an onboarded Connect account; the sweep runs in the background.

`/healthz` answers 503 "starting" until all that is done and the sandbox and the sample
integration answer (`app.extensions["demo_ready"]`). SIGTERM and SIGINT stop the helper
servers with the market; a port already taken stops the start with a message naming it.

`app.py` calls `run` with the app factory and the WSGI server passed in, so the job never
imports `app` (or a web server) itself.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

from market import config as market_config
from market.catalog import listings
from market.core import credentials, log_redaction
from market.data import database
from market.jobs import seed, stripe_setup, sweep
from models import App, OAuthClient, User, db

DEMO_LOGINS = [
    ("customer@demo.test", "admin of Demo Bygg AB"),
    ("other@demo.test", "admin of another company"),
    ("developer@demo.test", "developer of time-tracker-pro"),
    ("admin@demo.test", "platform admin"),
]
SAMPLE_CLIENT_ID = "sample-integration"
SWEEP_EVERY_SECONDS = 60
READY_FLAG = "demo_ready"
# The project root's instance/ folder, where create_app keeps the demo database.
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INSTANCE_PATH = os.path.join(PROJECT_ROOT, "instance")

_children = []
_servers = []


class Stop(BaseException):
    """SIGTERM or SIGINT: leave whatever the start is doing and stop everything (a BaseException,
    like KeyboardInterrupt, so no `except Exception` on the way swallows it)."""


def _stop_children():
    for child in _children:
        if child.poll() is None:
            child.terminate()
    for child in _children:
        try:
            child.wait(timeout=5)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(timeout=5)
    _children.clear()


def _on_signal(signum, frame):
    raise Stop(signal.Signals(signum).name)


def taken_ports(host, ports):
    """[(port, what)] of the ports some other process already listens on."""
    taken = []
    for port, what in ports:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError:
                taken.append((port, what))
    return taken


def start_child(args, env=None):
    """A helper server in its own process; it stops with the demo."""
    child = subprocess.Popen([sys.executable, *args], env=env, cwd=PROJECT_ROOT)
    _children.append(child)
    return child


def answers(url):
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True  # it answers, even if not with 200
    except OSError:
        return False


def wait_for(url, child=None, seconds=20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if answers(url):
            return True
        if child is not None and child.poll() is not None:
            return False  # it died (say, its port was taken after all)
        time.sleep(0.1)
    return False


def start_sandbox(port, data_file, api_key):
    """The sandbox accepts only the demo's own key (its control endpoints too)."""
    os.makedirs(os.path.dirname(os.path.abspath(data_file)), exist_ok=True)
    child = start_child(["-m", "stripe_sandbox", "--port", str(port), "--data", data_file],
                        env={**os.environ, "STRIPE_SANDBOX_KEYS": api_key})
    url = f"http://127.0.0.1:{port}"
    if not wait_for(url + "/v1/customers", child):
        raise SystemExit(f"the Stripe sandbox did not start on {url}")
    return url


def prepare(app):
    """Migrate, and seed the demo data once."""
    with app.app_context(), db.connection_context():
        database.migrate(db)
        if not User.select().exists():
            started = time.monotonic()
            print(seed.seed_demo(app.config, echo=print))
            print(f"seeded in {time.monotonic() - started:.1f} s")


def register_sample_apps(config, sample_url):
    """Point every seeded app at the sample integration: the sample app at `/`, every other at
    `/apps/<slug>/`. The others get a fresh client secret on each start (the seed's are random
    and unknown); answers the entries of SAMPLE_APPS_FILE (client id, secret, landing secret)."""
    entries = []
    with db.connection_context(), db.atomic():
        rows = (App.select(App, OAuthClient).join(OAuthClient)
                .where(App.slug.in_(seed.demo_app_slugs())).order_by(App.id))
        for listing in rows:
            client = listing.oauthclient
            if client.client_id == SAMPLE_CLIENT_ID:
                App.update(landing_url=sample_url + "/", webhook_url=sample_url + "/notifications").where(
                    App.id == listing.id).execute()
                OAuthClient.update(redirect_uris=sample_url + "/callback").where(OAuthClient.id == client.id).execute()
                continue
            base = f"{sample_url}/apps/{listing.slug}"
            secret = credentials.new_client_secret()
            App.update(landing_url=base + "/", webhook_url=base + "/notifications").where(
                App.id == listing.id).execute()
            OAuthClient.update(redirect_uris=base + "/callback",
                               client_secret_hash=credentials.hash_client_secret(config["SECRET_KEY"], secret)).where(
                OAuthClient.id == client.id).execute()
            entries.append({"slug": listing.slug, "name": listing.name, "client_id": client.client_id,
                            "client_secret": secret,
                            "landing_secret": listings.landing_secret(config["SECRET_KEY"], client)})
    return entries


def write_apps_file(directory, entries):
    """The multi-app file, readable by this user only (it holds client secrets)."""
    path = os.path.join(directory, "sample-apps.json")
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(entries, handle)
    return path


def start_sample_integration(config, port, market_url, apps_file):
    with db.connection_context():
        sample = OAuthClient.get_or_none(OAuthClient.client_id == SAMPLE_CLIENT_ID)
    landing_secret = listings.landing_secret(config["SECRET_KEY"], sample) if sample else "no-sample-app"
    env = {**os.environ, "SAMPLE_PORT": str(port), "SAMPLE_MARKET_URL": market_url,
           "SAMPLE_CLIENT_ID": SAMPLE_CLIENT_ID, "SAMPLE_CLIENT_SECRET": config["DEMO_CLIENT_SECRET"],
           "SAMPLE_LANDING_SECRET": landing_secret, "SAMPLE_APPS_FILE": apps_file}
    return start_child(["-m", "examples.sample_integration"], env=env)


def prepare_stripe(app):
    """Webhook endpoints, products and prices, and every seeded developer's Connect account."""
    with app.app_context(), db.connection_context():
        summary = stripe_setup.prepare_demo(app.config, app.config["MARKET_URL"] + "/stripe/webhook")
    # The sandbox signs with the secrets it just made; the market must verify with them.
    app.config["STRIPE_WEBHOOK_SECRET"] = summary["webhook_secret"]
    app.config["STRIPE_CONNECT_WEBHOOK_SECRET"] = summary["connect_webhook_secret"]
    return summary


def run_sweep_forever(app, stop):
    while not stop.wait(SWEEP_EVERY_SECONDS):
        try:
            with app.app_context(), db.connection_context():
                sweep.run(app.config)
        except Exception as error:  # the demo keeps serving; the next round tries again
            print(f"sweep failed: {error}", file=sys.stderr, flush=True)


def run(host, port, create_app, make_server):
    """Serve the demo on `host:port` until SIGTERM or SIGINT. `create_app(overrides)` makes the
    market's WSGI app; `make_server(host, port, app, threaded=True)` serves it (werkzeug's)."""
    use_sandbox = not os.environ.get("STRIPE_SECRET_KEY")
    ports = [(port, "the market"), (port + 1, "the sample integration")]
    if use_sandbox:
        ports.append((port + 2, "the Stripe sandbox"))
    taken = taken_ports(host, ports)
    if taken:
        names = "; ".join(f"port {number} ({what})" for number, what in taken)
        print(f"Cannot start the demo: {names} already in use. Stop what listens there, "
              f"or choose another port with --port.", file=sys.stderr, flush=True)
        return 1
    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    workdir = tempfile.mkdtemp(prefix="market-demo-")
    stop = threading.Event()
    try:
        return _run(host, port, create_app, make_server, use_sandbox, workdir, stop)
    except Stop as why:
        print(f"\nStopping the demo ({why}).", flush=True)
        return 0
    finally:
        stop.set()
        for server in _servers:
            server.shutdown()
            server.server_close()
        _servers.clear()
        _stop_children()
        shutil.rmtree(workdir, ignore_errors=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _run(host, port, create_app, make_server, use_sandbox, workdir, stop):
    started = time.monotonic()
    market_url = os.environ.get("MARKET_URL") or f"http://127.0.0.1:{port}"
    sample_url = f"http://127.0.0.1:{port + 1}"
    # The market may send app notifications to the sample integration (and nowhere else local).
    overrides = {"MARKET_URL": market_url, "OUTBOUND_ALLOWED_ORIGINS": sample_url}
    sandbox_url = None
    if use_sandbox:
        # The sandbox's own state file, so the demo keeps its Stripe objects across restarts.
        settings = market_config.load(overrides, instance_path=INSTANCE_PATH)
        sandbox_url = start_sandbox(port + 2, settings["STRIPE_SANDBOX_DATA"], settings["STRIPE_SECRET_KEY"])
        overrides["STRIPE_API_BASE"] = sandbox_url
    app = create_app(overrides)
    app.extensions[READY_FLAG] = False  # /healthz: 503 "starting" until the end of this function
    prepare(app)
    apps_file = write_apps_file(workdir, register_sample_apps(app.config, sample_url))
    sample = start_sample_integration(app.config, port + 1, market_url, apps_file)
    log_redaction.redact_logger("werkzeug")  # its access log: no link token, code or state
    try:
        server = make_server(host, port, app, threaded=True)
    except OSError as error:
        print(f"Cannot start the demo: port {port} (the market): {error.strerror}.", file=sys.stderr, flush=True)
        return 1
    _servers.append(server)
    threading.Thread(target=server.serve_forever, name="market", daemon=True).start()

    if use_sandbox:
        summary = prepare_stripe(app)
        # Not the summary itself: it holds the webhook signing secrets, which are never printed.
        print(f"Stripe sandbox: {sandbox_url} (2 webhook endpoints, "
              f"{summary['apps_changed']} apps synced, {summary['developers_onboarded']} developers onboarded)")
    if not wait_for(sample_url + "/", sample):
        print(f"Cannot start the demo: the sample integration did not start on {sample_url}.",
              file=sys.stderr, flush=True)
        return 1
    if sandbox_url and not answers(sandbox_url + "/v1/customers"):
        print(f"Cannot start the demo: the Stripe sandbox stopped answering on {sandbox_url}.",
              file=sys.stderr, flush=True)
        return 1
    app.extensions[READY_FLAG] = True
    threading.Thread(target=run_sweep_forever, args=(app, stop), name="sweep", daemon=True).start()

    print(f"\nApp Market demo: {market_url}/ (ready in {time.monotonic() - started:.1f} s)")
    print(f"Sample integration: {sample_url}/ (every other seeded app at {sample_url}/apps/<slug>/)")
    print("Demo logins (password demo-pass-123):")
    for email, who in DEMO_LOGINS:
        print(f"  {email:22} {who}")
    print("Stop it with Ctrl-C (or SIGTERM): the sandbox and the sample integration stop with it.")
    print(flush=True)
    while True:
        for child in list(_children):
            if child.poll() is not None:
                print(f"A helper server stopped (exit {child.returncode}); stopping the demo.",
                      file=sys.stderr, flush=True)
                return 1
        time.sleep(1)
