"""The OAuth2 endpoints (DESIGN.md §6). The protocol is the oauth room's (market.oauth.web
binds it to Flask); these only route to it, plus the consent page a company admin sees."""
from flask import Blueprint, current_app, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from market.core import scopes
from market.oauth import clients, consent, gate, protocol, tokens
from market.oauth import web as oauth2
from models import OAuthClient
from views.locale import said
from views.security import csrf_exempt

bp = Blueprint("oauth", __name__)


def _refuse_page(error, description, status=400, reason=None):
    """An error that must not go back to the client: its redirect URI is not trusted. `reason`
    is the sentence for the person (the market's own, translated); `description` the protocol's
    detail, which stays English like the rest of the OAuth and API messages."""
    return render_template("oauth/error.html", error=error, description=description,
                           reason=reason or _("The app sent a request that the App Market cannot accept.")), status


def _authorization_error(error):
    if error.redirect_uri:
        return redirect(oauth2.error_redirect(error.redirect_uri, error.error, error.description,
                                              request.values.get("state")), 302)
    return _refuse_page(error.error, error.description)


@bp.route("/oauth-v1/auth", methods=["GET", "POST"])
def authorize():
    duplicated = protocol.duplicated_parameter(request.values)
    if duplicated:
        return _refuse_page("invalid_request", f"The parameter {duplicated!r} was sent more than once.")
    user = current_user.user if current_user.is_authenticated else None
    # The status gate before anything else (an unknown client is Authlib's invalid_client,
    # never redirected either): an unpublished or suspended client gets
    # this page and never a redirect to a URI it registered (an open redirect otherwise).
    client = clients.query_client(request.values.get("client_id"), current_app.config["SECRET_KEY"])
    app = client.row.app if client is not None else None
    if app is not None and not gate.app_may_serve(app, user.company if user is not None else None):
        return _refuse_page("unauthorized_client", gate.refusal(app), 403, reason=said(gate.refusal(app)))
    try:
        grant = oauth2.authorization.get_consent_grant(end_user=user)
    except oauth2.OAuth2Error as error:
        return _authorization_error(error)
    if user is None:
        return redirect(url_for("auth.login", next=request.full_path), 303)

    requested = grant.request.scope.split()
    unreviewed = gate.is_unreviewed_trial(app, user.company)
    state = request.values.get("state")
    refusal = consent.consent_refusal(user, app, current_app.config["BILLING_GRACE_DAYS"])
    if refusal:
        denied_url = oauth2.error_redirect(grant.redirect_uri, "access_denied", refusal, state)
        if request.method == "POST":
            return redirect(denied_url, 302)
        return render_template("oauth/refused.html", app=app, reason=said(refusal), user=user,
                               denied_url=denied_url), 403

    # Consent for more scopes shows what was granted apart from what is asked for anew.
    granted = consent.granted_scopes(user.company_id, app)
    asked = [name for name in requested if name not in granted]
    if request.method == "POST":
        decision = request.form.get("decision")
        if decision == "deny":
            # The existing grant stays as it was.
            return redirect(oauth2.error_redirect(grant.redirect_uri, "access_denied",
                                                  "The company admin declined.", state), 302)
        if decision != "allow":
            return render_template("oauth/consent.html", app=app, company=user.company,
                                   scopes=scopes.describe(asked), granted=scopes.describe(granted),
                                   unreviewed=unreviewed, error=_("Choose Allow or Deny.")), 400
        try:
            connection = consent.grant_access(current_app.config, user, app, requested)
        except consent.ConsentRefused as refused:
            return _refuse_page("unauthorized_client", str(refused), 403, reason=said(refused))
        grant.issued_scope = consent.issued_scope(connection, grant.client.row)
    elif not consent.already_granted(user.company_id, app, requested):
        return render_template("oauth/consent.html", app=app, company=user.company,
                               scopes=scopes.describe(asked), granted=scopes.describe(granted),
                               unreviewed=unreviewed, error=None)
    response = oauth2.authorization.create_authorization_response(grant_user=user, grant=grant)
    return oauth2.with_issuer(response)


@bp.post("/oauth-v1/token")
@csrf_exempt
def token():
    response = oauth2.token_response()
    if response.status_code >= 400 and request.form.get("grant_type") == "refresh_token":
        app_id = _refreshing_app()
        if app_id is not None:  # an unknown client's failure is no app's health
            current_app.extensions["api_health"].refresh_failed(app_id)
    return response


def _refreshing_app():
    """The app whose refresh failed: the refresh token's, else the client's named in the form
    or in HTTP Basic."""
    row = tokens.token_by_refresh(request.form.get("refresh_token") or "")
    if row is not None:
        return row.client.app_id
    client_id = request.form.get("client_id") or (request.authorization.username if request.authorization else None)
    if not isinstance(client_id, str) or not 0 < len(client_id) <= 64 or "\x00" in client_id:
        return None
    client = OAuthClient.get_or_none(OAuthClient.client_id == client_id)
    return client.app_id if client is not None else None


@bp.post("/oauth-v1/revoke")
@csrf_exempt
def revoke():
    return oauth2.revocation_response()


@bp.post("/oauth-v1/introspect")
@csrf_exempt
def introspect():
    return oauth2.introspection_response()


@bp.get("/.well-known/oauth-authorization-server")
def metadata():
    return jsonify(oauth2.metadata())
