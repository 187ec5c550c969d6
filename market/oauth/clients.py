"""An app's OAuth client as the authorization server sees it (DESIGN.md §6): which grant types
and client authentication methods it may use, which redirect URIs it may be sent to, which
scopes it may ask for, and whether a presented client secret is its own.

The rows are made and edited by the developer's pages (market.catalog.listings); this module
only reads them. The secret key that keys the secrets' hashes is passed in.
"""
import binascii
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import ClientMixin
from authlib.oauth2.rfc6749.authenticate_client import authenticate_client_secret_basic

from market.core import credentials
from market.core.scopes import SCOPES
from market.data import prepared
from models import OAuthClient

GRANT_TYPES = ("authorization_code", "refresh_token")
AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
# Introspection answers only a confidential client: a public one (`none`) proves nothing.
INTROSPECTION_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


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


class MarketClient(ClientMixin):
    """An app's OAuthClient row, as Authlib sees it; `secret_key` keys its secret's hash."""

    def __init__(self, row, secret_key):
        self.row = row
        self.client_id = row.client_id
        self.secret_key = secret_key

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
        return credentials.client_secret_matches(self.secret_key, self.row.client_secret_hash, client_secret)

    def check_endpoint_auth_method(self, method, endpoint):
        if self.row.is_public:
            return method == "none" and method in _methods_of(endpoint)
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type):
        return response_type == "code"

    def check_grant_type(self, grant_type):
        return grant_type in GRANT_TYPES


def _methods_of(endpoint):
    return INTROSPECTION_AUTH_METHODS if endpoint == "introspection" else AUTH_METHODS


def query_client(client_id, secret_key):
    """The client with this client id, or None (also for ids no client could have)."""
    if not isinstance(client_id, str) or not client_id or len(client_id) > 64 or "\x00" in client_id:
        return None
    row = prepared.first("client", lambda value: OAuthClient.select().where(OAuthClient.client_id == value).limit(1),
                         client_id)
    return MarketClient(row, secret_key) if row else None


def authenticate_basic(query_client, request):
    """client_secret_basic, with an undecodable header a failed authentication, not a 500."""
    try:
        return authenticate_client_secret_basic(query_client, request)
    except (UnicodeDecodeError, binascii.Error, ValueError):
        return None
