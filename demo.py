"""`python app.py`: the whole demo on one machine (DESIGN.md §8).

The market on P; later parts add the sample integration on P+1 and the Stripe sandbox on P+2.
The demo database is migrated and seeded on first start.
"""
import atexit
import subprocess
import sys
import time

from werkzeug.serving import make_server

import database
import seed
from app import create_app
from models import User, db

DEMO_LOGINS = [
    ("customer@demo.test", "admin of Demo Bygg AB"),
    ("other@demo.test", "admin of another company"),
    ("developer@demo.test", "developer of time-tracker-pro"),
    ("admin@demo.test", "platform admin"),
]

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


def start_child(args):
    """A helper server in its own process; it dies with the demo."""
    child = subprocess.Popen([sys.executable, *args])
    _children.append(child)
    return child


def prepare(app):
    """Migrate, and seed the demo data once."""
    with app.app_context(), db.connection_context():
        database.migrate(db)
        if not User.select().exists():
            started = time.monotonic()
            print(seed.seed_demo(app.config, echo=print))
            print(f"seeded in {time.monotonic() - started:.1f} s")


def run(host, port):
    atexit.register(_stop_children)
    app = create_app()
    prepare(app)
    server = make_server(host, port, app, threaded=True)
    base = f"http://127.0.0.1:{port}"
    print(f"\nApp Market demo: {base}/")
    print("Demo logins (password demo-pass-123):")
    for email, who in DEMO_LOGINS:
        print(f"  {email:22} {who}")
    print(flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        _stop_children()
