"""The OAuth2 authorization server and resource protector bound to Flask (DESIGN.md §6,
QUALITY.md 1–12): the only part of the oauth room that reads the request or the app's config.

Authlib does the protocol; the grants and endpoints here are its extension points, and each
hands the market's rules to the domain modules with the settings passed in: `clients` (which
client, which redirect URIs and scopes), `tokens` (codes and token pairs: issue, rotate,
revoke, introspect), `connections` and `consent`. What Authlib leaves to the application is
added here: exact redirect URIs, code expiry and atomic single use, refresh-token rotation
with a grace window, S256-only PKCE, `iss` on every redirect.

For the API (views/api.py):

    from market.oauth.web import require_oauth, current_grant

    @require_oauth("customer")          # or require_oauth() for any valid token
    def customers():
        grant = current_grant()          # the OAuthToken row
        grant.connection.company, grant.connection.app, grant.client, grant.scope

`require_oauth` answers 401 (missing, unknown, expired or revoked token; WWW-Authenticate:
Bearer) and 403 (insufficient scope) in the API's ErrorInformation shape.
"""
import json

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Payload, FlaskOAuth2Request
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.base import invalid_error_characters
from authlib.oauth2.rfc6749 import OAuth2Request, grants
from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidRequestError, MissingAuthorizationError
from authlib.oauth2.rfc6750 import BearerTokenGenerator, BearerTokenValidator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from flask import Response, abort, current_app, g
from flask import request as flask_request

from market.core import credentials
from market.core.clock import utcnow
from market.core.scopes import SCOPES
from market.oauth import clients, gate, protocol, tokens
from market.oauth.clients import AUTH_METHODS, INTROSPECTION_AUTH_METHODS
from models import db


def _config():
    return current_app.config


def issuer():
    return _config()["MARKET_URL"]


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
        tokens.save_authorization_code(
            _config(), code, request.client.row, request.user, request.payload.redirect_uri, request.scope,
            data.get("code_challenge"), data.get("code_challenge_method"), data.get("access_type") == "offline")

    def query_authorization_code(self, code, client):
        return tokens.authorization_code(code, client.row)

    def delete_authorization_code(self, authorization_code):
        """Codes are kept, marked used, so that a reuse can be recognised and punished."""

    def authenticate_user(self, authorization_code):
        connection = authorization_code.row.connection
        if not tokens.connection_may_be_served(connection):
            raise InvalidGrantError(gate.refusal(connection.app))
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
            won = tokens.use_code(code, utcnow())
            if won:
                status, token, headers = super().create_token_response()
        if not won:
            tokens.revoke_code_tokens(code)
            raise InvalidGrantError("The code has already been used.")
        return status, token, headers


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token):
        row = tokens.refreshable(_config(), refresh_token)
        return tokens.MarketToken(row) if row else None

    def authenticate_user(self, refresh_token):
        return refresh_token.row.connection

    def create_token_response(self):
        try:
            token = tokens.rotate(_config(), self.request.refresh_token.row, self.request.form.get("refresh_token"),
                                  self.request.payload.scope)
        except tokens.RefreshRefused as refused:
            raise InvalidGrantError(refused.reason) from None
        return 200, token, self.TOKEN_RESPONSE_HEADER


# --- Revocation and introspection endpoints ----------------------------------------------


def _require_token(request):
    """RFC 7009 §2.2, RFC 7662 §2.1: an unknown token_type_hint is ignored (the token is looked
    up as either kind), never refused; only the token itself is required."""
    if "token" not in request.form:
        raise InvalidRequestError("The parameter 'token' is required.")


class MarketRevocationEndpoint(RevocationEndpoint):
    CLIENT_AUTH_METHODS = AUTH_METHODS

    def check_params(self, request, client):
        _require_token(request)

    def authenticate_token(self, request, client):
        self.check_params(request, client)
        token = self.query_token(request.form["token"], request.form.get("token_type_hint"))
        # Another client's token is left alone, and the answer does not reveal it exists.
        if token is None or not token.check_client(client):
            return None
        return token

    def query_token(self, token_string, token_type_hint):
        return tokens.token_by_either(token_string, token_type_hint)

    def revoke_token(self, token, request):
        tokens.revoke_presented(token.row, request.form["token"])


