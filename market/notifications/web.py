"""The app-notification sender in the serving process, bound to Flask: one background thread
per process, woken when a request that wrote events to the outbox has finished (its
transaction committed by then), and every minute for retries; and `flask --app app notify`.
What is sent and how attempts are recorded is market.notifications.outbox's.
"""
import logging
import threading

import click
from flask import current_app, g, has_app_context

from market.notifications import outbox, signals
from models import db

log = logging.getLogger(__name__)


class Sender:
    """One thread per serving process, started on first use (after gunicorn's fork), woken when
    a request that wrote events has finished, and every minute for retries."""

    def __init__(self, flask_app):
        self.flask_app = flask_app
        self.wakeup = threading.Event()
        self.thread = None
        self.lock = threading.Lock()

    def wake(self):
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, name="app-notifications", daemon=True)
                self.thread.start()
        self.wakeup.set()

    def _run(self):
        while True:
            self.wakeup.wait(60)
            self.wakeup.clear()
            try:
                with self.flask_app.app_context(), db.connection_context():
                    outbox.deliver_due(self.flask_app.config)
            except Exception:  # noqa: BLE001 - the sender must outlive a database hiccup
                log.exception("sending app notifications failed")


def _note_queued(row, **_):
    # Remembered for this request only; its teardown wakes the sender.
    if has_app_context():
        g.app_notifications_pending = True


def init_app(flask_app):
    sender = Sender(flask_app)
    flask_app.extensions["app_notifications"] = sender
    signals.queued.connect(_note_queued)

    @flask_app.teardown_request
    def send_after_commit(exc):
        # Teardown runs after the view's transaction committed (or rolled back: then the rows
        # are gone and the sender finds nothing).
        background = flask_app.config.get("NOTIFY_IN_BACKGROUND", flask_app.config["MARKET_ENV"] != "test")
        if g.pop("app_notifications_pending", False) and background:
            sender.wake()

    @flask_app.cli.command("notify")
    def notify_command():
        """Send the app notifications that are due (retries included)."""
        with db.connection_context():
            summary = outbox.deliver_due(flask_app.config)
        click.echo(f"delivered {summary['delivered']}, failed {summary['failed']}")


def wake_current():
    """For code outside a request (the sweep in the demo's background) that wrote events."""
    sender = current_app.extensions.get("app_notifications") if has_app_context() else None
    if sender is not None:
        sender.wake()
