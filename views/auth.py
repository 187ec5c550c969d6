"""Log in and log out (the rest of the account pages are in views/account.py)."""
from flask import Blueprint, redirect, render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from market.accounts import auth as accounts
from market.accounts import web as accounts_web
from views.security import safe_next

bp = Blueprint("auth", __name__)

MAX_FIELD = 254


def default_landing(user):
    if user.is_platform_admin:
        return "/admin"
    if user.developer_id:
        return "/developer"
    return "/"


@bp.route("/login", methods=["GET", "POST"])
def login():
    next_url = safe_next(request.args.get("next"), default="")
    if request.method == "GET":
        if current_user.is_authenticated:
            return redirect(next_url or default_landing(current_user), 303)
        return render_template("auth/login.html", next=next_url or None, email="", error=None)
    email = request.form.get("email", "")
    password = request.form.get("password", "")
    if not email or not password or len(email) > MAX_FIELD or len(password) > 200:
        return render_template("auth/login.html", next=next_url or None, email=email[:MAX_FIELD],
                               error=_("Enter your email and password.")), 400
    try:
        user = accounts.authenticate(email, password, request.remote_addr or "unknown")
    except accounts.LoginThrottled as throttled:
        response = render_template(
            "auth/login.html", next=next_url or None, email=email,
            error=_("Too many failed attempts. Please wait a few minutes and try again."))
        return response, 429, {"Retry-After": str(throttled.retry_after)}
    if user is None:
        return render_template("auth/login.html", next=next_url or None, email=email,
                               error=_("That email and password do not match an account.")), 401
    accounts_web.start_session(user)
    return redirect(next_url or default_landing(user), 303)


@bp.post("/logout")
def logout():
    accounts_web.end_session()
    return redirect("/", 303)
