"""Buy, the return and cancel pages of Checkout, My apps (first version), cancel, and the
developer's payouts set-up. Views parse input, call the billing room, render or redirect."""
from urllib.parse import quote

from flask import Blueprint, abort, current_app, flash, redirect, request
from flask_login import current_user
from werkzeug.exceptions import HTTPException

from market.billing import (
    catalogue,
    checkout,
    connect,
    dunning,
    gateway,
    ledger,
    price_schedule,
    refusals,
    retirement,
    subscriptions,
)
from market.billing import refunds as money_back  # `refunds` is the admin's page below
from market.core import money
from market.oauth import connections as oauth2
from models import App, Developer, LedgerEntry, Subscription
from views import render_page
from views.admin import platform_admin_required

bp = Blueprint("billing", __name__)

# What each kind of billing refusal answers; any other BuyRefused is "not now".
REFUSAL_STATUS = {refusals.NotFound: 404, refusals.InvalidChoice: 400}


def refusal_status(refused):
    """The HTTP status of a billing refusal (the domain's errors carry none)."""
    return next((status for kind, status in REFUSAL_STATUS.items() if isinstance(refused, kind)), 409)


@bp.app_context_processor
def payment_problems():
    """The dunning banner on every page of a company user whose payment failed."""
    def problems():
        if not current_user.is_authenticated or not current_user.company_id:
            return []
        user = current_user.user
        return dunning.payment_problems(user.company, current_app.config["BILLING_GRACE_DAYS"])

    def dunning_of(listing):
        """For the developer's app page: its customers in dunning and its disputes."""
        if not current_user.is_authenticated or not current_user.developer_id:
            return {"customers": [], "disputes": []}
        developer = Developer.get_by_id(current_user.developer_id)
        if listing.developer_id != developer.id:
            return {"customers": [], "disputes": []}
        customers = dunning.customers_in_dunning(developer, current_app.config["BILLING_GRACE_DAYS"], listing)
        disputes = [d for d in money_back.disputes(developer) if d["payment"] and d["payment"].app_id == listing.id]
        return {"customers": customers, "disputes": disputes}

    return {"payment_problems": problems, "dunning_of": dunning_of}


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
        url = checkout.start_checkout(current_app.config, user.company, user, app, request.form.get("plan"))
    except refusals.AlreadyEntitled:
        flash(f"Your company already has {app.name}.", "info")
        return redirect("/account/apps", 303)
    except refusals.AlreadyPaid:
        return redirect(f"/apps/{slug}/bought", 303)
    except refusals.BuyRefused as refused:
        return render_page("billing/problem.html", status=refusal_status(refused), title="Cannot buy this app yet",
                           message=refused.message, app=app)
    except gateway.StripeError as error:
        return _stripe_unavailable(error)
    return redirect(url, 303)


@bp.get("/apps/<slug>/bought")
def bought(slug):
    user = _company_user()
    if user is None:
        return _login_redirect(f"/apps/{slug}/bought")
    app = _app_or_404(slug)
    session_id = request.args.get("session_id", "")[:200]
    state, subscription = checkout.checkout_state(user.company, app, session_id)
    words = subscriptions.status_words(subscription, current_app.config["BILLING_GRACE_DAYS"]) if subscription else ""
    return render_page("billing/bought.html", "status", app=app, state=state, words=words,
                       session_id=session_id, can_activate=user.is_company_admin)


@bp.get("/apps/<slug>/checkout-canceled")
def checkout_canceled(slug):
    app = _app_or_404(slug)
    return render_page("billing/checkout_canceled.html", app=app)


def _my_app_rows(config, company):
    grace = config["BILLING_GRACE_DAYS"]
    rows = []
    for app, sub in subscriptions.company_apps(company):
        pending = subscriptions.pending_plan_change(sub)
        coming = price_schedule.notice_for(sub)
        charge = subscriptions.next_charge(sub, config["VAT_PERCENT"], pending)
        if pending is None:
            charge = price_schedule.next_charge(sub, config["VAT_PERCENT"], coming, charge)
        row = {"app": app, "subscription": sub, "words": subscriptions.status_words(sub, grace),
               "plan": sub.plan if sub is not None else None, "price_change": coming,
               "next_charge": charge,
               "connected": oauth2.active_connection(company, app) is not None,
               "live": sub is not None and sub.status in Subscription.LIVE_STATUSES,
               "plans": [], "invoices": None, "invoices_error": False,
               "pending": pending, "dropped": subscriptions.dropped_plan_change(sub),
               "no_longer_sold": sub is not None and sub.status in Subscription.LIVE_STATUSES
               and retirement.no_longer_sold(app)}
        if row["live"] and not sub.imported:
            row["plans"] = [plan for plan in catalogue.active_plans(app) if plan.id != sub.plan_id]
        try:
            row["invoices"] = subscriptions.invoices(config, sub)
        except gateway.StripeError as error:
            current_app.logger.warning("invoices of subscription %s: %s", sub.id, error)
            row["invoices_error"] = True
        rows.append(row)
    return rows


@bp.get("/account/apps")
def my_apps():
    user = _company_user()
    if user is None:
        return _login_redirect("/account/apps")
    rows = _my_app_rows(current_app.config, user.company)
    return render_page("billing/my_apps.html", "apps", rows=rows, is_admin=user.is_company_admin,
                       has_billing=bool(user.company.stripe_customer_id))


