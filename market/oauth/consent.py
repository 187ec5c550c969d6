"""Consent (DESIGN.md §6): who may connect an app for a company, whether the company already
granted what an app asks for, and the grant itself (a Connection made or widened).
"""
from market.accounts import auth as accounts
from market.accounts import companies
from market.core import words
from market.core.clock import utcnow
from market.entitlement import rules as entitlements
from market.oauth import gate, signals
from models import Connection, IntegrityError, db


def consent_refusal(user, app, grace_days):
    """Why this user may not connect this app for a company (None when they may): only an
    admin of a company entitled to the app may consent (DESIGN.md §6)."""
    if user.company_id is None:
        return words.marked("Only a customer company's admin can connect apps. Log in with your company account.")
    try:
        companies.require_company_admin(user)
    except companies.NotCompanyAdmin:
        return words.marked("Only an admin of your company can connect apps. Ask an admin to connect it.")
    if not accounts.is_confirmed(user):
        return str(accounts.NotConfirmed())  # issue N: a confirmed address first
    if not gate.app_may_serve(app, user.company):
        return gate.refusal(app)
    entitlement = entitlements.check(user.company, app, grace_days)
    if not entitlement.allowed:
        return entitlement.reason
    return None


def already_granted(company, app, scopes):
    """The company's grant is active and covers `scopes`: no need to ask again."""
    connection = Connection.get_or_none(Connection.company == company, Connection.app == app)
    return (connection is not None and connection.revoked_at is None
            and set(scopes) <= set(connection.scopes.split()))


def granted_scopes(company, app):
    """The scopes the company's active grant to the app holds (none without one)."""
    connection = Connection.get_or_none(Connection.company == company, Connection.app == app,
                                        Connection.revoked_at.is_null())
    return connection.scopes.split() if connection is not None else []


def issued_scope(connection, client_row):
    """What a pair issued after consent carries: the whole grant (what was granted before and
    what was just allowed), within what the app's client may still ask for."""
    allowed = set(client_row.scopes.split())
    return " ".join(name for name in connection.scopes.split() if name in allowed)


class ConsentRefused(Exception):
    """The app may not be connected for this company (the status gate said no)."""


def grant_access(config, user, app, scopes, now=None):
    """The company's consent: create its Connection or widen it (a revoked one starts over)."""
    if not gate.app_may_serve(app, user.company):
        raise ConsentRefused(gate.refusal(app))
    now = now or utcnow()
    with db.atomic():
        connection = Connection.get_or_none(Connection.company == user.company_id, Connection.app == app)
        if connection is None:
            try:
                with db.atomic():
                    connection = Connection.create(company=user.company_id, app=app, scopes="",
                                                   consented_by=user.id, consented_at=now)
            except IntegrityError:
                # Two consents at once: the other one made the row.
                connection = Connection.get(Connection.company == user.company_id, Connection.app == app)
        granted = [] if connection.revoked_at is not None else connection.scopes.split()
        merged = list(dict.fromkeys(granted + list(scopes)))
        Connection.update(scopes=" ".join(merged), consented_by=user.id, consented_at=now,
                          revoked_at=None).where(Connection.id == connection.id).execute()
        connection = Connection.get_by_id(connection.id)
        signals.connection_granted.send(connection, config=config, now=now)
    return connection
