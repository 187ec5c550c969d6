"""What the authorization server issues and keeps (DESIGN.md §6, QUALITY.md 1–12):
authorization codes (10 minutes, single use, a reuse revokes what the code issued) and token
pairs (an access token of an hour, a refresh token of 45 days rotated on every use, a replay
after the grace window revoking the whole family). Only hashes are stored.

Authlib drives the protocol (market.oauth.web); this module is its storage and its rules over
the market's rows, with the settings (`config`) passed in. `MarketToken` and
`MarketAuthorizationCode` are the rows as Authlib sees them.
"""
import datetime
import hashlib
import hmac

from authlib.oauth2.rfc6749 import TokenMixin

from market.core import credentials
from market.core.clock import utcnow
from market.data import prepared
from market.entitlement import rules as entitlements
from market.oauth import connections, gate
from models import App, AuthorizationCode, Company, Connection, OAuthClient, OAuthToken, db


def _seconds(config, name):
    return datetime.timedelta(seconds=config[name])


class RefreshRefused(Exception):
    """A refresh token cannot be exchanged; `reason` (or None) is told to the client."""

    def __init__(self, reason=None):
        super().__init__(reason)
        self.reason = reason


# --- Authlib's view of the rows ----------------------------------------------------------


class MarketAuthorizationCode:
    """An AuthorizationCode row, as Authlib sees it."""

    def __init__(self, row):
        self.row = row
        self.code_challenge = row.code_challenge
        self.code_challenge_method = row.code_challenge_method

    def get_redirect_uri(self):
        return self.row.redirect_uri or None

    def get_scope(self):
        return self.row.scope


class MarketToken(TokenMixin):
    """An OAuthToken row, as Authlib sees it."""

    def __init__(self, row):
        self.row = row

    def check_client(self, client):
        return self.row.client_id == client.row.id

    def get_scope(self):
        return self.row.scope

    def get_expires_in(self):
        return max(0, int((self.row.access_expires_at - utcnow()).total_seconds()))

    def is_expired(self):
        return self.row.access_expires_at <= utcnow()

    def is_revoked(self):
        # The status gate too: a suspended or unpublished app's tokens stop at once.
        return (self.row.revoked_at is not None or self.row.connection.revoked_at is not None
                or not connection_may_be_served(self.row.connection))

    def get_user(self):
        return self.row.connection


def connection_may_be_served(connection):
    """The status gate (market.oauth.gate) for the connection's app and company."""
    return gate.app_may_serve(connection.app, connection.company)


# --- Looking tokens up -------------------------------------------------------------------


def token_by_access(token):
    """The token row for an access token, with its connection, company, app and client in the
    same query (the API reads all of them on every call); None for an unknown token."""
    if not isinstance(token, str) or not token or len(token) > 512:
        return None
    return prepared.first("token_by_access", _token_by_access_query, credentials.token_hash(token))


def _token_by_access_query(token_hash):
    return (OAuthToken.select(OAuthToken, Connection, Company, App, OAuthClient)
            .join(Connection).join(Company)
            .switch(Connection).join(App)
            .switch(OAuthToken).join(OAuthClient)
            .where(OAuthToken.access_token_hash == token_hash)
            .limit(1))


def token_by_refresh(token):
    if not isinstance(token, str) or not token:
        return None
    return OAuthToken.get_or_none(OAuthToken.refresh_token_hash == credentials.token_hash(token))


def token_by_either(token_string, token_type_hint):
    """For revocation and introspection: the hinted kind first, then the other (RFC 7009 §2.1)."""
    if token_type_hint == "refresh_token":
        row = token_by_refresh(token_string) or token_by_access(token_string)
    else:
        row = token_by_access(token_string) or token_by_refresh(token_string)
    return MarketToken(row) if row else None


def is_refresh_token(row, presented):
    """Whether `presented` is the row's refresh token (the row holds the pair)."""
    return credentials.token_hash(presented) == row.refresh_token_hash


# --- Authorization codes -----------------------------------------------------------------


