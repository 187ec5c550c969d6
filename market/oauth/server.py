"""The OAuth2 authorization server and resource protector (DESIGN.md §6, QUALITY.md 1–12).

Authlib does the protocol; this module implements its client, authorization-code and token
mixins over the market's own rows (OAuthClient, AuthorizationCode, OAuthToken, Connection) and
adds what Authlib leaves to the application: exact redirect URIs, code expiry and atomic single
use, refresh-token rotation with a grace window, S256-only PKCE, `iss` on every redirect.

For the API (views/api.py):

    from market.oauth.server import require_oauth, current_grant

    @require_oauth("customer")          # or require_oauth() for any valid token
    def customers():
        grant = current_grant()          # the OAuthToken row
        grant.connection.company, grant.connection.app, grant.client, grant.scope

`require_oauth` answers 401 (missing, unknown, expired or revoked token; WWW-Authenticate:
Bearer) and 403 (insufficient scope) in the API's ErrorInformation shape.
"""
import binascii
import datetime
import hashlib
import hmac
import json
from urllib.parse import urlsplit

from authlib.common.urls import add_params_to_uri
from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Payload, FlaskOAuth2Request
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.base import invalid_error_characters
from authlib.oauth2.rfc6749 import ClientMixin, OAuth2Request, TokenMixin, grants
from authlib.oauth2.rfc6749.authenticate_client import authenticate_client_secret_basic
from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidRequestError
from authlib.oauth2.rfc6750 import BearerTokenGenerator, BearerTokenValidator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from flask import Response, abort, current_app, g, has_app_context
from flask import request as flask_request

from market import config
from market.accounts import companies
from market.core import credentials
from market.core.scopes import SCOPES
from market.data import prepared
from market.entitlement import rules as entitlements
from market.notifications import outbox as notifications
from market.stats import app_stats as stats
from models import (
    App,
    AuthorizationCode,
    Company,
    Connection,
    IntegrityError,
    OAuthClient,
    OAuthToken,
    db,
    utcnow,
)

GRANT_TYPES = ("authorization_code", "refresh_token")
AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
# A connection's last use is written at most this often (DESIGN.md §3).
LAST_USED_PRECISION = datetime.timedelta(hours=1)
# Parameters that may appear only once in any OAuth request (RFC 6749 §3.1, §3.2).
SINGLE_PARAMETERS = (
    "response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge",
    "code_challenge_method", "access_type", "grant_type", "code", "code_verifier", "refresh_token",
    "client_secret", "token", "token_type_hint", "decision",
)


def _config(name):
    return current_app.config[name]


def _grace_days():
    """BILLING_GRACE_DAYS of the running app; the setting's default outside one (scripts)."""
    if has_app_context():
        return current_app.config["BILLING_GRACE_DAYS"]
    return config.SETTINGS["BILLING_GRACE_DAYS"][1]


def _seconds(name):
    return datetime.timedelta(seconds=_config(name))


def duplicated_parameter(values):
    """The first OAuth parameter sent more than once in `values` (a MultiDict), or None."""
    for name in SINGLE_PARAMETERS:
        if len(values.getlist(name)) > 1:
            return name
    return None


def is_acceptable_redirect_uri(uri):
    """https, or http on loopback (RFC 8252 §7.3); never a fragment."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return False
    if parts.fragment or "#" in uri or not parts.hostname:
        return False
    if parts.scheme == "https":
        return True
    return parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")


# --- Authlib's mixins over the market's rows ---------------------------------------------


class MarketClient(ClientMixin):
    """An app's OAuthClient row, as Authlib sees it."""

    def __init__(self, row):
        self.row = row
        self.client_id = row.client_id

    @property
    def redirect_uris(self):
        return [line.strip() for line in self.row.redirect_uris.splitlines() if line.strip()]

    @property
    def scopes(self):
        return self.row.scopes.split()

    def get_client_id(self):
        return self.row.client_id

    def get_default_redirect_uri(self):
        # Only when there is no doubt which one was meant.
        uris = self.redirect_uris
        return uris[0] if len(uris) == 1 and is_acceptable_redirect_uri(uris[0]) else None

    def get_allowed_scope(self, scope):
        if not scope:
            return " ".join(self.scopes) or None
        requested = scope.split()
        if not set(requested) <= set(self.scopes) or not set(requested) <= set(SCOPES):
            return None
        return " ".join(dict.fromkeys(requested))

    def check_redirect_uri(self, redirect_uri):
        # Exact string comparison: no prefix, no trailing-slash or query leniency.
        return (isinstance(redirect_uri, str) and redirect_uri in self.redirect_uris
                and is_acceptable_redirect_uri(redirect_uri))

    def check_client_secret(self, client_secret):
        return credentials.client_secret_matches(_config("SECRET_KEY"), self.row.client_secret_hash,
                                                 client_secret)

    def check_endpoint_auth_method(self, method, endpoint):
        if self.row.is_public:
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type):
        return response_type == "code"

    def check_grant_type(self, grant_type):
        return grant_type in GRANT_TYPES


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
        return self.row.revoked_at is not None or self.row.connection.revoked_at is not None

    def get_user(self):
        return self.row.connection

    def get_client(self):
        return MarketClient(self.row.client)


