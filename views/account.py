"""Accounts: registration, password, email, log out everywhere, reset links, company members,
invitations, and the demo's outbox."""
import functools

from flask import Blueprint, abort, current_app, flash, make_response, redirect, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.exceptions import Forbidden

from market.accounts import auth as accounts
from market.accounts import companies
from market.accounts import web as accounts_web
from market.outbound import mail
from models import Company, Developer
from views import render_page, wants_fragment

bp = Blueprint("account", __name__)


# --- helpers the other blueprints share ----------------------------------------------------

def forbidden(message):
    """403 with a message people can act on (views/errors.py shows `market_message` ones)."""
    error = Forbidden(message)
    error.market_message = True
    return error


def company_admin_required(view):
    """Visitors go to the login page; logged-in people who are not a company admin get 403."""
    @functools.wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        try:
            companies.require_company_admin(current_user.user)
        except companies.NotCompanyAdmin as problem:
            raise forbidden(str(problem)) from None
        return view(*args, **kwargs)
    return wrapper


def finished(url, message=None):
    """After a successful form: a redirect, which HTMX must follow with a whole page."""
    if message:
        flash(message, "success")
    if wants_fragment():
        response = make_response("", 200)
        response.headers["HX-Redirect"] = url
        return response
    return redirect(url, 303)


def form_errors(template, block, status=422, **context):
    """The form again, with its messages: swapped in place by HTMX, a whole page otherwise."""
    return render_page(template, block, status=status, **context)


def refuse_nul_characters():
    """PostgreSQL cannot store NUL in text, and no person types one: refuse the form early
    (a 400, not a 500), on every blueprint whose forms write to the database."""
    if request.method == "POST":
        for _, values in request.form.lists():
            if any("\x00" in value for value in values):
                abort(400)


bp.before_request(refuse_nul_characters)


def _start_session(user):
    # A new session: nothing from before the login (or the old epoch) carries over.
    session.clear()
    login_user(accounts_web.SessionUser(user))


def _form():
    return request.form.to_dict()


# --- registration --------------------------------------------------------------------------

@bp.route("/register", methods=["GET", "POST"])
def register():
    if current_user.is_authenticated:
        return redirect(url_for("account.overview"), 303)
    context = {"industries": companies.INDUSTRIES, "sizes": companies.SIZES}
    if request.method == "GET":
        kind = request.args.get("kind") if request.args.get("kind") in ("customer", "developer") else "customer"
        return render_page("account/register.html", None, form={"kind": kind}, errors={}, **context)
    form = _form()
    kind = form.get("kind")
    try:
        if kind == "developer":
            user = companies.register_developer(
                email=form.get("email"), password=form.get("password"), name=form.get("name"),
                vendor_name=form.get("vendor_name"), org_number=form.get("vendor_org_number", ""),
                address=request.remote_addr)
        elif kind == "customer":
            user = companies.register_customer(
                email=form.get("email"), password=form.get("password"), name=form.get("name"),
                company_name=form.get("company_name"), org_number=form.get("org_number"),
                industry=form.get("industry"), size=form.get("size"), address=request.remote_addr)
        else:
            raise companies.InvalidInput({"kind": "Choose whether you register a company or a developer."})
    except companies.InvalidInput as problem:
        form.pop("password", None)
        if kind == "developer" and "org_number" in problem.errors:
            problem.errors["vendor_org_number"] = problem.errors.pop("org_number")
        return form_errors("account/register.html", "register_form", form=form, errors=problem.errors, **context)
    _start_session(user)
    return finished("/developer" if user.developer_id else url_for("account.overview"),
                    "Welcome to the App Market.")


# --- the account ---------------------------------------------------------------------------

@bp.get("/account")
@login_required
def overview():
    user = current_user.user
    company = Company.get_by_id(user.company_id) if user.company_id else None
    developer = Developer.get_by_id(user.developer_id) if user.developer_id else None
    return render_page("account/overview.html", None, user=user, company=company, developer=developer,
                       industries=companies.INDUSTRIES)


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def password():
    if request.method == "GET":
        return render_page("account/password.html", None, errors={})
    user = current_user.user
    try:
        companies.change_password(user, request.form.get("current_password"), request.form.get("new_password"))
    except companies.InvalidInput as problem:
        return form_errors("account/password.html", "password_form", errors=problem.errors)
    # Every other session ended with the old epoch; this browser carries on with the new one.
    _start_session(user)
    return finished(url_for("account.overview"), "Your password is changed. Other sessions were logged out.")


@bp.post("/account/logout-everywhere")
@login_required
def logout_everywhere():
    accounts.end_all_sessions(current_user.user)
    logout_user()
    session.clear()
    return finished(url_for("auth.login"), "You are logged out on every device.")


@bp.route("/account/email", methods=["GET", "POST"])
@login_required
def email():
    if request.method == "GET":
        return render_page("account/email.html", None, form={}, errors={})
    form = _form()
    try:
        companies.request_email_change(current_app.config, current_user.user, form.get("email"),
                                       form.get("password"))
    except companies.InvalidInput as problem:
        form.pop("password", None)
        return form_errors("account/email.html", "email_form", form=form, errors=problem.errors)
    except mail.MailNotConfigured as problem:
        return form_errors("account/email.html", "email_form", status=503, form=form, errors={"email": str(problem)})
    return finished(url_for("account.overview"),
                    "We sent a confirmation link to the new address. The change takes effect when you follow it.")


