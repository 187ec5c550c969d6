"""App Market: `create_app(config=None)`, and `python app.py [--port P]` runs the whole demo."""
import argparse
import os
import sys

import click
from flask import Flask, g
from htmx_flask import Htmx
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.serving import make_server

from market import config as market_config
from market.accounts import auth as accounts
from market.accounts import web as accounts_web
from market.api import health as api_health
from market.billing import catalogue, invoice_records, replay
from market.data import database
from market.jobs import demo, rebuild, seed, sweep
from market.notifications import outbox as notifications
from market.notifications import web as notifications_web
from market.oauth import scope_retirement
from market.oauth import web as oauth_web
from market.wiring import connect_signals
from models import db
from views import api as api_views
from views import caching, filters, locale, security, visitor_cache
from views.blueprints import register_blueprints

htmx = Htmx()


def create_app(config=None):
    app = Flask(__name__, instance_relative_config=True)
    settings = market_config.load(config, instance_path=app.instance_path)
    app.config.update(settings)
    env = settings["MARKET_ENV"]
    app.config.update(
        SESSION_COOKIE_NAME="market_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=env == "production",
        REMEMBER_COOKIE_SECURE=env == "production",
        WTF_CSRF_TIME_LIMIT=None,  # tied to the session instead; a long form must not expire
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
        TEMPLATES_AUTO_RELOAD=False,
    )
    if app.config["MARKET_URL"] is None:
        app.config["MARKET_URL"] = "http://127.0.0.1:5000"
    if env == "test":
        accounts.configure_hasher(cheap=app.config.get("CHEAP_PASSWORD_HASH", True))
    if app.config["TRUST_PROXY_HOPS"]:
        # Only when configured: otherwise X-Forwarded-* from a client would be believed.
        hops = app.config["TRUST_PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    connect_signals()
    init_database(app)
    accounts_web.login_manager.init_app(app)
    security.init_app(app)
    caching.init_app(app)  # the CSRF token's signature kept per session
    htmx.init_app(app)
    locale.init_app(app)  # Flask-Babel, the reader's language and the footer's switch
    api_views.init_app(app)  # the API's rate limit (limits) and health counters
    oauth_web.init_app(app)
    filters.register_filters(app)
    register_blueprints(app)
    app.config["CSRF_EXEMPT"] = sorted(security.CSRF_EXEMPT_ENDPOINTS)
    register_commands(app)
    notifications_web.init_app(app)  # the app-notification sender and `flask notify`
    visitor_cache.init_app(app)  # last: cached visitor pages are answered before all of the above
    return app


def init_database(app):
    previous = getattr(db, "obj", None)
    if previous is not None:
        previous.close_all()  # a second app in one process (tests) gets a fresh pool
    db.initialize(database.open_database(app.config["DATABASE_URL"]))
    app.extensions["database"] = db

    @app.before_request
    def take_connection():
        db.connect(reuse_if_open=True)
        g.db_connected = True

    @app.teardown_request
    def give_back_connection(exc):
        if not db.is_closed():
            db.close()


def close_pool():
    """Before gunicorn forks: children must not share the parent's sockets or file handles."""
    if getattr(db, "obj", None) is not None:
        db.close_all()


def register_commands(app):
    @app.cli.command("migrate")
    def migrate_command():
        """Apply the migrations not yet applied."""
        with db.connection_context():
            done = database.migrate(db)
            retired = scope_retirement.retire_unserved_scopes(app.config)
        click.echo("applied: " + (", ".join(done) if done else "nothing to do"))
        if retired:
            click.echo("unserved scopes removed from: " + ", ".join(retired))

    @app.cli.command("api-health-flush")
    def api_health_flush_command():
        """Add this process's API health counts to the database now (workers do it every 10 s)."""
        with db.connection_context():
            written = api_health.flush(app.config, app.extensions["api_health"])
        click.echo(f"api health: {written} call(s) flushed")

    @app.cli.command("stats-rebuild")
    def stats_rebuild_command():
        """Recompute app statistics and co-usage from subscriptions, connections and reviews."""
        with db.connection_context():
            apps, pairs = rebuild.rebuild_everything(app.config["BILLING_GRACE_DAYS"])
        click.echo(f"stats rebuilt for {apps} apps; {pairs} co-usage pairs")

    @app.cli.command("seed-demo")
    @click.option("--scale", type=int, default=None,
                  help="Seed N times the companies (and 10,000 apps at 100) for benchmarks.")
    def seed_demo_command(scale):
        """Deterministic demo data (DESIGN.md §8)."""
        with db.connection_context():
            database.migrate(db)
            summary = seed.seed_demo(app.config, scale=scale, echo=click.echo)
        click.echo(summary)

    @app.cli.command("stripe-sync")
    def stripe_sync_command():
        """Create the Stripe products, prices and tax rate that are missing."""
        with db.connection_context():
            summary = catalogue.sync_all(app.config)
        click.echo(f"tax rate {summary['tax_rate']}; {summary['apps_changed']} app(s) synced")

    @app.cli.command("stripe-replay")
    @click.option("--since", required=True, help="ISO date (UTC) or Unix seconds.")
    def stripe_replay_command(since):
        """Process Stripe's events since a time that the market has not processed yet."""
        try:
            moment = replay.parse_since(since)
        except ValueError:
            raise click.BadParameter("an ISO date such as 2026-11-01 or Unix seconds", param_hint="--since") from None
        with db.connection_context():
            counts = replay.replay_events(app.config, moment)
            notifications.deliver_due(app.config)
        click.echo(", ".join(f"{name} {value}" for name, value in counts.items()))

    @app.cli.command("invoices-backfill")
    def invoices_backfill_command():
        """Once, after migration 023: record the invoices of subscriptions made before the market
        kept them (My apps reads only its own records). Asks Stripe outside any transaction."""
        with db.connection_context():
            done, count = invoice_records.backfill(app.config, echo=click.echo)
        click.echo(f"invoices: {count} recorded for {done} subscription(s)")

    @app.cli.command("sweep")
    def sweep_command():
        """Hourly: end entitlements whose grace has passed, forget old login failures."""
        with db.connection_context():
            summary = sweep.run(app.config)
        click.echo(summary)


def run_demo(argv=None):
    parser = argparse.ArgumentParser(description="Run the App Market demo.")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    os.environ.setdefault("MARKET_ENV", "demo")
    os.environ.setdefault("MARKET_URL", f"http://127.0.0.1:{args.port}")
    return demo.run(args.host, args.port, create_app, make_server)


if __name__ == "__main__":
    sys.exit(run_demo())