def query_client(client_id):
    if not isinstance(client_id, str) or not client_id or len(client_id) > 64 or "\x00" in client_id:
        return None
    row = prepared.first("client", lambda value: OAuthClient.select().where(OAuthClient.client_id == value).limit(1),
                         client_id)
    return MarketClient(row) if row else None


def _authorization_code_query(code_hash, client_id):
    return (AuthorizationCode.select(AuthorizationCode, Connection).join(Connection)
            .where(AuthorizationCode.code_hash == code_hash, AuthorizationCode.client == client_id).limit(1))


def _token_by_access(token):
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


def _token_by_refresh(token):
    if not isinstance(token, str) or not token:
        return None
    return OAuthToken.get_or_none(OAuthToken.refresh_token_hash == credentials.token_hash(token))


def save_token(token, request):
    """A token pair from an authorization code: the first of a new family."""
    code = request.authorization_code.row
    now = utcnow()
    refresh = token.get("refresh_token")
    values = {
        "client": request.client.row.id, "connection": code.connection_id, "code": code.id,
        "family": credentials.new_token(24),
        "access_token_hash": credentials.token_hash(token["access_token"]),
        "scope": token.get("scope", ""), "issued_at": now,
        "access_expires_at": now + datetime.timedelta(seconds=token["expires_in"]),
    }
    if refresh:
        values["refresh_token_hash"] = credentials.token_hash(refresh)
        values["refresh_expires_at"] = now + _seconds("OAUTH_REFRESH_TOKEN_TTL")
    # One INSERT per token exchange: its SQL is built once per set of columns (prepared.py).
    names = tuple(values)
    prepared.execute(("save_token", names), lambda *row: OAuthToken.insert(dict(zip(names, row, strict=True))),
                     *values.values())


def _use_code_statement(now, code_id):
    # Single use under concurrency: only the request whose UPDATE changes the row wins.
    return (AuthorizationCode.update(used_at=now)
            .where(AuthorizationCode.id == code_id, AuthorizationCode.used_at.is_null()))


# --- Revocation -------------------------------------------------------------------------


def revoke_family(family, now=None):
    return (OAuthToken.update(revoked_at=now or utcnow())
            .where(OAuthToken.family == family, OAuthToken.revoked_at.is_null()).execute())


def revoke_code_tokens(code_row, now=None):
    """A reused code revokes every token it issued (RFC 6749 §4.1.2), and their descendants."""
    families = [t.family for t in OAuthToken.select(OAuthToken.family).where(OAuthToken.code == code_row)]
    for family in set(families):
        revoke_family(family, now)


def revoke_connection(connection, now=None):
    """Withdraw a company's grant to an app: every token of it stops working at once."""
    now = now or utcnow()
    with db.atomic():
        OAuthToken.update(revoked_at=now).where(OAuthToken.connection == connection,
                                                OAuthToken.revoked_at.is_null()).execute()
        revoked = Connection.update(revoked_at=now).where(Connection.id == connection.id,
                                                          Connection.revoked_at.is_null()).execute()
        if revoked:
            # Every path that withdraws a grant (customer's Revoke, Remove app, lost
            # entitlement) tells the app, in the same transaction as the change.
            notifications.connection_revoked(connection.company, connection.app, now)
        # A revoked connection no longer counts towards the app's active customers.
        stats.refresh_app(connection.app_id, _grace_days(), now)
    connection.revoked_at = connection.revoked_at or now


