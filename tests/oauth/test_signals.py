"""The oauth room tells the rooms after it through its signals (market.oauth.signals), and
its domain modules work without Flask: a revoked connection queues the app's
connection.revoked notification and recounts the app's active customers through the handlers
connected in market.wiring, inside the transaction that revoked it."""
import ast
import datetime
import json
import pathlib
import subprocess
import sys

import pytest

from market.notifications import on_oauth as notifications_on_oauth
from market.oauth import connections, consent, signals
from market.stats import on_oauth as stats_on_oauth
from models import AppNotification, AppStats, Connection, db, utcnow
from tests import factories

ROOT = pathlib.Path(__file__).resolve().parents[2]
NOW = datetime.datetime(2026, 3, 2, 9, 0)


class Heard:
    """A receiver that records what a signal sent."""

    def __init__(self):
        self.calls = []

    def __call__(self, sender, **kwargs):
        self.calls.append((sender, kwargs))


def _connected(app_fields=None):
    listing = factories.app_listing(webhook_url="https://app.example.test/notifications", **(app_fields or {}))
    company = factories.company()
    return factories.api_connection(company, listing)


def test_wiring_connects_the_oauth_handlers(app):
    revoked = set(signals.connection_revoked.receivers_for(object()))
    used = set(signals.connection_used.receivers_for(object()))
    assert {notifications_on_oauth.connection_revoked, stats_on_oauth.connection_changed} <= revoked
    assert stats_on_oauth.connection_changed in used


def test_revoking_a_connection_queues_connection_revoked_through_the_signal(app):
    connection = _connected()
    heard = Heard()
    with signals.connection_revoked.connected_to(heard):
        connections.revoke_connection(app.config, connection, NOW)
        connections.revoke_connection(app.config, connection, NOW)  # already revoked: nothing new
    assert heard.calls == [(connection, {"config": app.config, "now": NOW})]
    rows = list(AppNotification.select())
    assert [row.type for row in rows] == ["connection.revoked"]
    payload = json.loads(rows[0].payload)
    assert payload["company"] == connection.company.public_id and payload["data"] == {
        "connection": {"revoked": True}}
    assert Connection.get_by_id(connection.id).revoked_at == NOW


def test_without_the_notifications_handler_revoking_queues_nothing(app):
    # The outbox row comes from the handler, not from the oauth room itself.
    connection = _connected()
    signals.connection_revoked.disconnect(notifications_on_oauth.connection_revoked)
    try:
        connections.revoke_connection(app.config, connection, NOW)
    finally:
        signals.connection_revoked.connect(notifications_on_oauth.connection_revoked)
    assert AppNotification.select().count() == 0
    assert Connection.get_by_id(connection.id).revoked_at == NOW


def test_the_handlers_run_inside_the_revoking_transaction(app):
    connection = _connected()
    with pytest.raises(RuntimeError), db.atomic():
        connections.revoke_connection(app.config, connection, NOW)
        raise RuntimeError("the change that revoked it failed")
    assert AppNotification.select().count() == 0
    assert Connection.get_by_id(connection.id).revoked_at is None


def test_the_lost_entitlement_revokes_through_the_same_function(app):
    connection = _connected()
    connections.revoke_company_app(app.config, connection.company, connection.app, NOW)
    assert Connection.get_by_id(connection.id).revoked_at == NOW
    assert [row.type for row in AppNotification.select()] == ["connection.revoked"]


def test_use_is_heard_at_most_hourly_and_counts_the_company_active(app):
    connection = _connected()
    heard = Heard()
    now = utcnow()
    with signals.connection_used.connected_to(heard):
        assert connections.mark_connection_used(app.config, connection, now) == 1
        connection = Connection.get_by_id(connection.id)
        assert connections.mark_connection_used(app.config, connection, now + datetime.timedelta(minutes=5)) == 0
    assert [(sender.id, kwargs) for sender, kwargs in heard.calls] == [
        (connection.id, {"config": app.config, "now": now})]
    assert AppStats.get_by_id(connection.app_id).active_customers == 1


def test_consent_is_heard_as_connection_granted(app):
    listing = factories.app_listing()
    user = factories.customer_admin()
    heard = Heard()
    with signals.connection_granted.connected_to(heard):
        connection = consent.grant_access(app.config, user, listing, ["customer"], NOW)
    assert [(sender.id, kwargs) for sender, kwargs in heard.calls] == [
        (connection.id, {"config": app.config, "now": NOW})]


# --- no Flask in the domain ------------------------------------------------------------------

ROOMS = ("market/oauth", "market/notifications", "market/api")


def _flask_imports(path):
    tree = ast.parse(path.read_text(), str(path))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names.append(node.module or "")
    return [name for name in names if name.split(".")[0] == "flask" or name.startswith("flask_")]


def test_only_web_modules_of_these_rooms_import_flask():
    found = {str(path.relative_to(ROOT)): _flask_imports(path)
             for room in ROOMS for path in sorted((ROOT / room).glob("*.py"))
             if path.name not in ("web.py", "__init__.py")}
    assert found and {path: names for path, names in found.items() if names} == {}


def test_importing_the_domain_modules_does_not_import_flask():
    modules = [f"{room.replace('/', '.')}.{path.stem}" for room in ROOMS
               for path in sorted((ROOT / room).glob("*.py")) if path.name not in ("web.py", "__init__.py")]
    modules += ["market.stats.on_oauth", "market.wiring"]
    probe = ("import importlib, sys\n"
             f"for name in {modules!r}:\n"
             "    importlib.import_module(name)\n"
             "print(sorted(m for m in sys.modules if m.split('.')[0] == 'flask' or m.startswith('flask_')))\n")
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
