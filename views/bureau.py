"""An accounting bureau's pages (issue T): `/bureau` (every client company, its apps, statuses
and spend), the bureau's saved card, and Activate or Buy for many clients from an app page,
taken one client at a time through `/bureau/progress`.

Which companies a run acts for is kept server-side (billing.bureau's BureauStep rows, made
only from companies where the user is an admin); each step makes its company the current
company first, then does exactly what Activate or Buy does."""
from flask import Blueprint, abort, current_app, flash, redirect, request
from flask_babel import gettext as _
from flask_login import current_user, login_required

from market.accounts import auth as accounts
from market.accounts import companies
from market.billing import bureau as payer
from market.billing import catalogue, checkout, gateway, refusals
from market.billing import subscriptions as billing_subscriptions
from market.dashboards import spend as spending
from market.oauth import activation
from market.oauth import connections as oauth_connections
from models import App, Subscription
from views import locale, render_page
from views.account import forbidden

bp = Blueprint("bureau", __name__)


def _reader_locale():
    """The reader's language, for the pages Stripe shows (the billing room has no request)."""
    return locale.current_language()


def _bureau_user():
    """The logged-in user of several companies (a bureau's), else 403."""
    user = current_user.user
    if not user.company_id or companies.membership_count(user) < 2:
        raise forbidden(_("This page is for people who work in several companies, such as an accounting bureau."))
    return user


def _company_row(company, role, spend):
    """A client company on /bureau: its apps (subscriptions and connections), their statuses,
    what it pays a month (its live subscriptions' agreed prices, excl. moms) and its spend."""
    apps = {}
    for app, subscription in billing_subscriptions.company_apps(company):
        apps[app.id] = {"app": app, "subscription": subscription, "connected": False,
                        "paid_by": payer.paid_by(subscription)}
    for connection in oauth_connections.connections_of(company.id):
        row = apps.setdefault(connection.app_id, {"app": connection.app, "subscription": None, "paid_by": None,
                                                 "connected": False})
        row["connected"] = True
    monthly = sum(row["subscription"].price_ore for row in apps.values() if row["subscription"] is not None
                  and row["subscription"].status in Subscription.LIVE_STATUSES)
    return {"company": company, "role": role, "monthly_ore": monthly, "spend": spend,
            "apps": sorted(apps.values(), key=lambda row: row["app"].name.lower())}


@bp.get("/bureau")
@login_required
def bureau():
    """Every company the user works in (a bureau's clients), for users of two or more: a row per
    company, and the spend view's figures per client and in total."""
    user = _bureau_user()
    memberships = companies.memberships_of(user)
    spend = spending.clients_spend([company for company, _role in memberships], current_app.config["VAT_PERCENT"])
    by_company = {row["company"].id: row for row in spend["rows"]}
    rows = [_company_row(company, role, by_company[company.id]) for company, role in memberships]
    own = payer.bureau_of(user)
    return render_page("account/bureau.html", None, rows=rows, spend_total=spend["total"],
                       total_ore=sum(row["monthly_ore"] for row in rows), bureau=own, card=payer.saved_card(own),
                       steps=payer.steps_of(user))


# --- the bureau's card ---------------------------------------------------------------------

def _card_admin(user):
    """The bureau's own company, where only its admins save the card that pays for clients."""
    own = payer.bureau_of(user)
    if own is None or companies.role_in(user, own.id) != "admin":
        raise forbidden(_("Only an admin of your bureau can save the card that pays for its clients."))
    return own


@bp.get("/bureau/card")
@login_required
def card():
    user = _bureau_user()
    own = payer.bureau_of(user)
    return render_page("bureau/card.html", None, bureau=own, card=payer.saved_card(own),
                       can_save=companies.role_in(user, own.id) == "admin" if own else False)


@bp.post("/bureau/card")
@login_required
def save_card():
    user = _bureau_user()
    own = _card_admin(user)
    if not accounts.is_confirmed(user):
        raise forbidden(str(accounts.NotConfirmed()))
    try:
        url = payer.start_card_setup(current_app.config, own, user, locale=_reader_locale())
    except gateway.StripeError as error:
        current_app.logger.warning("Stripe call failed: %s", error)
        return render_page("billing/problem.html", status=502, title=_("Payment service unavailable"),
                           message=_("We could not reach the payment service. Nothing was saved; "
                                     "please try again in a moment."))
    return redirect(url, 303)