def revoke_lost_entitlement(company, app):
    connection = Connection.get_or_none(Connection.company == company, Connection.app == app)
    if connection is not None:
        revoke_connection(connection)


def mark_connection_used(connection, now=None):
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
        # At most hourly per connection: cheap enough to keep the active-customer count exact.
        stats.refresh_app(connection.app_id, _grace_days(), now)
    return written


# --- Grants ------------------------------------------------------------------------------


class S256CodeChallenge(CodeChallenge):
    """PKCE with S256 only: `plain` (and a challenge without a method, which means plain) is
    refused, and public clients must use it (RFC 9700 §2.1.1)."""
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        challenge, method = data.get("code_challenge"), data.get("code_challenge_method")
        if not challenge and not method:
            if grant.request.client.row.is_public:
                raise InvalidRequestError("Public clients must use PKCE with code_challenge_method=S256.")
            return
        if challenge and method != "S256":
            raise InvalidRequestError("Only code_challenge_method=S256 is supported.")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant, result):
        code = grant.request.authorization_code
        verifier = grant.request.form.get("code_verifier")
        if verifier and not code.code_challenge:
            # RFC 9700 §4.8: a verifier for a code issued without a challenge is a mix-up.
            raise InvalidGrantError("This code was issued without a code_challenge.")
        super().validate_code_verifier(grant, result)


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    def save_authorization_code(self, code, request):
        data = request.payload.data
        connection = Connection.get(Connection.company == request.user.company_id,
                                    Connection.app == request.client.row.app_id)
        AuthorizationCode.create(
            code_hash=credentials.token_hash(code), client=request.client.row, connection=connection,
            user=request.user.id, redirect_uri=request.payload.redirect_uri or "", scope=request.scope or "",
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method") if data.get("code_challenge") else None,
            offline=data.get("access_type") == "offline",
            expires_at=utcnow() + _seconds("OAUTH_CODE_TTL"),
        )

    def query_authorization_code(self, code, client):
        if not isinstance(code, str) or not code:
            return None
        # With its connection, which authenticate_user reads next.
        row = prepared.first("authorization_code", _authorization_code_query, credentials.token_hash(code),
                             client.row.id)
        if row is None:
            return None
        if row.used_at is not None:
            revoke_code_tokens(row)
            return None
        # Authlib never asks whether a code expired; it is asked here, when it is looked up.
        if row.expires_at <= utcnow():
            return None
        return MarketAuthorizationCode(row)

    def delete_authorization_code(self, authorization_code):
        """Codes are kept, marked used, so that a reuse can be recognised and punished."""

    def authenticate_user(self, authorization_code):
        connection = authorization_code.row.connection
        return connection if connection.revoked_at is None else None

    def generate_token(self, user=None, scope=None, grant_type=None, expires_in=None,
                       include_refresh_token=True):
        # A refresh token only when the authorization request said access_type=offline.
        return super().generate_token(user=user, scope=scope, grant_type=grant_type, expires_in=expires_in,
                                      include_refresh_token=self.request.authorization_code.row.offline)

    def create_token_response(self):
        code = self.request.authorization_code.row
        # Single use under concurrency: only the request whose UPDATE changes the row wins.
        with db.atomic():
            won = prepared.execute("use_authorization_code", _use_code_statement, utcnow(), code.id) == 1
            if won:
                status, token, headers = super().create_token_response()
        if not won:
            revoke_code_tokens(code)
            raise InvalidGrantError("The code has already been used.")
        return status, token, headers


