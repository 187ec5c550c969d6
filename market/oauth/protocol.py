"""What the authorization server promises every client, apart from any one grant: its
metadata (RFC 8414), parameters that may appear only once, and error redirects that name the
issuer (RFC 9207). The issuer is the market's configured URL, passed in.
"""
from authlib.common.urls import add_params_to_uri

from market.core.scopes import SCOPES
from market.oauth.clients import AUTH_METHODS, GRANT_TYPES, INTROSPECTION_AUTH_METHODS

# Parameters that may appear only once in any OAuth request (RFC 6749 §3.1, §3.2).
SINGLE_PARAMETERS = (
    "response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge",
    "code_challenge_method", "access_type", "grant_type", "code", "code_verifier", "refresh_token",
    "client_secret", "token", "token_type_hint", "decision",
)


def duplicated_parameter(values):
    """The first OAuth parameter sent more than once in `values` (a MultiDict), or None."""
    for name in SINGLE_PARAMETERS:
        if len(values.getlist(name)) > 1:
            return name
    return None


def with_issuer(location, issuer):
    """RFC 9207: a redirect from the authorization endpoint names the issuer, errors too."""
    return add_params_to_uri(location, [("iss", issuer)])


def error_redirect(issuer, redirect_uri, error, description=None, state=None):
    params = [("error", error)]
    if description:
        params.append(("error_description", description))
    if state:
        params.append(("state", state))
    params.append(("iss", issuer))
    return add_params_to_uri(redirect_uri, params)


def metadata(issuer):
    """RFC 8414 authorization server metadata."""
    base = issuer.rstrip("/")
    return {
        "issuer": issuer,
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
        "introspection_endpoint_auth_methods_supported": list(INTROSPECTION_AUTH_METHODS),
        "scopes_supported": list(SCOPES),
    }