class MarketIntrospectionEndpoint(IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = INTROSPECTION_AUTH_METHODS

    def check_params(self, request, client):
        _require_token(request)

    def query_token(self, token_string, token_type_hint):
        return tokens.token_by_either(token_string, token_type_hint)

    def check_permission(self, token, client, request):
        return token.check_client(client)

    def create_introspection_payload(self, token):
        if token is None or not tokens.connection_may_be_served(token.row.connection):
            return {"active": False}
        row = token.row
        if tokens.is_refresh_token(row, flask_request.form["token"]):
            return self.introspect_token(token, refresh=True) if tokens.refresh_token_alive(row) else {"active": False}
        return super().create_introspection_payload(token)

    def introspect_token(self, token, refresh=False):
        return tokens.introspection(token.row, issuer(), refresh)


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


def _query_client(client_id):
    return clients.query_client(client_id, _config()["SECRET_KEY"])


def _save_token(token, request):
    tokens.save_token(_config(), token, request.authorization_code.row, request.client.row)


def _access_token_generator(**kwargs):
    return credentials.new_token()


def _refresh_token_generator(**kwargs):
    return credentials.new_token()


def _expires_in(client, grant_type):
    # Set explicitly: Authlib's default for the authorization-code grant is ten days.
    return _config()["OAUTH_ACCESS_TOKEN_TTL"]


authorization = MarketAuthorizationServer()


def init_app(app):
    authorization.init_app(app, query_client=_query_client, save_token=_save_token)
    authorization.register_token_generator(
        "default", BearerTokenGenerator(_access_token_generator, _refresh_token_generator, _expires_in))
    authorization.scopes_supported = list(SCOPES)
    if not authorization._authorization_grants:
        authorization.register_client_auth_method("client_secret_basic", clients.authenticate_basic)
        authorization.register_grant(AuthorizationCodeGrant, [S256CodeChallenge(required=True)])
        authorization.register_grant(RefreshTokenGrant)
        authorization.register_endpoint(MarketRevocationEndpoint)
        authorization.register_endpoint(MarketIntrospectionEndpoint)
    if not require_oauth._token_validators:
        require_oauth.register_token_validator(MarketBearerTokenValidator())


def with_issuer(response):
    """RFC 9207: every redirect from the authorization endpoint names the issuer, errors too."""
    if response.location:
        response.location = protocol.with_issuer(response.location, issuer())
    return response


def error_redirect(redirect_uri, error, description=None, state=None):
    return protocol.error_redirect(issuer(), redirect_uri, error, description, state)


def metadata():
    """RFC 8414 authorization server metadata."""
    return protocol.metadata(issuer())


def _json_error(error, description):
    body = json.dumps({"error": error, "error_description": description})
    return Response(body, status=400, mimetype="application/json",
                    headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


def _endpoint(respond):
    duplicated = protocol.duplicated_parameter(flask_request.values)
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


# --- The resource protector (for the API) ------------------------------------------------


class MarketBearerTokenValidator(BearerTokenValidator):
    def authenticate_token(self, token_string):
        row = tokens.token_by_access(token_string)
        return tokens.MarketToken(row) if row else None


class MarketResourceProtector(ResourceProtector):
    def raise_error_response(self, error):
        """The API's error shape (DESIGN.md §6), with the RFC 6750 WWW-Authenticate header."""
        body = {"ErrorInformation": {"error": 1, "message": error.description or error.error,
                                     "code": error.error}}
        response = Response(json.dumps(body), status=error.status_code, mimetype="application/json")
        for name, value in error.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        if isinstance(error, MissingAuthorizationError):
            # RFC 6750 §3.1: no credentials sent, so no error code; the scheme and realm only.
            response.status_code = 401
            response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
        abort(response)


require_oauth = MarketResourceProtector()


def current_grant():
    """The OAuthToken row of the request `require_oauth` let through (None outside one); its
    `connection.company` and `connection.app` say whose data and which app."""
    token = g.get("authlib_server_oauth2_token")
    return token.row if token is not None else None


__all__ = ["OAuth2Error", "authorization", "require_oauth", "current_grant", "init_app", "metadata",
           "token_response", "revocation_response", "introspection_response", "error_redirect", "with_issuer"]
