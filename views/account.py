"""Accounts: registration, password, email, log out everywhere, reset links, company members,
invitations, and the demo's outbox."""
import functools

from flask import Blueprint, abort, current_app, flash, g, make_response, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from markupsafe import Markup, escape
from werkzeug.exceptions import Conflict, Forbidden

from market.accounts import auth as accounts
from market.accounts import companies
from market.accounts import web as accounts_web
from market.billing import bureau as bureau_payer
from market.billing import gateway
from market.billing import subscriptions as billing_subscriptions
from market.core import words
from market.oauth import connections as oauth_connections
from market.outbound import mail
from market.reviews import ratings
from market.stats import app_stats
from models import App, Company, Developer, Review, Subscription
from views import locale, render_page, wants_fragment
from views.security import CSRF_EXEMPT_ENDPOINTS, safe_next

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
    accounts_web.start_session(user)


def _form():
    return request.form.to_dict()


def _local(url):
    """The referrer, when it is a page of this market (the banner's form goes back to it)."""
    return bool(url) and url.startswith(request.host_url)


# --- the current company (issue T, bureaus) -----------------------------------------------

def _multi_company():
    """The logged-in user belongs to several companies (once per request)."""
    if "multi_company" not in g:
        g.multi_company = bool(current_user.is_authenticated and current_user.company_id
                               and companies.membership_count(current_user.user) > 1)
    return g.multi_company


@bp.app_template_global()
def company_field():
    """The hidden `company` input every state-changing form carries next to its CSRF token, for
    a user of several companies: a form rendered for one company cannot act for another."""
    if not _multi_company():
        return ""
    return Markup('<input type="hidden" name="company" value="%s">') % escape(current_user.company.public_id)


@bp.app_template_global()
def my_companies():
    """[(company, role)] of the user's companies when there are several, else []."""
    return companies.memberships_of(current_user.user) if _multi_company() else []


@bp.before_app_request
def refuse_other_company():
    """A POST whose `company` is not the current company (a form of a tab opened before the
    user switched) is refused with 409 and changes nothing; without `company` it acts for the
    current company."""
    if request.method != "POST" or request.endpoint in (None, "account.switch_company", "auth.logout"):
        return None
    if request.endpoint in CSRF_EXEMPT_ENDPOINTS or not current_user.is_authenticated:
        return None
    if request.mimetype not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return None
    sent = request.form.get("company")
    if sent is None:
        return None
    current = current_user.company.public_id if current_user.company_id else None
    if sent != current:
        error = Conflict(_("This form was for another of your companies than the one you now work in. "
                           "Nothing was changed: reload the page and try again."))
        error.market_message = True
        raise error
    return None


@bp.post("/account/company")
@login_required
def switch_company():
    try:
        company = companies.switch_company(current_user.user, request.form.get("company"))
    except companies.NotAMember:
        abort(404)
    return finished(safe_next(request.form.get("next"), default="/account/apps"),
                    _("You now work in %(company)s.", company=company.name))


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
    address = request.remote_addr or ""
    try:
        companies.check_registration_limit(current_app.config, address)
    except companies.RegistrationLimited as limited:
        form.pop("password", None)
        response = form_errors("account/register.html", "register_form", status=429, form=form,
                               errors={"email": str(limited)}, **context)
        response.headers["Retry-After"] = str(limited.retry_after)
        return response
    try:
        if kind == "developer":
            user = companies.register_developer(
                email=form.get("email"), password=form.get("password"), name=form.get("name"),
                vendor_name=form.get("vendor_name"), org_number=form.get("vendor_org_number", ""),
                address=address)
        elif kind == "customer":
            user = companies.register_customer(
                email=form.get("email"), password=form.get("password"), name=form.get("name"),
                company_name=form.get("company_name"), org_number=form.get("org_number"),
                industry=form.get("industry"), size=form.get("size"), address=address)
        else:
            raise companies.InvalidInput({"kind": _("Choose whether you register a company or a developer.")})
    except companies.InvalidInput as problem:
        form.pop("password", None)
        if kind == "developer" and "org_number" in problem.errors:
            problem.errors["vendor_org_number"] = problem.errors.pop("org_number")
        return form_errors("account/register.html", "register_form", form=form, errors=problem.errors, **context)
    companies.send_confirmation(current_app.config, user)
    _start_session(user)
    return finished("/developer" if user.developer_id else url_for("account.overview"),
                    _(_("Welcome to the App Market. We mailed you a link to confirm your email address.")))


@bp.route("/register/confirm/<token>", methods=["GET", "POST"])
def confirm_registration(token):
    # GET only shows the button: a mail scanner following the link confirms nothing.
    try:
        if request.method == "GET":
            row = companies.find_token("confirm", token)
            return render_page("account/confirm_registration.html", None, email=row.email, token=token)
        companies.confirm_registration(token)
    except companies.InvalidLink as problem:
        return render_page("account/link_problem.html", None, status=400, message=locale.said(problem))
    return finished(url_for("account.overview") if current_user.is_authenticated else url_for("auth.login"),
                    _(_("Your email address is confirmed.")))


