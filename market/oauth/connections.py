"""Connections (DESIGN.md §3): the grant a company gave an app, how it is used and how it is
withdrawn. Revoking a connection revokes its tokens.

What follows from a change is not done here: the rooms after oauth hear it through
`market.oauth.signals` (the app's connection.revoked notification, the active-customer count),
sent inside the transaction that made the change, with the settings (`config`) and `now`.
"""
import datetime

from market.core.clock import local_date, utcnow
from market.data import prepared
from market.oauth import signals
from models import App, Connection, ConnectionUseDay, OAuthToken, db

# A connection's last use is written at most this often (DESIGN.md §3).
LAST_USED_PRECISION = datetime.timedelta(hours=1)


def active_connection(company, app):
    """The company's grant to the app, unless it was revoked; None without one."""
    if company is None or app is None:
        return None
    # On every app page a customer opens: its SQL is built once (prepared.py).
    return prepared.first("active_connection", lambda company_id, app_id: Connection.select().where(
        Connection.company == company_id, Connection.app == app_id, Connection.revoked_at.is_null()).limit(1),
        getattr(company, "id", company), getattr(app, "id", app))


def connected_app_ids(company, apps):
    """The ids of those of `apps` (rows or ids) the company has a grant to that is not revoked
    (`active_connection` for many apps, in one query)."""
    ids = sorted({getattr(a, "id", a) for a in apps})
    if company is None or not ids:
        return set()
    # On every My apps render: its SQL is built once per number of apps (prepared.py).
    return {c.app_id for c in prepared.select_listed("connected_app_ids", lambda company_id, app_ids: (
        Connection.select(Connection.app).where(Connection.company == company_id, Connection.app.in_(app_ids),
                                                Connection.revoked_at.is_null())), (getattr(company, "id", company),), ids)}


def connections_of(company):
    """The company's connected apps (not revoked), newest consent first."""
    return (Connection.select(Connection, App).join(App)
            .where(Connection.company == company, Connection.revoked_at.is_null())
            .order_by(Connection.consented_at.desc(), Connection.id.desc()))


def revoke_connection(config, connection, now=None):
    """Withdraw a company's grant to an app: every token of it stops working at once."""
    now = now or utcnow()
    with db.atomic():
        OAuthToken.update(revoked_at=now).where(OAuthToken.connection == connection,
                                                OAuthToken.revoked_at.is_null()).execute()
        revoked = Connection.update(revoked_at=now).where(Connection.id == connection.id,
                                                          Connection.revoked_at.is_null()).execute()
        if revoked:
            # Every path that withdraws a grant (customer's Revoke, Remove app, lost
            # entitlement) tells the app and the counts, in the same transaction as the change.
            signals.connection_revoked.send(connection, config=config, now=now)
    connection.revoked_at = connection.revoked_at or now


def revoke_company_app(config, company, app, now):
    """The company's access to the app ended (grace passed, the subscription ended or was
    refunded): what it granted the app is withdrawn, tokens and connection."""
    connection = Connection.get_or_none(Connection.company == company, Connection.app == app)
    if connection is not None:
        revoke_connection(config, connection, now)


def mark_connection_used(config, connection, now=None):
    """Record use at most once an hour per connection, never on every call (DESIGN.md §3): no
    statement at all when the last use is known to be recent (an UPDATE locks even when it
    matches nothing), and the conditional UPDATE makes concurrent calls write at most once."""
    now = now or utcnow()
    if connection.last_used_at is not None and connection.last_used_at >= now - LAST_USED_PRECISION:
        return 0
    written = (Connection.update(last_used_at=now)
               .where(Connection.id == connection.id,
                      Connection.last_used_at.is_null() | (Connection.last_used_at < now - LAST_USED_PRECISION))
               .execute())
    if written:
        if connection.last_used_at is None or local_date(connection.last_used_at) != local_date(now):
            # The day's use, at most once a day: a free app's verified customer used it on 3
            # days (DESIGN.md §3, market.reviews.customers).
            ConnectionUseDay.insert(connection=connection.id, day=local_date(now)).on_conflict_ignore().execute()
        connection.last_used_at = now
        # At most hourly per connection: cheap enough to keep the active-customer count exact.
        signals.connection_used.send(connection, config=config, now=now)
    return written
