"""Buy, the return and cancel pages of Checkout, My apps (first version), cancel, and the
developer's payouts set-up. Views parse input, call billing.py, render or redirect."""
from urllib.parse import quote

import stripe
from flask import Blueprint, abort, current_app, flash, redirect, request
from flask_login import current_user
from werkzeug.exceptions import HTTPException

import billing
from models import App, Developer
from views import render_page

bp = Blueprint("billing", __name__)


def _app_or_404(slug):
    app = App.get_or_none(App.slug == slug)
    if app is None or app.status not in ("published", "suspended"):
        abort(404)
    return app


def _forbidden(message):
    """A 403 page that says why (the error handler shows messages marked as the market's)."""
    try:
        abort(403, description=message)
    except HTTPException as error:
        error.market_message = True
        raise


def _login_redirect(next_path):
    return redirect("/login?next=" + quote(next_path, safe="/"), 303)


def _company_user():
    """The logged-in company user, or None (visitor); developers and admins without a
    company get a 403."""
    if not current_user.is_authenticated:
        return None
    if not current_user.company_id:
        _forbidden("Only a customer company's users can do this.")
    return current_user.user


def _company_admin(message):
    user = _company_user()
    if user is not None and not user.is_company_admin:
        _forbidden(message)
    return user


def _stripe_unavailable(error):
    current_app.logger.warning("Stripe call failed: %s", error)
    return render_page("billing/problem.html", status=502, title="Payment service unavailable",
                       message="We could not reach the payment service. Nothing was charged; "
                               "please try again in a moment.")


@bp.post("/apps/<slug>/buy")
def buy(slug):
    user = _company_admin("Only your company's admins can buy apps. Ask an admin to buy it.")
    if user is None:
        return _login_redirect(f"/apps/{slug}")
    app = _app_or_404(slug)
    try:
        url = billing.start_checkout(current_app.config, user.company, user, app, request.form.get("plan"))
    except billing.AlreadyEntitled:
        flash(f"Your company already has {app.name}.", "info")
        return redirect("/account/apps", 303)
    except billing.AlreadyPaid:
        return redirect(f"/apps/{slug}/bought", 303)
    except billing.BuyRefused as refused:
        return render_page("billing/problem.html", status=refused.status, title="Cannot buy this app yet",
                           message=refused.message, app=app)
    except stripe.StripeError as error:
        return _stripe_unavailable(error)
    return redirect(url, 303)


@bp.get("/apps/<slug>/bought")
def bought(slug):
    user = _company_user()
    if user is None:
        return _login_redirect(f"/apps/{slug}/bought")
    app = _app_or_404(slug)
    session_id = request.args.get("session_id", "")[:200]
    state, subscription = billing.checkout_state(user.company, app, session_id)
    words = billing.status_words(subscription, current_app.config["BILLING_GRACE_DAYS"]) if subscription else ""
    return render_page("billing/bought.html", "status", app=app, state=state, words=words,
                       session_id=session_id, can_activate=user.is_company_admin)


@bp.get("/apps/<slug>/checkout-canceled")
def checkout_canceled(slug):
    app = _app_or_404(slug)
    return render_page("billing/checkout_canceled.html", app=app)


@bp.get("/account/apps")
def my_apps():
    user = _company_user()
    if user is None:
        return _login_redirect("/account/apps")
    grace = current_app.config["BILLING_GRACE_DAYS"]
    rows = [{"app": app, "subscription": sub, "words": billing.status_words(sub, grace)}
            for app, sub in billing.company_apps(user.company)]
    return render_page("billing/my_apps.html", "apps", rows=rows, is_admin=user.is_company_admin)


@bp.post("/account/apps/<slug>/cancel")
def cancel(slug):
    user = _company_admin("Only your company's admins can cancel subscriptions.")
    if user is None:
        return _login_redirect("/account/apps")
    app = _app_or_404(slug)
    try:
        subscription = billing.cancel_at_period_end(current_app.config, user.company, app)
    except billing.BuyRefused:
        abort(404)
    except stripe.StripeError as error:
        return _stripe_unavailable(error)
    when = f" on {subscription.current_period_end:%Y-%m-%d}" if subscription.current_period_end else ""
    flash(f"{app.name} will be canceled at the end of the paid period{when}.", "info")
    return redirect("/account/apps", 303)


# ---------------------------------------------------------------------------- developer payouts
def _developer():
    if not current_user.is_authenticated:
        return None
    if not current_user.developer_id:
        _forbidden("Only developers set up payouts.")
    return Developer.get_by_id(current_user.developer_id)


@bp.get("/developer/payouts")
def payouts():
    developer = _developer()
    if developer is None:
        return _login_redirect("/developer/payouts")
    if developer.stripe_account_id and not developer.payouts_enabled:
        # Back from onboarding before the webhook: ask Stripe, so the page is not stale.
        try:
            developer = billing.refresh_account(current_app.config, developer)
        except stripe.StripeError as error:
            current_app.logger.warning("could not refresh account: %s", error)
    return render_page("billing/payouts.html", developer=developer)


@bp.post("/developer/payouts")
def start_payouts():
    developer = _developer()
    if developer is None:
        return _login_redirect("/developer/payouts")
    try:
        url = billing.onboarding_link(current_app.config, developer, current_user.email)
    except stripe.StripeError as error:
        return _stripe_unavailable(error)
    return redirect(url, 303)


@bp.get("/developer/payouts/refresh")
def refresh_payouts():
    """Stripe sends the developer here when an onboarding link expired: a GET that makes a new
    link (Stripe's design), changing nothing in the market."""
    developer = _developer()
    if developer is None:
        return _login_redirect("/developer/payouts")
    if not developer.stripe_account_id:
        return redirect("/developer/payouts", 303)
    try:
        url = billing.onboarding_link(current_app.config, developer, current_user.email)
    except stripe.StripeError as error:
        return _stripe_unavailable(error)
    return redirect(url, 303)