def save_authorization_code(config, code, client_row, user, redirect_uri, scope, code_challenge,
                            code_challenge_method, offline, now=None):
    """Keep the code (as a hash) for the company's connection to the client's app."""
    now = now or utcnow()
    connection = Connection.get(Connection.company == user.company_id, Connection.app == client_row.app_id)
    AuthorizationCode.create(
        code_hash=credentials.token_hash(code), client=client_row, connection=connection,
        user=user.id, redirect_uri=redirect_uri or "", scope=scope or "",
        code_challenge=code_challenge,
        code_challenge_method=code_challenge_method if code_challenge else None,
        offline=offline,
        expires_at=now + _seconds(config, "OAUTH_CODE_TTL"),
    )


def _authorization_code_query(code_hash, client_id):
    return (AuthorizationCode.select(AuthorizationCode, Connection).join(Connection)
            .where(AuthorizationCode.code_hash == code_hash, AuthorizationCode.client == client_id).limit(1))


def authorization_code(code, client_row, now=None):
    """The code the client presents, unused and unexpired, or None. A used code presented
    again revokes what it issued."""
    if not isinstance(code, str) or not code:
        return None
    # With its connection, which authenticate_user reads next.
    row = prepared.first("authorization_code", _authorization_code_query, credentials.token_hash(code),
                         client_row.id)
    if row is None:
        return None
    if row.used_at is not None:
        revoke_code_tokens(row)
        return None
    # Authlib never asks whether a code expired; it is asked here, when it is looked up.
    if row.expires_at <= (now or utcnow()):
        return None
    return MarketAuthorizationCode(row)


def _use_code_statement(now, code_id):
    # Single use under concurrency: only the request whose UPDATE changes the row wins.
    return (AuthorizationCode.update(used_at=now)
            .where(AuthorizationCode.id == code_id, AuthorizationCode.used_at.is_null()))


def use_code(code_row, now=None):
    """Mark the code used; True for the one request that did (call inside the transaction that
    issues its tokens)."""
    return prepared.execute("use_authorization_code", _use_code_statement, now or utcnow(), code_row.id) == 1


def save_token(config, token, code_row, client_row, now=None):
    """A token pair from an authorization code: the first of a new family."""
    now = now or utcnow()
    refresh = token.get("refresh_token")
    values = {
        "client": client_row.id, "connection": code_row.connection_id, "code": code_row.id,
        "family": credentials.new_token(24),
        "access_token_hash": credentials.token_hash(token["access_token"]),
        "scope": token.get("scope", ""), "issued_at": now,
        "access_expires_at": now + datetime.timedelta(seconds=token["expires_in"]),
    }
    if refresh:
        values["refresh_token_hash"] = credentials.token_hash(refresh)
        values["refresh_expires_at"] = now + _seconds(config, "OAUTH_REFRESH_TOKEN_TTL")
    # One INSERT per token exchange: its SQL is built once per set of columns (prepared.py).
    names = tuple(values)
    prepared.execute(("save_token", names), lambda *row: OAuthToken.insert(dict(zip(names, row, strict=True))),
                     *values.values())


# --- Revocation --------------------------------------------------------------------------


def revoke_family(family, now=None):
    return (OAuthToken.update(revoked_at=now or utcnow())
            .where(OAuthToken.family == family, OAuthToken.revoked_at.is_null()).execute())


def revoke_code_tokens(code_row, now=None):
    """A reused code revokes every token it issued (RFC 6749 §4.1.2), and their descendants."""
    families = [t.family for t in OAuthToken.select(OAuthToken.family).where(OAuthToken.code == code_row)]
    for family in set(families):
        revoke_family(family, now)


def revoke_presented(row, presented):
    """RFC 7009 for the token the client presented: a refresh token takes its access tokens
    and its descendants with it; an access token ends alone."""
    if is_refresh_token(row, presented):
        revoke_family(row.family)
    else:
        # The row holds the pair; ending only the access token's life keeps its refresh token.
        now = utcnow()
        OAuthToken.update(access_expires_at=now).where(OAuthToken.id == row.id,
                                                       OAuthToken.access_expires_at > now).execute()


# --- Refresh-token rotation --------------------------------------------------------------


