"""Connected apps (DESIGN.md §3): the grants a company gave apps, and withdrawing them."""
from flask import Blueprint, abort, current_app, flash, redirect, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from market.core import scopes
from market.oauth import connections as oauth_connections
from models import App
from views import confirm_page, render_page, wants_fragment

bp = Blueprint("connections", __name__)


def _company_user():
    user = current_user.user
    if user.company_id is None:
        abort(403)
    return user


def _page(user, status=200):
    rows = [(connection, scopes.describe(connection.scopes.split())) for connection in oauth_connections.connections_of(user.company_id)]
    return render_page("account/connections.html", "connections", status=status, rows=rows,
                       can_revoke=user.is_company_admin)


@bp.get("/account/connections")
@login_required
def connections():
    return _page(_company_user())


@bp.get("/account/connections/<slug>/revoke")
@login_required
def ask_revoke(slug):
    """The question before Revoke (issue P); the POST below acts on its own."""
    user = _company_user()
    if not user.is_company_admin:
        abort(403)
    app = App.get_or_none(App.slug == slug)
    connection = oauth_connections.active_connection(user.company_id, app) if app else None
    if connection is None:
        abort(404)
    lines = [_("%(app)s loses access to your company's data at once: its tokens stop working.", app=app.name),
             _("A subscription to it is not canceled by this; cancel it in My apps to stop paying."),
             _("To connect %(app)s again later, activate it from My apps.", app=app.name)]
    return confirm_page(url_for("connections.revoke", slug=slug), _("Revoke %(app)s's access?", app=app.name),
                        _("Revoke access"), url_for("connections.connections"), lines, danger=True,
                        back_label=_("Keep access"))


@bp.post("/account/connections/<slug>/revoke")
@login_required
def revoke(slug):
    user = _company_user()
    if not user.is_company_admin:
        abort(403)
    app = App.get_or_none(App.slug == slug)
    connection = oauth_connections.active_connection(user.company_id, app) if app else None
    if connection is None:
        abort(404)
    oauth_connections.revoke_connection(current_app.config, connection)
    flash(_("%(app)s no longer has access to your company's data.", app=app.name), "success")
    if wants_fragment():
        return _page(user)
    return redirect(url_for("connections.connections"), 303)