def derive_rotation_pair(refresh_token):
    """The refresh and access token that replace `refresh_token` (DESIGN.md §6). Derived, not
    random, so a replay inside the grace window can be answered with the same pair although
    only hashes are stored."""
    key = hmac.new(_config("SECRET_KEY").encode(), b"oauth-refresh-rotation", hashlib.sha256).digest()
    new_refresh = hmac.new(key, refresh_token.encode() + b"r", hashlib.sha256).hexdigest()
    new_access = hmac.new(key, refresh_token.encode() + b"a", hashlib.sha256).hexdigest()
    return new_refresh, new_access


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token):
        row = _token_by_refresh(refresh_token)
        now = utcnow()
        if row is None or row.revoked_at is not None or row.connection.revoked_at is not None:
            return None
        if row.refresh_expires_at is None or row.refresh_expires_at <= now:
            return None
        if row.rotated_at is not None and now - row.rotated_at > _seconds("OAUTH_REFRESH_GRACE"):
            # A replay after the window: the token may be stolen, so the whole family goes.
            revoke_family(row.family, now)
            return None
        return MarketToken(row)

    def authenticate_user(self, refresh_token):
        return refresh_token.row.connection

    def create_token_response(self):
        old = self.request.refresh_token.row
        connection = old.connection
        entitlement = entitlements.check(connection.company, connection.app, _config("BILLING_GRACE_DAYS"))
        if not entitlement.allowed:
            raise InvalidGrantError(entitlement.reason)
        presented = self.request.form.get("refresh_token")
        new_refresh, new_access = derive_rotation_pair(presented)
        now = utcnow()
        scope = self.request.payload.scope or old.scope
        with db.atomic():
            first_use = (OAuthToken.update(rotated_at=now)
                         .where(OAuthToken.id == old.id, OAuthToken.rotated_at.is_null()).execute()) == 1
            if first_use:
                OAuthToken.create(
                    client=old.client_id, connection=connection, code=old.code_id, family=old.family,
                    access_token_hash=credentials.token_hash(new_access),
                    refresh_token_hash=credentials.token_hash(new_refresh), scope=scope, issued_at=now,
                    access_expires_at=now + _seconds("OAUTH_ACCESS_TOKEN_TTL"),
                    refresh_expires_at=now + _seconds("OAUTH_REFRESH_TOKEN_TTL"),
                )
        if not first_use:
            # Another request rotated it first; inside the grace window both get the same pair.
            old = OAuthToken.get_by_id(old.id)
            child = _token_by_refresh(new_refresh)
            if (child is None or child.revoked_at is not None
                    or now - old.rotated_at > _seconds("OAUTH_REFRESH_GRACE")):
                if old.rotated_at and now - old.rotated_at > _seconds("OAUTH_REFRESH_GRACE"):
                    revoke_family(old.family, now)
                raise InvalidGrantError()
            scope = child.scope
            expires_in = max(1, int((child.access_expires_at - now).total_seconds()))
        else:
            expires_in = _config("OAUTH_ACCESS_TOKEN_TTL")
        mark_connection_used(connection, now)
        token = {"token_type": "Bearer", "access_token": new_access, "expires_in": expires_in,
                 "refresh_token": new_refresh, "scope": scope}
        return 200, token, self.TOKEN_RESPONSE_HEADER


# --- Revocation and introspection endpoints ----------------------------------------------


class MarketRevocationEndpoint(RevocationEndpoint):
    CLIENT_AUTH_METHODS = AUTH_METHODS

    def authenticate_token(self, request, client):
        self.check_params(request, client)
        token = self.query_token(request.form["token"], request.form.get("token_type_hint"))
        # Another client's token is left alone, and the answer does not reveal it exists.
        if token is None or not token.check_client(client):
            return None
        return token

    def query_token(self, token_string, token_type_hint):
        if token_type_hint == "refresh_token":
            row = _token_by_refresh(token_string) or _token_by_access(token_string)
        else:
            row = _token_by_access(token_string) or _token_by_refresh(token_string)
        return MarketToken(row) if row else None

    def revoke_token(self, token, request):
        row = token.row
        if credentials.token_hash(request.form["token"]) == row.refresh_token_hash:
            # A refresh token takes its access tokens and its descendants with it.
            revoke_family(row.family)
        else:
            # The row holds the pair; ending only the access token's life keeps its refresh token.
            now = utcnow()
            OAuthToken.update(access_expires_at=now).where(OAuthToken.id == row.id,
                                                           OAuthToken.access_expires_at > now).execute()