def derive_rotation_pair(secret_key, refresh_token):
    """The refresh and access token that replace `refresh_token` (DESIGN.md §6). Derived, not
    random, so a replay inside the grace window can be answered with the same pair although
    only hashes are stored."""
    key = hmac.new(secret_key.encode(), b"oauth-refresh-rotation", hashlib.sha256).digest()
    new_refresh = hmac.new(key, refresh_token.encode() + b"r", hashlib.sha256).hexdigest()
    new_access = hmac.new(key, refresh_token.encode() + b"a", hashlib.sha256).hexdigest()
    return new_refresh, new_access


def refreshable(config, refresh_token, now=None):
    """The live token row of a presented refresh token, or None. A replay after the grace
    window revokes the whole family: the token may be stolen."""
    row = token_by_refresh(refresh_token)
    now = now or utcnow()
    if row is None or row.revoked_at is not None or row.connection.revoked_at is not None:
        return None
    if not connection_may_be_served(row.connection):
        return None
    if row.refresh_expires_at is None or row.refresh_expires_at <= now:
        return None
    if row.rotated_at is not None and now - row.rotated_at > _seconds(config, "OAUTH_REFRESH_GRACE"):
        revoke_family(row.family, now)
        return None
    return row


def rotate(config, old, presented, requested_scope):
    """The new pair for refresh token `presented` (of row `old`), as the token response's
    fields; raises RefreshRefused. Two requests rotating at once inside the grace window both
    get the same pair."""
    connection = old.connection
    if not connection_may_be_served(connection):
        raise RefreshRefused(gate.refusal(connection.app))
    entitlement = entitlements.check(connection.company, connection.app, config["BILLING_GRACE_DAYS"])
    if not entitlement.allowed:
        raise RefreshRefused(entitlement.reason)
    new_refresh, new_access = derive_rotation_pair(config["SECRET_KEY"], presented)
    now = utcnow()
    grace = _seconds(config, "OAUTH_REFRESH_GRACE")
    scope = requested_scope or old.scope
    with db.atomic():
        first_use = (OAuthToken.update(rotated_at=now)
                     .where(OAuthToken.id == old.id, OAuthToken.rotated_at.is_null()).execute()) == 1
        if first_use:
            OAuthToken.create(
                client=old.client_id, connection=connection, code=old.code_id, family=old.family,
                access_token_hash=credentials.token_hash(new_access),
                refresh_token_hash=credentials.token_hash(new_refresh), scope=scope, issued_at=now,
                access_expires_at=now + _seconds(config, "OAUTH_ACCESS_TOKEN_TTL"),
                refresh_expires_at=now + _seconds(config, "OAUTH_REFRESH_TOKEN_TTL"),
            )
    if not first_use:
        # Another request rotated it first; inside the grace window both get the same pair.
        old = OAuthToken.get_by_id(old.id)
        child = token_by_refresh(new_refresh)
        if child is None or child.revoked_at is not None or now - old.rotated_at > grace:
            if old.rotated_at and now - old.rotated_at > grace:
                revoke_family(old.family, now)
            raise RefreshRefused()
        scope = child.scope
        expires_in = max(1, int((child.access_expires_at - now).total_seconds()))
    else:
        expires_in = config["OAUTH_ACCESS_TOKEN_TTL"]
    connections.mark_connection_used(config, connection, now)
    return {"token_type": "Bearer", "access_token": new_access, "expires_in": expires_in,
            "refresh_token": new_refresh, "scope": scope}


# --- Introspection -----------------------------------------------------------------------


def refresh_token_alive(row, now=None):
    """A refresh token lives until it is rotated, revoked or 45 days old."""
    return (row.rotated_at is None and row.revoked_at is None and row.connection.revoked_at is None
            and row.refresh_expires_at is not None and row.refresh_expires_at > (now or utcnow())
            and connection_may_be_served(row.connection))


def introspection(row, issuer, refresh=False):
    """RFC 7662's answer for a live token (the access token, or with `refresh` the refresh
    token, of the row)."""
    expires = row.refresh_expires_at if refresh else row.access_expires_at
    return {
        "active": True, "client_id": row.client.client_id, "scope": row.scope,
        "token_type": "refresh_token" if refresh else "Bearer",
        "exp": int(expires.replace(tzinfo=datetime.UTC).timestamp()),
        "iat": int(row.issued_at.replace(tzinfo=datetime.UTC).timestamp()),
        "sub": row.connection.company.public_id, "iss": issuer,
    }