@bp.post("/register/confirm-again")
@login_required
def confirm_again():
    if accounts.is_confirmed(current_user.user):
        return finished(url_for("account.overview"), _("Your email address is already confirmed."))
    companies.send_confirmation(current_app.config, current_user.user)
    return finished(request.referrer if _local(request.referrer) else url_for("account.overview"),
                    _("We sent a new confirmation link to %(email)s.", email=current_user.user.email))


# --- the account ---------------------------------------------------------------------------

def _overview(status=200, delete_error=None, language_error=False):
    user = current_user.user
    company = Company.get_by_id(user.company_id) if user.company_id else None
    developer = Developer.get_by_id(user.developer_id) if user.developer_id else None
    return render_page("account/overview.html", None, status=status, user=user, company=company,
                       developer=developer, industries=companies.INDUSTRIES,
                       sessions=accounts.sessions_of(user), current_session_id=current_user.login_session.id,
                       last_admin=companies.is_last_admin(user), delete_error=delete_error,
                       language_error=language_error)


@bp.get("/account")
@login_required
def overview():
    return _overview()


@bp.post("/account")
@login_required
def save_language():
    """The language the person reads the market (and its mail) in; the cookie follows, so the
    choice holds at once, on this device even after logging out."""
    code = accounts.save_language(current_user.user, request.form.get("language"))
    if code is None:
        return _overview(status=400, language_error=True)
    response = finished(url_for("account.overview"), words.say(code, "Language saved."))
    return locale.remember(response, code)


@bp.post("/account/sessions/<public_id>/end")
@login_required
def end_session(public_id):
    this_one = public_id == current_user.login_session.public_id
    if not accounts.end_session(current_user.user, public_id):
        abort(404)
    if this_one:
        accounts_web.end_session()
        return finished(url_for("auth.login"), _("You are logged out."))
    return finished(url_for("account.overview"), _("That session is logged out."))


def _close_company(config, admin, company_id):
    """A company's last admin deleted their account: the company goes with it. Its apps lose
    access (every grant revoked, the apps told), its subscriptions end when the paid period
    does (each a Stripe call of its own, outside any transaction), then its data is erased but
    for the ledger (companies.erase_company)."""
    live = (Subscription.select()
            .where(Subscription.company == company_id, Subscription.status.in_(Subscription.LIVE_STATUSES),
                   Subscription.cancel_at_period_end == False))  # noqa: E712
    for subscription in list(live):
        billing_subscriptions.set_cancel_at_period_end(config, subscription, True, "delete")
    for connection in list(oauth_connections.connections_of(company_id)):
        oauth_connections.revoke_connection(config, connection)
    touched = {row.app_id for row in Subscription.select(Subscription.app).where(Subscription.company == company_id)}
    for review in list(Review.select(Review, App).join(App).where(Review.company == company_id)):
        ratings.delete_review(company_id, admin, review.app)  # out of the app's rating totals
        touched.add(review.app_id)
    companies.erase_company(company_id)
    for app_id in touched:
        app_stats.refresh_app(app_id, config["BILLING_GRACE_DAYS"])  # its customers, counted again


@bp.post("/account/delete")
@login_required
def delete_account():
    user = current_user.user
    try:
        what = companies.check_deletion(user, request.form.get("password"))
    except companies.InvalidInput as problem:
        return _overview(422, delete_error=problem.errors.get("password") or str(problem))
    if what == "company":
        try:
            _close_company(current_app.config, user, user.company_id)
        except gateway.StripeError:
            return _overview(503, delete_error=_("Stripe could not be reached to cancel a subscription; "
                                                 "nothing more was deleted. Please try again in a minute."))
    else:
        accounts.end_all_sessions(user)
        companies.erase_user(user)
    accounts_web.end_session()
    return finished("/", _("Your account is deleted."))


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
    # Every session ended with the change; this browser carries on with a new one.
    _start_session(user)
    return finished(url_for("account.overview"), _("Your password is changed. Other sessions were logged out."))


@bp.post("/account/logout-everywhere")
@login_required
def logout_everywhere():
    accounts.end_all_sessions(current_user.user)
    accounts_web.end_session()
    return finished(url_for("auth.login"), _("You are logged out on every device."))


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
                    _(_("We sent a confirmation link to the new address. The change takes effect when you follow it.")))


@bp.route("/account/email/confirm/<token>", methods=["GET", "POST"])
def confirm_email(token):
    # GET only shows the button: following a link must never change anything by itself.
    try:
        if request.method == "GET":
            row = companies.find_token("email", token)
            return render_page("account/confirm_email.html", None, new_email=row.email, token=token)
        companies.confirm_email_change(token)
    except companies.InvalidLink as problem:
        return render_page("account/link_problem.html", None, status=400, message=locale.said(problem))
    return finished(url_for("account.overview") if current_user.is_authenticated else url_for("auth.login"),
                    _(_("Your email address is changed.")))


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
                    _(_("If an account uses that address, we sent it a link to choose a new password.")))


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset_password(token):
    try:
        if request.method == "GET":
            companies.find_token("reset", token)
            return render_page("account/reset_password.html", None, token=token, errors={})
        companies.reset_password(token, request.form.get("password"))
    except companies.InvalidLink as problem:
        return render_page("account/link_problem.html", None, status=400, message=locale.said(problem))
    except companies.InvalidInput as problem:
        return form_errors("account/reset_password.html", "reset_password_form", token=token, errors=problem.errors)
    accounts_web.end_session()
    return finished(url_for("auth.login"), _("Your password is changed. Log in with the new one."))


