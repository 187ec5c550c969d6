"""`python app.py [--port P]`: the whole demo on one machine (DESIGN.md §8).

The market on P, the sample integration on P+1 and the Stripe sandbox on P+2 (unless
STRIPE_SECRET_KEY is set in the environment: then that Stripe is used). The database is
migrated and seeded on first start; the sample integration's landing page and redirect URI are
registered for P+1 on every start; the sweep runs in the background.

`app.py` calls `run` with the app factory and the WSGI server passed in, so the job never
imports `app` (or a web server) itself.
"""
import atexit
import os
import subprocess
import sys
import threading
import time
import urllib.request

from market import config as market_config
from market.catalog import listings
from market.core import log_redaction
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
PAID_DEMO_APP = "time-tracker-pro"
SWEEP_EVERY_SECONDS = 60
# The project root's instance/ folder, where create_app keeps the demo database.
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INSTANCE_PATH = os.path.join(PROJECT_ROOT, "instance")

_children = []


def _stop_children():
    for child in _children:
        if child.poll() is None:
            child.terminate()
    for child in _children:
        try:
            child.wait(timeout=5)
        except subprocess.TimeoutExpired:
            child.kill()


def start_child(args, env=None):
    """A helper server in its own process; it dies with the demo."""
    child = subprocess.Popen([sys.executable, *args], env=env)
    _children.append(child)
    return child


def wait_for(url, seconds=20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except urllib.error.HTTPError:
            return True  # it answers, even if not with 200
        except OSError:
            time.sleep(0.2)
    return False


def start_sandbox(port, data_file):
    os.makedirs(os.path.dirname(os.path.abspath(data_file)), exist_ok=True)
    start_child(["-m", "stripe_sandbox", "--port", str(port), "--data", data_file])
    url = f"http://127.0.0.1:{port}"
    if not wait_for(url + "/v1/customers"):
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


def register_sample_integration(sample_url):
    """The sample integration runs on P+1, so its landing page and redirect URI follow the port."""
    with db.connection_context(), db.atomic():
        client = OAuthClient.get_or_none(OAuthClient.client_id == SAMPLE_CLIENT_ID)
        if client is None:
            return
        App.update(landing_url=sample_url + "/", webhook_url=sample_url + "/notifications").where(
            App.id == client.app_id).execute()
        OAuthClient.update(redirect_uris=sample_url + "/callback").where(OAuthClient.id == client.id).execute()
        # The sample integration also listens for the paid demo app, so a purchase, a failed
        # renewal or a cancellation of time-tracker-pro shows up there too.
        App.update(webhook_url=sample_url + "/notifications").where(App.slug == PAID_DEMO_APP).execute()


def prepare_stripe(app):
    """Webhook endpoints, products and prices, and the demo developer's Connect account."""
    with app.app_context(), db.connection_context():
        summary = stripe_setup.prepare_demo(app.config, app.config["MARKET_URL"] + "/stripe/webhook")
    # The sandbox signs with the secrets it just made; the market must verify with them.
    app.config["STRIPE_WEBHOOK_SECRET"] = ",".join(summary["webhook_secrets"])
    return summary


def run_sweep_forever(app, stop):
    while not stop.wait(SWEEP_EVERY_SECONDS):
        try:
            with app.app_context(), db.connection_context():
                sweep.run(app.config)
        except Exception as error:  # the demo keeps serving; the next round tries again
            print(f"sweep failed: {error}", file=sys.stderr, flush=True)


def run(host, port, create_app, make_server):
    """Serve the demo on `host:port` until interrupted. `create_app(overrides)` makes the market's
    WSGI app; `make_server(host, port, app, threaded=True)` serves it (werkzeug's)."""
    atexit.register(_stop_children)
    market_url = os.environ.get("MARKET_URL") or f"http://127.0.0.1:{port}"
    sample_url = f"http://127.0.0.1:{port + 1}"
    use_sandbox = not os.environ.get("STRIPE_SECRET_KEY")
    overrides = {"MARKET_URL": market_url}
    if use_sandbox:
        # The sandbox's own state file, so the demo keeps its Stripe objects across restarts.
        settings = market_config.load(overrides, instance_path=INSTANCE_PATH)
        sandbox_url = start_sandbox(port + 2, settings["STRIPE_SANDBOX_DATA"])
        overrides["STRIPE_API_BASE"] = sandbox_url
    app = create_app(overrides)
    prepare(app)
    register_sample_integration(sample_url)

    with db.connection_context():
        sample = OAuthClient.get_or_none(OAuthClient.client_id == SAMPLE_CLIENT_ID)
        paid = OAuthClient.select().join(App).where(App.slug == PAID_DEMO_APP).first()
    landing_secret = listings.landing_secret(app.config["SECRET_KEY"], sample) if sample else ""
    extra_secrets = listings.landing_secret(app.config["SECRET_KEY"], paid) if paid else ""
    start_child(["-m", "examples.sample_integration", "--port", str(port + 1), "--market-url", market_url,
                 "--client-id", SAMPLE_CLIENT_ID, "--client-secret", app.config["DEMO_CLIENT_SECRET"]],
                env={**os.environ, "SAMPLE_LANDING_SECRET": landing_secret,
                     "SAMPLE_NOTIFICATION_SECRETS": extra_secrets})
    log_redaction.redact_logger("werkzeug")  # its access log: no link token, code or state
    server = make_server(host, port, app, threaded=True)
    threading.Thread(target=server.serve_forever, name="market", daemon=True).start()

    if use_sandbox:
        summary = prepare_stripe(app)
        # Not the summary itself: it holds the webhook signing secrets, which are never printed.
        print(f"Stripe sandbox: {overrides['STRIPE_API_BASE']} ({len(summary['webhook_secrets'])} webhook "
              f"endpoints, {summary['apps_changed']} apps synced)")

    stop = threading.Event()
    threading.Thread(target=run_sweep_forever, args=(app, stop), name="sweep", daemon=True).start()

    print(f"\nApp Market demo: {market_url}/")
    print(f"Sample integration: {sample_url}/")
    print("Demo logins (password demo-pass-123):")
    for email, who in DEMO_LOGINS:
        print(f"  {email:22} {who}")
    print(flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        server.shutdown()
        _stop_children()