class MarketIntrospectionEndpoint(IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = AUTH_METHODS

    def query_token(self, token_string, token_type_hint):
        if token_type_hint == "refresh_token":
            row = _token_by_refresh(token_string) or _token_by_access(token_string)
        else:
            row = _token_by_access(token_string) or _token_by_refresh(token_string)
        return MarketToken(row) if row else None

    def check_permission(self, token, client, request):
        return token.check_client(client)

    def create_introspection_payload(self, token):
        if token is None:
            return {"active": False}
        row = token.row
        if credentials.token_hash(flask_request.form["token"]) == row.refresh_token_hash:
            # A refresh token lives until it is rotated, revoked or 45 days old.
            alive = (row.rotated_at is None and row.revoked_at is None and row.connection.revoked_at is None
                     and row.refresh_expires_at is not None and row.refresh_expires_at > utcnow())
            return self.introspect_token(token, refresh=True) if alive else {"active": False}
        return super().create_introspection_payload(token)

    def introspect_token(self, token, refresh=False):
        row = token.row
        expires = row.refresh_expires_at if refresh else row.access_expires_at
        return {
            "active": True, "client_id": row.client.client_id, "scope": row.scope,
            "token_type": "refresh_token" if refresh else "Bearer",
            "exp": int(expires.replace(tzinfo=datetime.UTC).timestamp()),
            "iat": int(row.issued_at.replace(tzinfo=datetime.UTC).timestamp()),
            "sub": row.connection.company.public_id, "iss": _config("MARKET_URL"),
        }


# --- The server --------------------------------------------------------------------------


class MarketOAuth2Request(FlaskOAuth2Request):
    def __init__(self, request):
        # The market's configured URL decides the transport, not request.url: behind a
        # TLS-terminating proxy that says http, and Authlib refuses non-https URLs outright.
        OAuth2Request.__init__(self, method=request.method, headers=request.headers,
                               uri=issuer().rstrip("/") + request.full_path)
        self._request = request
        self.payload = FlaskOAuth2Payload(request)


class MarketAuthorizationServer(AuthorizationServer):
    def create_oauth2_request(self, request):
        return MarketOAuth2Request(flask_request)

    def get_authorization_grant(self, request):
        # Authlib quotes response_type and redirect_uri in its error descriptions, and refuses
        # (ValueError, a 500) a description outside printable ASCII; refuse such values first.
        for name in ("response_type", "redirect_uri"):
            value = request.payload.data.get(name)
            if isinstance(value, str) and invalid_error_characters(value):
                raise InvalidRequestError(f"The parameter {name} may hold only printable ASCII.")
        return super().get_authorization_grant(request)

    def handle_response(self, status_code, payload, headers):
        response = super().handle_response(status_code, payload, headers)
        if response.location is None:
            # Token, revocation and introspection answers carry secrets: never cached.
            response.headers["Cache-Control"] = "no-store"
            response.headers["Pragma"] = "no-cache"
        return response


def authenticate_basic(query_client, request):
    """client_secret_basic, with an undecodable header a failed authentication, not a 500."""
    try:
        return authenticate_client_secret_basic(query_client, request)
    except (UnicodeDecodeError, binascii.Error, ValueError):
        return None


def _access_token_generator(**kwargs):
    return credentials.new_token()


def _refresh_token_generator(**kwargs):
    return credentials.new_token()


def _expires_in(client, grant_type):
    # Set explicitly: Authlib's default for the authorization-code grant is ten days.
    return _config("OAUTH_ACCESS_TOKEN_TTL")


authorization = MarketAuthorizationServer()


def init_app(app):
    authorization.init_app(app, query_client=query_client, save_token=save_token)
    authorization.register_token_generator(
        "default", BearerTokenGenerator(_access_token_generator, _refresh_token_generator, _expires_in))
    authorization.scopes_supported = list(SCOPES)
    if not authorization._authorization_grants:
        authorization.register_client_auth_method("client_secret_basic", authenticate_basic)
        authorization.register_grant(AuthorizationCodeGrant, [S256CodeChallenge(required=True)])
        authorization.register_grant(RefreshTokenGrant)
        authorization.register_endpoint(MarketRevocationEndpoint)
        authorization.register_endpoint(MarketIntrospectionEndpoint)
    if not require_oauth._token_validators:
        require_oauth.register_token_validator(MarketBearerTokenValidator())


def issuer():
    return _config("MARKET_URL")


def with_issuer(response):
    """RFC 9207: every redirect from the authorization endpoint names the issuer, errors too."""
    if response.location:
        response.location = add_params_to_uri(response.location, [("iss", issuer())])
    return response


def error_redirect(redirect_uri, error, description=None, state=None):
    params = [("error", error)]
    if description:
        params.append(("error_description", description))
    if state:
        params.append(("state", state))
    params.append(("iss", issuer()))
    return add_params_to_uri(redirect_uri, params)


def metadata():
    """RFC 8414 authorization server metadata."""
    base = issuer().rstrip("/")
    return {
        "issuer": issuer(),
        "authorization_endpoint": base + "/oauth-v1/auth",
        "token_endpoint": base + "/oauth-v1/token",
        "revocation_endpoint": base + "/oauth-v1/revoke",
        "introspection_endpoint": base + "/oauth-v1/introspect",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": list(GRANT_TYPES),
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": True,
        "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "revocation_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "introspection_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "scopes_supported": list(SCOPES),
    }


def _json_error(error, description):
    body = json.dumps({"error": error, "error_description": description})
    return Response(body, status=400, mimetype="application/json",
                    headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


def _endpoint(respond):
    duplicated = duplicated_parameter(flask_request.values)
    if duplicated:
        return _json_error("invalid_request", f"The parameter {duplicated!r} was sent more than once.")
    return respond()


def token_response():
    """POST /oauth-v1/token."""
    return _endpoint(lambda: authorization.create_token_response())


def revocation_response():
    """POST /oauth-v1/revoke (RFC 7009)."""
    return _endpoint(lambda: authorization.create_endpoint_response(MarketRevocationEndpoint.ENDPOINT_NAME))


def introspection_response():
    """POST /oauth-v1/introspect (RFC 7662), for the client that owns the token."""
    return _endpoint(
        lambda: authorization.create_endpoint_response(MarketIntrospectionEndpoint.ENDPOINT_NAME))


# --- Consent -----------------------------------------------------------------------------


def consent_refusal(user, app):
    """Why this user may not connect this app for a company (None when they may): only an
    admin of a company entitled to the app may consent (DESIGN.md §6)."""
    if user.company_id is None:
        return "Only a customer company's admin can connect apps. Log in with your company account."
    try:
        companies.require_company_admin(user)
    except companies.NotCompanyAdmin:
        return "Only an admin of your company can connect apps. Ask an admin to connect it."
    entitlement = entitlements.check(user.company, app, _config("BILLING_GRACE_DAYS"))
    if not entitlement.allowed:
        return entitlement.reason
    return None


def already_granted(company, app, scopes):
    """The company's grant is active and covers `scopes`: no need to ask again."""
    connection = Connection.get_or_none(Connection.company == company, Connection.app == app)
    return (connection is not None and connection.revoked_at is None
            and set(scopes) <= set(connection.scopes.split()))


def grant_access(user, app, scopes, now=None):
    """The company's consent: create its Connection or widen it (a revoked one starts over)."""
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
    return Connection.get_by_id(connection.id)


# --- The resource protector (for the API) ------------------------------------------------


class MarketBearerTokenValidator(BearerTokenValidator):
    def authenticate_token(self, token_string):
        row = _token_by_access(token_string)
        return MarketToken(row) if row else None


class MarketResourceProtector(ResourceProtector):
    def raise_error_response(self, error):
        """The API's error shape (DESIGN.md §6), with the RFC 6750 WWW-Authenticate header."""
        body = {"ErrorInformation": {"error": 1, "message": error.description or error.error,
                                     "code": error.error}}
        response = Response(json.dumps(body), status=error.status_code, mimetype="application/json")
        for name, value in error.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        abort(response)


require_oauth = MarketResourceProtector()


def current_grant():
    """The OAuthToken row of the request `require_oauth` let through (None outside one); its
    `connection.company` and `connection.app` say whose data and which app."""
    token = g.get("authlib_server_oauth2_token")
    return token.row if token is not None else None


def active_connection(company, app):
    return Connection.get_or_none(Connection.company == company, Connection.app == app,
                                  Connection.revoked_at.is_null())


def connections_of(company):
    """The company's connected apps (not revoked), newest consent first."""
    return (Connection.select(Connection, App).join(App)
            .where(Connection.company == company, Connection.revoked_at.is_null())
            .order_by(Connection.consented_at.desc(), Connection.id.desc()))


__all__ = ["OAuth2Error", "authorization", "require_oauth", "current_grant", "revoke_connection",
           "mark_connection_used", "init_app", "metadata"]