# --- members -------------------------------------------------------------------------------

def _members_page(status=200, form=None, errors=None, block=None):
    company = Company.get_by_id(current_user.company_id)
    return render_page("account/members.html", block, status=status, company=company,
                       members=companies.members(company), invitations=companies.pending_invitations(company),
                       form=form or {}, errors=errors or {}, me=current_user.user)


@bp.get("/account/members")
@login_required
def members():
    """Admins manage the members here; a member (the account menu links here too) reads the
    list of names and roles, without the forms. Someone without a company has no members: 403."""
    try:
        companies.require_company_admin(current_user.user)
    except companies.NotCompanyAdmin as problem:
        if not current_user.company_id:
            raise forbidden(str(problem)) from None
        company = Company.get_by_id(current_user.company_id)
        return render_page("account/members_read_only.html", None, company=company,
                           members=companies.members(company), me=current_user.user)
    return _members_page()


@bp.post("/account/members/invite")
@company_admin_required
def invite():
    form = _form()
    try:
        companies.invite_member(current_app.config, current_user.user, form.get("email"), form.get("role"))
    except companies.InvalidInput as problem:
        return _members_page(422, form, problem.errors, block="invite_form")
    except accounts.NotConfirmed as problem:
        return _members_page(403, form, {"email": problem}, block="invite_form")
    except mail.MailNotConfigured as problem:
        return _members_page(503, form, {"email": str(problem)}, block="invite_form")
    return finished(url_for("account.members"), _("Invitation sent."))


@bp.post("/account/members/invitations/<invitation_id>/withdraw")
@company_admin_required
def withdraw_invitation(invitation_id):
    try:
        companies.withdraw_invitation(current_user.user, invitation_id)
    except companies.MemberNotFound:
        abort(404)
    return finished(url_for("account.members"), _("The invitation is withdrawn; its link no longer works."))


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
        return finished(url_for("account.overview"), _("You are now a member; another admin manages the company."))
    if member.company_role == "admin":
        return finished(url_for("account.members"), _("%(email)s is now an admin.", email=member.email))
    return finished(url_for("account.members"), _("%(email)s is now a member.", email=member.email))


@bp.post("/account/members/<member_id>/remove")
@company_admin_required
def member_remove(member_id):
    try:
        member = companies.remove_member(current_user.user, member_id)
    except companies.MemberNotFound:
        abort(404)
    except companies.InvalidInput as problem:
        return _members_page(422, errors=problem.errors, block="members_body")
    if not getattr(member, "account_removed", False):
        _bureau_removed(member)
    if member.id == current_user.id:
        if getattr(member, "account_removed", False):
            accounts_web.end_session()
        return finished("/", _("You left the company."))
    return finished(url_for("account.members"), _("%(email)s was removed.", email=member.email))


def _bureau_removed(member):
    """A bureau's user removed from a client: what the bureau paid for it ends (issue T)."""
    try:
        bureau_payer.bureau_removed(current_app.config, current_user.user.company, member)
    except gateway.StripeError as error:
        current_app.logger.warning("Stripe call failed ending a removed bureau's subscriptions: %s", error)


@bp.route("/invite/<token>", methods=["GET", "POST"])
def accept_invitation(token):
    try:
        row = companies.find_token("invite", token)
        company = Company.get_by_id(row.company_id)
        if companies.invited_account_exists(row):
            return _join_with_account(token, row, company)
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
        return render_page("account/link_problem.html", None, status=400, message=locale.said(problem))
    _start_session(user)
    return finished("/", _("Welcome to %(company)s in the App Market.", company=company.name))


def _join_with_account(token, row, company):
    """The invited address already has an account (a bureau): it joins logged in as itself."""
    me = current_user.user if current_user.is_authenticated else None
    if request.method == "GET" or me is None or me.email != row.email:
        return render_page("account/invitation.html", None, status=200 if request.method == "GET" else 403,
                           token=token, invitation=row, company=company, form={}, errors={},
                           existing=True, signed_in_as=me.email if me else None)
    companies.accept_invitation(token, None, None, user=me)
    companies.switch_company(me, company.public_id)
    return finished("/account/apps", _("You joined %(company)s; you now work in it.", company=company.name))


# --- the demo's outbox ---------------------------------------------------------------------

@bp.get("/dev/outbox")
def outbox():
    # It shows every reset link: only a platform admin sees it, and never in production.
    if not mail.outbox_enabled(current_app.config) or current_app.config["MARKET_ENV"] == "production":
        abort(404)
    if not current_user.is_authenticated or not current_user.is_platform_admin:
        abort(404)
    return render_page("account/outbox.html", None, mails=mail.outbox())