@bp.route("/account/email/confirm/<token>", methods=["GET", "POST"])
def confirm_email(token):
    # GET only shows the button: following a link must never change anything by itself.
    try:
        if request.method == "GET":
            row = companies.find_token("email", token)
            return render_page("account/confirm_email.html", None, new_email=row.email, token=token)
        companies.confirm_email_change(token)
    except companies.InvalidLink as problem:
        return render_page("account/link_problem.html", None, status=400, message=str(problem))
    return finished(url_for("account.overview") if current_user.is_authenticated else url_for("auth.login"),
                    "Your email address is changed.")


# --- password reset ------------------------------------------------------------------------

@bp.route("/reset", methods=["GET", "POST"])
def reset_request():
    if request.method == "GET":
        return render_page("account/reset_request.html", None, errors={}, form={})
    form = _form()
    errors = {}
    companies.check_email(form.get("email"), errors)
    if errors:
        return form_errors("account/reset_request.html", "reset_form", form=form, errors=errors)
    try:
        companies.request_password_reset(current_app.config, form.get("email"))
    except mail.MailNotConfigured as problem:
        return form_errors("account/reset_request.html", "reset_form", status=503, form=form,
                           errors={"email": str(problem)})
    return finished(url_for("auth.login"),
                    "If an account uses that address, we sent it a link to choose a new password.")


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset_password(token):
    try:
        if request.method == "GET":
            companies.find_token("reset", token)
            return render_page("account/reset_password.html", None, token=token, errors={})
        companies.reset_password(token, request.form.get("password"))
    except companies.InvalidLink as problem:
        return render_page("account/link_problem.html", None, status=400, message=str(problem))
    except companies.InvalidInput as problem:
        return form_errors("account/reset_password.html", "reset_password_form", token=token, errors=problem.errors)
    logout_user()
    session.clear()
    return finished(url_for("auth.login"), "Your password is changed. Log in with the new one.")


# --- members -------------------------------------------------------------------------------

def _members_page(status=200, form=None, errors=None, block=None):
    company = Company.get_by_id(current_user.company_id)
    return render_page("account/members.html", block, status=status, company=company,
                       members=companies.members(company), invitations=companies.pending_invitations(company),
                       form=form or {}, errors=errors or {}, me=current_user.user)


@bp.get("/account/members")
@company_admin_required
def members():
    return _members_page()


@bp.post("/account/members/invite")
@company_admin_required
def invite():
    form = _form()
    try:
        companies.invite_member(current_app.config, current_user.user, form.get("email"), form.get("role"))
    except companies.InvalidInput as problem:
        return _members_page(422, form, problem.errors, block="invite_form")
    except mail.MailNotConfigured as problem:
        return _members_page(503, form, {"email": str(problem)}, block="invite_form")
    return finished(url_for("account.members"), "Invitation sent.")


@bp.post("/account/members/<member_id>/role")
@company_admin_required
def member_role(member_id):
    try:
        member = companies.set_member_role(current_user.user, member_id, request.form.get("role"))
    except companies.MemberNotFound:
        abort(404)
    except companies.InvalidInput as problem:
        return _members_page(422, errors=problem.errors, block="members_body")
    if member.id == current_user.id and member.company_role != "admin":
        return finished(url_for("account.overview"), "You are now a member; another admin manages the company.")
    return finished(url_for("account.members"), f"{member.email} is now {member.company_role}.")


@bp.post("/account/members/<member_id>/remove")
@company_admin_required
def member_remove(member_id):
    try:
        member = companies.remove_member(current_user.user, member_id)
    except companies.MemberNotFound:
        abort(404)
    except companies.InvalidInput as problem:
        return _members_page(422, errors=problem.errors, block="members_body")
    if member.id == current_user.id:
        logout_user()
        session.clear()
        return finished("/", "You left the company.")
    return finished(url_for("account.members"), f"{member.email} was removed.")


@bp.route("/invite/<token>", methods=["GET", "POST"])
def accept_invitation(token):
    try:
        row = companies.find_token("invite", token)
        company = Company.get_by_id(row.company_id)
        if request.method == "GET":
            return render_page("account/invitation.html", None, token=token, invitation=row, company=company,
                               form={}, errors={})
        form = _form()
        try:
            user = companies.accept_invitation(token, form.get("password"), form.get("name"))
        except companies.InvalidInput as problem:
            form.pop("password", None)
            return form_errors("account/invitation.html", "invitation_form", token=token, invitation=row,
                               company=company, form=form, errors=problem.errors)
    except companies.InvalidLink as problem:
        return render_page("account/link_problem.html", None, status=400, message=str(problem))
    _start_session(user)
    return finished("/", f"Welcome to {company.name} in the App Market.")


# --- the demo's outbox ---------------------------------------------------------------------

@bp.get("/dev/outbox")
def outbox():
    if not mail.outbox_enabled(current_app.config):
        abort(404)
    return render_page("account/outbox.html", None, mails=mail.outbox())
