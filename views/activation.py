"""Activate (`POST /apps/<slug>/activate`): the entitlement checked, then off to the app's
landing page. There is no other activation path (DESIGN.md §2)."""
from flask import Blueprint, abort, current_app, make_response, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from market.accounts import companies
from market.oauth import activation
from views import render_page
from views.locale import said

bp = Blueprint("activation", __name__)


@bp.post("/apps/<slug>/activate")
def activate(slug):
    if not current_user.is_authenticated:
        # The form was a POST; after login the customer comes back to the app's page.
        return redirect(url_for("auth.login", next=f"/apps/{slug}"), 303)
    user = current_user.user
    app_row = activation.activatable_app(slug, user.company)
    if app_row is None:
        abort(404)
    try:
        companies.require_company_admin(user)
    except companies.NotCompanyAdmin:
        return render_page("activation/refused.html", "refusal", status=403, app=app_row, kind="not_admin",
                           reason=_("Only an admin of your company may activate apps. Ask one of your "
                                    "company's admins to activate it."))
    try:
        url = activation.landing_url(user.company, app_row, current_app.config["SECRET_KEY"],
                                     current_app.config["BILLING_GRACE_DAYS"])
    except activation.ActivationRefused as refused:
        return render_page("activation/refused.html", "refusal", status=403, app=app_row, kind=refused.kind,
                           reason=said(refused.reason))
    if request.headers.get("HX-Request") == "true":
        # HTMX's XHR would follow a 303 to another site and fail; HX-Redirect makes it a navigation.
        response = make_response("", 200)
        response.headers["HX-Redirect"] = url
        return response
    return redirect(url, 303)