def _subscription_action(slug, message, action):
    """An admin's change to one of the company's apps; problems are shown, never a 500."""
    user = _company_admin(message)
    if user is None:
        return _login_redirect("/account/apps")
    app = _app_or_404(slug)
    try:
        note = action(user, app)
    except refusals.BuyRefused as refused:
        if refusal_status(refused) == 404:
            abort(404)
        return render_page("billing/problem.html", status=refusal_status(refused), title="That did not work",
                           message=refused.message, app=app)
    except gateway.StripeError as error:
        return _stripe_unavailable(error)
    flash(note, "info")
    return redirect("/account/apps", 303)


@bp.post("/account/apps/<slug>/cancel")
def cancel(slug):
    def act(user, app):
        sub = subscriptions.cancel_at_period_end(current_app.config, user.company, app)
        when = f" on {sub.current_period_end:%Y-%m-%d}" if sub.current_period_end else ""
        return f"{app.name} will be canceled at the end of the paid period{when}."
    return _subscription_action(slug, "Only your company's admins can cancel subscriptions.", act)


@bp.post("/account/apps/<slug>/resume")
def resume(slug):
    def act(user, app):
        sub = subscriptions.resume(current_app.config, user.company, app)
        when = f" on {sub.current_period_end:%Y-%m-%d}" if sub.current_period_end else ""
        return f"{app.name} will renew{when} as before."
    return _subscription_action(slug, "Only your company's admins can change subscriptions.", act)


@bp.post("/account/apps/<slug>/plan")
def change_plan(slug):
    def act(user, app):
        sub, how = subscriptions.change_plan(current_app.config, user.company, app, request.form.get("plan"))
        name = sub.plan.name if sub.plan else "the new plan"
        if how == "upgraded":
            return f"{app.name} is now on {name}; the difference for the rest of this period was charged."
        pending = subscriptions.pending_plan_change(sub)
        return (f"{app.name} changes to {pending.plan.name} on {pending.effective_at:%Y-%m-%d}; "
                f"until then it stays on {name}.")
    return _subscription_action(slug, "Only your company's admins can change plans.", act)


@bp.post("/account/apps/<slug>/plan/undo")
def undo_plan_change(slug):
    def act(user, app):
        sub = subscriptions.undo_plan_change(user.company, app)
        name = sub.plan.name if sub.plan else "its plan"
        return f"{app.name} stays on {name}."
    return _subscription_action(slug, "Only your company's admins can change plans.", act)


@bp.post("/account/apps/<slug>/remove")
def remove(slug):
    def act(user, app):
        sub, revoked = subscriptions.remove_app(current_app.config, user.company, app)
        parts = []
        if revoked:
            parts.append(f"{app.name} no longer has access to your company's data")
        if sub is not None and sub.current_period_end:
            parts.append(f"the subscription ends on {sub.current_period_end:%Y-%m-%d}")
        return (", and ".join(parts) or f"{app.name} was removed") + "."
    return _subscription_action(slug, "Only your company's admins can remove apps.", act)


@bp.post("/account/billing-portal")
def billing_portal():
    user = _company_admin("Only your company's admins can manage payment details.")
    if user is None:
        return _login_redirect("/account/apps")
    return_url = current_app.config["MARKET_URL"].rstrip("/") + "/account/apps"
    try:
        url = subscriptions.billing_portal_url(current_app.config, user.company, return_url)
    except refusals.BuyRefused as refused:
        return render_page("billing/problem.html", status=refusal_status(refused), title="No billing account yet",
                           message=refused.message)
    except gateway.StripeError as error:
        return _stripe_unavailable(error)
    return redirect(url, 303)


# ---------------------------------------------------------------------------- platform admin: refunds
def _refunds_page(status=200, error=None, form=None):
    return render_page("billing/refunds.html", "refunds", status=status, payments=ledger.recent_payments(),
                       refunds=ledger_reversals(), disputes=money_back.disputes(), error=error, form=form or {})


def ledger_reversals(limit=50):
    return list(LedgerEntry.select().where(LedgerEntry.kind != "payment")
                .order_by(LedgerEntry.occurred_at.desc(), LedgerEntry.id.desc()).limit(limit))


@bp.get("/admin/refunds")
@platform_admin_required
def refunds():
    return _refunds_page()


@bp.post("/admin/refunds")
@platform_admin_required
def make_refund():
    form = {key: request.form.get(key, "")[:600] for key in ("payment", "amount", "reason")}
    try:
        entry = money_back.refund(current_app.config, form["payment"], form["amount"], form["reason"])
    except refusals.RefundRefused as refused:
        return _refunds_page(status=400, error=refused.message, form=form)
    except gateway.StripeError as error:
        current_app.logger.warning("refund failed at Stripe: %s", error)
        message = getattr(error, "user_message", None) or "Stripe refused or could not be reached; nothing was refunded."
        return _refunds_page(status=502, error=message, form=form)
    if entry is None:
        flash("Nothing was left to refund of that payment.", "info")
    else:
        flash(f"Refunded {money.format_kr(-entry.gross_ore)}.", "info")
    return redirect("/admin/refunds", 303)


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
            developer = connect.refresh_account(current_app.config, developer)
        except gateway.StripeError as error:
            current_app.logger.warning("could not refresh account: %s", error)
    return render_page("billing/payouts.html", developer=developer)


@bp.post("/developer/payouts")
def start_payouts():
    developer = _developer()
    if developer is None:
        return _login_redirect("/developer/payouts")
    try:
        url = connect.onboarding_link(current_app.config, developer, current_user.email)
    except gateway.StripeError as error:
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
        url = connect.onboarding_link(current_app.config, developer, current_user.email)
    except gateway.StripeError as error:
        return _stripe_unavailable(error)
    return redirect(url, 303)