@bp.get("/bureau/card/saved")
@login_required
def card_saved():
    user = _bureau_user()
    own = _card_admin(user)
    try:
        saved = payer.finish_card_setup(current_app.config, own, request.args.get("session_id", ""))
    except refusals.NotFound as refused:
        return render_page("billing/problem.html", status=404, title=_("Card not saved"),
                           message=locale.said(refused))
    except refusals.BuyRefused as refused:
        return render_page("billing/problem.html", status=409, title=_("Card not saved"),
                           message=locale.said(refused))
    except gateway.StripeError as error:
        current_app.logger.warning("Stripe call failed: %s", error)
        return render_page("billing/problem.html", status=502, title=_("Payment service unavailable"),
                           message=_("We could not reach the payment service; please try again in a moment."))
    flash(_("The bureau's card ending in %(last4)s is saved. It pays the subscriptions you choose to pay "
            "for your clients.", last4=saved.last4), "success")
    return redirect("/bureau/progress" if payer.steps_of(user) else "/bureau", 303)


# --- Activate or Buy for many clients ------------------------------------------------------

def _app_or_404(slug):
    app = App.get_or_none(App.slug == slug)
    if app is None or app.status != "published":
        abort(404)
    return app


@bp.get("/apps/<slug>/clients")
@login_required
def choose_clients(slug):
    user = _bureau_user()
    app = _app_or_404(slug)
    own = payer.bureau_of(user)
    return render_page("bureau/clients.html", None, app=app, choices=payer.admin_companies(user),
                       plans=[] if app.is_free else catalogue.active_plans(app), bureau=own,
                       card=payer.saved_card(own), may_pay=bool(own and companies.role_in(user, own.id) == "admin"))


@bp.post("/apps/<slug>/clients")
@login_required
def start_clients(slug):
    user = _bureau_user()
    app = _app_or_404(slug)
    chosen = request.form.getlist("clients")
    payers = {public_id: request.form.get(f"payer-{public_id}", "client") for public_id in chosen
              if isinstance(public_id, str) and len(public_id) <= 32}
    if "bureau" in payers.values():
        _card_admin(user)  # only the bureau's admins spend its card
    try:
        payer.plan_run(user, app, chosen, payers, request.form.get("plan") or None)
    except companies.NotAMember:
        abort(404)  # a company the user is not an admin of: nothing says whether it exists
    except refusals.BuyRefused as refused:
        flash(locale.said(refused), "error")
        return redirect(f"/apps/{app.slug}/clients", 303)
    return redirect("/bureau/progress", 303)


@bp.get("/bureau/progress")
@login_required
def progress():
    user = _bureau_user()
    steps = payer.refresh(user, current_app.config["BILLING_GRACE_DAYS"])
    own = payer.bureau_of(user)
    return render_page("bureau/progress.html", None, steps=steps, state_words=payer.STATE_WORDS,
                       next_step=payer.next_step(user), card=payer.saved_card(own))


@bp.post("/bureau/progress/next")
@login_required
def next_client():
    """The next waiting client: it becomes the current company, then Activate or Buy for it."""
    user = _bureau_user()
    step = payer.next_step(user)
    if step is None:
        return redirect("/bureau/progress", 303)
    try:
        company = companies.switch_company(user, step.company.public_id)
    except companies.NotAMember:
        payer.mark(step, "failed", _("You no longer work in this company."))
        return redirect("/bureau/progress", 303)
    if user.company_role != "admin":
        payer.mark(step, "failed", _("Only an admin of the company can activate or buy apps for it."))
        return redirect("/bureau/progress", 303)
    app = step.app
    config = current_app.config
    try:
        if app.is_free:
            url = activation.landing_url(company, app, config["SECRET_KEY"], config["BILLING_GRACE_DAYS"])
            payer.mark(step, "done")
            return redirect(url, 303)  # what Activate does: off to the app's landing page
        if step.payer == "bureau":
            state, url = payer.subscribe_for_client(config, payer.bureau_of(user), company, user, app,
                                                    step.plan_id)
            payer.mark(step, state, "" if state == "done" else _("The card asks you to confirm the payment."),
                       url or "")
            return redirect(url if url else "/bureau/progress", 303)
        base = config["MARKET_URL"].rstrip("/")
        url = checkout.start_checkout(config, company, user, app, step.plan_id,
                                      success_url=f"{base}/bureau/progress?session_id={{CHECKOUT_SESSION_ID}}")
        payer.mark(step, "needs_you", _("Pay at Checkout for this company."), url)
        return redirect(url, 303)
    except payer.NoCard as refused:
        flash(locale.said(refused), "error")  # the step waits: it goes on once the card is saved
        return redirect("/bureau/card", 303)
    except activation.ActivationRefused as refused:
        payer.mark(step, "failed", refused.reason)
    except refusals.AlreadyEntitled:
        payer.mark(step, "done", _("The company already has this app."))
    except refusals.AlreadyPaid:
        payer.mark(step, "needs_you", _("The payment is being confirmed."))
    except refusals.BuyRefused as refused:
        payer.mark(step, "failed", locale.said(refused))  # kept as the reader reads it
    except gateway.StripeError as error:
        current_app.logger.warning("Stripe call failed: %s", error)
        payer.mark(step, "failed", _("We could not reach the payment service. Nothing was charged."))
    return redirect("/bureau/progress", 303)
