"""Buy, the return and cancel pages of Checkout, My apps (first version), cancel, and the
developer's payouts set-up. Views parse input, call the billing room, render or redirect."""
from urllib.parse import quote

from flask import Blueprint, Response, abort, current_app, flash, redirect, request
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.exceptions import HTTPException

from market.accounts import auth as accounts
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
from market.billing import money_back as refund_window  # the customer's money back (issue T)
from market.billing import refunds as money_back  # `refunds` is the admin's page below
from market.core import money, words
from market.core.clock import utcnow
from market.dashboards import figures as dashboard
from market.dashboards import spend as spending
from market.oauth import connections as oauth2
from models import App, Developer, LedgerEntry, Subscription
from views import confirm_page, locale, render_page
from views.admin import platform_admin_required
from views.filters import day, kr

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
        _forbidden(_("Only a customer company's users can do this."))
    return current_user.user


def _company_admin(message):
    user = _company_user()
    if user is not None and not user.is_company_admin:
        _forbidden(message)
    return user


def _stripe_unavailable(error):
    current_app.logger.warning("Stripe call failed: %s", error)
    return render_page("billing/problem.html", status=502, title=_("Payment service unavailable"),
                       message=_("We could not reach the payment service. Nothing was charged; "
                                 "please try again in a moment."))


@bp.post("/apps/<slug>/buy")
def buy(slug):
    user = _company_admin(_("Only your company's admins can buy apps. Ask an admin to buy it."))
    if user is None:
        return _login_redirect(f"/apps/{slug}")
    if not accounts.is_confirmed(user):
        _forbidden(locale.said(accounts.NotConfirmed()))  # issue N: a confirmed address first
    app = _app_or_404(slug)
    try:
        url = checkout.start_checkout(current_app.config, user.company, user, app, request.form.get("plan"),
                                      locale=locale.current_language())
    except refusals.AlreadyEntitled:
        flash(_("Your company already has %(app)s.", app=app.name), "info")
        return redirect("/account/apps", 303)
    except refusals.AlreadyPaid:
        return redirect(f"/apps/{slug}/bought", 303)
    except refusals.BuyRefused as refused:
        return render_page("billing/problem.html", status=refusal_status(refused), title=_("Cannot buy this app yet"),
                           message=locale.said(refused), app=app)
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
    status = status_view(subscription, current_app.config["BILLING_GRACE_DAYS"]) if subscription else None
    return render_page("billing/bought.html", "status", app=app, state=state, words=words, status=status,
                       session_id=session_id, can_activate=user.is_company_admin)


@bp.get("/apps/<slug>/checkout-canceled")
def checkout_canceled(slug):
    app = _app_or_404(slug)
    return render_page("billing/checkout_canceled.html", app=app)


def status_view(subscription, grace_days):
    """A subscription's state as My apps shows it (issue P): a badge word, its tone, and a
    sentence ("Trial until 16 Dec 2026."). A free app (no subscription) is "Free". The badge is
    the English word (templates compare it and show `_(status.badge)`); the sentence is said in
    the reader's language."""
    s = subscription
    if s is None:
        return {"badge": words.marked("Free"), "tone": "ok", "sentence": ""}
    ending = s.cancel_at_period_end and s.current_period_end
    if s.status == "trialing":
        if s.cancel_at_period_end:
            sentence = _("Trial until %(date)s; it ends then and nothing is charged.",
                         date=day(s.trial_end or s.current_period_end))
        else:
            sentence = _("Trial until %(date)s.", date=day(s.trial_end)) if s.trial_end else _("Trial.")
        return {"badge": words.marked("Trial"), "tone": "info", "sentence": sentence}
    if s.status == "active":
        if ending:
            return {"badge": words.marked("Cancels"), "tone": "warn",
                    "sentence": _("Cancels on %(date)s; it does not renew.", date=day(s.current_period_end))}
        sentence = _("Renews on %(date)s.", date=day(s.current_period_end)) if s.current_period_end else ""
        return {"badge": words.marked("Active"), "tone": "ok", "sentence": sentence}
    if s.status == "past_due":
        deadline = dunning.grace_deadline(s, grace_days)
        return {"badge": words.marked("Payment failed"), "tone": "bad",
                "sentence": _("Update your card by %(date)s to keep access.", date=day(deadline))}
    if s.status == "unpaid":
        return {"badge": words.marked("Payment failed"), "tone": "bad",
                "sentence": _("Access has ended; update your card.")}
    if s.status == "canceled":
        when = s.ended_at or s.canceled_at
        return {"badge": words.marked("Canceled"), "tone": "neutral",
                "sentence": _("Ended on %(date)s.", date=day(when)) if when else ""}
    if s.status == "incomplete":
        return {"badge": words.marked("Payment pending"), "tone": "warn",
                "sentence": _("The first payment is not through yet.")}
    return {"badge": s.status.replace("_", " ").capitalize(), "tone": "neutral", "sentence": ""}


def _my_app_rows(config, company, subs=None):
    """My apps' rows and what the spend view beside them needs: ([row], company_apps' rows,
    plan changes). Everything a row shows is loaded for all rows at once, one query per kind
    (issue R), by the rooms that own each rule."""
    grace = config["BILLING_GRACE_DAYS"]
    subs = subscriptions.company_subscriptions(company) if subs is None else subs
    listed = subscriptions.company_apps(company, subs)
    shown = [sub for _, sub in listed if sub is not None]
    changes = subscriptions.plan_changes_of(shown)
    coming_of = price_schedule.notices_for(shown)
    plans_of = catalogue.plans_of([app for app, _ in listed])
    connected = oauth2.connected_app_ids(company, [app for app, _ in listed])
    offered, given_of = refund_window.for_my_apps(config, company, listed, subscriptions.current_by_app(subs))
    invoices_of = subscriptions.invoices_of(config, shown)
    rows = []
    for app, sub in listed:
        pending = subscriptions.pending_plan_change(sub, changes)
        coming = coming_of.get(sub.id) if sub is not None else None
        charge = subscriptions.next_charge(sub, config["VAT_PERCENT"], pending)
        if pending is None:
            charge = price_schedule.next_charge(sub, config["VAT_PERCENT"], coming, charge)
        row = {"app": app, "subscription": sub, "words": subscriptions.status_words(sub, grace),
               "status": status_view(sub, grace), "notices": [],
               "plan": sub.plan if sub is not None else None, "price_change": coming,
               "next_charge": charge,
               "connected": app.id in connected,
               "live": sub is not None and sub.status in Subscription.LIVE_STATUSES,
               "plans": [], "invoices": None, "invoices_error": False,
               "pending": pending, "dropped": subscriptions.dropped_plan_change(sub, changes),
               "no_longer_sold": sub is not None and sub.status in Subscription.LIVE_STATUSES
               and retirement.no_longer_sold(app, plans_of[app.id]),
               "suspended": app.status == "suspended"}
        if row["suspended"]:
            # Said in a sentence, not "Connected" with a link to a page that is gone (issue P 7).
            if sub is not None and row["live"] and sub.current_period_end:
                text = _("The App Market has suspended %(app)s: it is out of the store and cannot be opened from "
                         "here. Your subscription does not renew: it ends on %(date)s and nothing more is charged.",
                         app=app.name, date=day(sub.current_period_end))
            else:
                text = _("The App Market has suspended %(app)s: it is out of the store and cannot be opened from "
                         "here. Nothing more is charged for it.", app=app.name)
            row["notices"].append({"kind": "suspended", "text": text})
        if coming is not None:
            row["notices"].append({"kind": "price-change", "text": locale.said(price_schedule.subscriber_notice(coming))})
        if row["live"] and not sub.imported:
            row["plans"] = [plan for plan in catalogue.active_of(plans_of[app.id]) if plan.id != sub.plan_id]
        row["money_back"] = offered[app.id]
        given = given_of.get(sub.id) if sub is not None else None
        if given is not None and given["left_ore"] > 0:
            row["notices"].append({"kind": "refund-failed", "text": (
                _("Your money back for %(app)s is not complete: %(amount)s could not be refunded yet. The App "
                  "Market's admins have been shown it and will refund the rest; the subscription stays ended.",
                  app=app.name, amount=kr(given["left_ore"])))})
        row["invoices"] = invoices_of.get(sub.id) if sub is not None else None
        rows.append(row)
    return rows, listed, changes


@bp.get("/account/apps")
def my_apps():
    user = _company_user()
    if user is None:
        return _login_redirect("/account/apps")
    rows, listed, changes = _my_app_rows(current_app.config, user.company)
    spend = spending.company_spend(user.company, current_app.config["VAT_PERCENT"], apps=listed, changes=changes)
    return render_page("billing/my_apps.html", "apps", rows=rows, is_admin=user.is_company_admin,
                       has_billing=bool(user.company.stripe_customer_id), spend=spend,
                       unused_reason=spending.UNUSED_REASON)


@bp.get("/account/apps/spend.csv")
def spend_csv():
    """The spend view as CSV (issue T): `;`-separated, UTF-8, öre."""
    user = _company_user()
    if user is None:
        return _login_redirect("/account/apps")
    spend = spending.company_spend(user.company, current_app.config["VAT_PERCENT"])
    response = Response(spending.spend_csv(spend).encode("utf-8"), mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="spend-{utcnow():%Y-%m-%d}.csv"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


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
        return render_page("billing/problem.html", status=refusal_status(refused), title=_("That did not work"),
                           message=locale.said(refused), app=app)
    except gateway.StripeError as error:
        return _stripe_unavailable(error)
    flash(note, "info")
    return redirect("/account/apps", 303)


# ---------------------------------------------------------------------------- the questions first
def _live_subscription_or_404(user, app):
    sub = subscriptions.current_subscription(user.company, app)
    if sub is None:
        abort(404)
    return sub


def _ask(slug, message, question):
    """GET on an action's path: the question before it (issue P), for the company's admins."""
    user = _company_admin(message)
    if user is None:
        return _login_redirect("/account/apps")
    return question(user, _app_or_404(slug))


@bp.get("/account/apps/<slug>/cancel")
def ask_cancel(slug):
    def question(user, app):
        sub = _live_subscription_or_404(user, app)
        if sub.status == "trialing":
            end = sub.trial_end or sub.current_period_end
            lines = [_("The trial ends on %(date)s and %(app)s stops then. Nothing is charged.", date=day(end), app=app.name)]
        elif sub.current_period_end:
            lines = [_("%(app)s stays yours until the end of the period you paid for, %(date)s, and does not renew. "
                       "Nothing is refunded.", app=app.name, date=day(sub.current_period_end))]
        else:
            lines = [_("%(app)s does not renew.", app=app.name)]
        lines.append(_("You can keep it again from My apps until then."))
        # The spend view's Cancel on an unused app says why (issue T); the POST needs no reason.
        reason = request.args.get("reason", "").strip()[:200]
        if reason:
            lines.insert(0, _("Reason: %(reason)s", reason=reason))
        return confirm_page(f"/account/apps/{app.slug}/cancel", _("Cancel %(app)s?", app=app.name),
                            _("Cancel %(app)s", app=app.name), "/account/apps", lines, danger=True,
                            back_label=_("Keep it"))
    return _ask(slug, _("Only your company's admins can cancel subscriptions."), question)


@bp.get("/account/apps/<slug>/remove")
def ask_remove(slug):
    def question(user, app):
        sub = subscriptions.current_subscription(user.company, app)
        connected = oauth2.active_connection(user.company, app) is not None
        if sub is None and not connected:
            abort(404)
        lines = []
        if connected:
            lines.append(_("%(app)s loses access to your company's data at once.", app=app.name))
        if sub is not None and not sub.cancel_at_period_end:
            if sub.status == "trialing":
                lines.append(_("The trial ends on %(date)s; nothing is charged.", date=day(sub.trial_end or sub.current_period_end)))
            elif sub.current_period_end:
                lines.append(_("The subscription is canceled and ends on %(date)s; nothing is refunded.",
                               date=day(sub.current_period_end)))
        return confirm_page(f"/account/apps/{app.slug}/remove", _("Remove %(app)s?", app=app.name),
                            _("Remove %(app)s", app=app.name), "/account/apps", lines, danger=True,
                            back_label=_("Keep it"))
    return _ask(slug, _("Only your company's admins can remove apps."), question)


def plan_change_amount(config, sub, plan, now=None):
    """What a plan change costs, as the confirmation says it: (how, amount in öre incl. moms
    charged now or None, the date the new price starts, the new monthly price incl. moms).

    The sandbox has no invoice preview (no upcoming-invoice call), so the prorated amount is
    the market's own estimate: the difference in net price for the share of the period left,
    plus moms; Stripe's invoice has the exact amount."""
    now = now or utcnow()
    vat = config["VAT_PERCENT"]
    monthly = money.with_moms(plan.price_ore, vat)
    if plan.price_ore <= sub.price_ore:
        return "downgrade", None, sub.current_period_end, monthly
    if sub.status == "trialing":
        return "trial", 0, sub.trial_end or sub.current_period_end, monthly
    start, end = sub.current_period_start, sub.current_period_end
    if not start or not end or end <= now:
        return "upgrade", None, end, monthly
    whole, left = (end - start).total_seconds(), (end - max(now, start)).total_seconds()
    net = money.proportion(plan.price_ore - sub.price_ore, int(left), int(whole))
    return "upgrade", money.with_moms(net, vat), end, monthly


@bp.get("/account/apps/<slug>/plan")
def ask_plan(slug):
    def question(user, app):
        sub = _live_subscription_or_404(user, app)
        try:
            plan = catalogue.choose_plan(app, request.args.get("plan"))
        except refusals.BuyRefused as refused:
            return render_page("billing/problem.html", status=refusal_status(refused), title=_("That did not work"),
                               message=locale.said(refused), app=app)
        if plan.id == sub.plan_id:
            return render_page("billing/problem.html", status=400, title=_("That did not work"),
                               message=_("Your company is already on the %(plan)s plan.", plan=plan.name), app=app)
        how, now_ore, when, monthly = plan_change_amount(current_app.config, sub, plan)
        current = sub.plan.name if sub.plan else _("your plan")
        amount_line = None
        if how == "downgrade":
            lines = [_("%(app)s changes to %(plan)s on %(date)s, when the period you paid for ends; until then it "
                       "stays on %(current)s.", app=app.name, plan=plan.name, date=day(when), current=current),
                     _("From then it costs %(amount)s incl. VAT a month.", amount=kr(monthly))]
        elif how == "trial":
            lines = [_("%(app)s changes to %(plan)s now. Your trial continues until %(date)s; nothing is charged now.",
                       app=app.name, plan=plan.name, date=day(when)),
                     _("From %(date)s it costs %(amount)s incl. VAT a month.", date=day(when), amount=kr(monthly))]
        else:
            lines = [_("%(app)s changes to %(plan)s now, and the rest of this period is charged at once.",
                       app=app.name, plan=plan.name)]
            if now_ore is not None:
                amount_line = _("About %(amount)s incl. VAT now, for the days left until %(date)s.",
                                amount=kr(now_ore), date=day(when))
            lines.append(_("Then %(amount)s incl. VAT a month. The invoice has the exact amount.", amount=kr(monthly)))
        return confirm_page(f"/account/apps/{app.slug}/plan", _("Change %(app)s to %(plan)s?", app=app.name, plan=plan.name),
                            _("Change to %(plan)s", plan=plan.name), "/account/apps", lines, fields={"plan": plan.id},
                            amount_line=amount_line, back_label=_("Stay on %(plan)s", plan=current))
    return _ask(slug, _("Only your company's admins can change plans."), question)


@bp.post("/account/apps/<slug>/cancel")
def cancel(slug):
    def act(user, app):
        sub = subscriptions.cancel_at_period_end(current_app.config, user.company, app)
        if sub.status == "trialing":
            end = sub.trial_end or sub.current_period_end
            return _("%(app)s's trial ends on %(date)s; nothing will be charged.", app=app.name, date=day(end)) if end else \
                _("%(app)s's trial will end; nothing will be charged.", app=app.name)
        if sub.current_period_end:
            return _("%(app)s will be canceled at the end of the paid period on %(date)s.", app=app.name,
                     date=day(sub.current_period_end))
        return _("%(app)s will be canceled at the end of the paid period.", app=app.name)
    return _subscription_action(slug, _("Only your company's admins can cancel subscriptions."), act)


@bp.get("/account/apps/<slug>/refund")
def ask_refund(slug):
    def question(user, app):
        try:
            sub = refund_window.check(current_app.config, user.company, app)
        except refusals.BuyRefused as refused:
            return render_page("billing/problem.html", status=refusal_status(refused), title=_("No money back"),
                               message=locale.said(refused), app=app)
        left = refund_window.left_to_refund(sub)
        end = refund_window.window_end(current_app.config, sub)
        lines = [_("%(app)s ends now and loses access to your company's data at once.", app=app.name),
                 _("Every payment for it is refunded in full to the card it was paid with; money back is possible "
                   "until %(date)s and once per company and app.", date=day(end)),
                 _("This cannot be undone: to use the app again, buy it again.")]
        return confirm_page(f"/account/apps/{app.slug}/refund", _("End %(app)s and get your money back?", app=app.name),
                            _("End and refund %(amount)s", amount=kr(left)), "/account/apps", lines, danger=True,
                            amount_line=_("%(amount)s incl. VAT back to your company", amount=kr(left)),
                            back_label=_("Keep it"))
    return _ask(slug, _("Only your company's admins can end subscriptions with a refund."), question)


@bp.post("/account/apps/<slug>/refund")
def refund_subscription(slug):
    user = _company_admin(_("Only your company's admins can end subscriptions with a refund."))
    if user is None:
        return _login_redirect("/account/apps")
    app = _app_or_404(slug)
    try:
        _given, refunded, failed = refund_window.give(current_app.config, user.company, app, user)
    except refusals.BuyRefused as refused:
        if refusal_status(refused) == 404:
            abort(404)
        return render_page("billing/problem.html", status=refusal_status(refused), title=_("No money back"),
                           message=locale.said(refused), app=app)
    except gateway.StripeError as error:
        return _stripe_unavailable(error)
    if failed:
        flash(_("%(app)s has ended, but %(amount)s could not be refunded yet. The App Market's admins see it "
                "and will refund the rest.", app=app.name, amount=kr(failed)), "error")
    else:
        flash(_("%(app)s has ended and %(amount)s incl. VAT is on its way back to your company's card.",
                app=app.name, amount=kr(refunded)), "info")
    return redirect("/account/apps", 303)


@bp.post("/account/apps/<slug>/resume")
def resume(slug):
    def act(user, app):
        sub = subscriptions.resume(current_app.config, user.company, app)
        if sub.status == "trialing":
            return _("%(app)s stays yours: the trial continues and the subscription starts when it ends.", app=app.name)
        if sub.current_period_end:
            return _("%(app)s will renew on %(date)s as before.", app=app.name, date=day(sub.current_period_end))
        return _("%(app)s will renew as before.", app=app.name)
    return _subscription_action(slug, _("Only your company's admins can change subscriptions."), act)


@bp.post("/account/apps/<slug>/plan")
def change_plan(slug):
    def act(user, app):
        sub, how = subscriptions.change_plan(current_app.config, user.company, app, request.form.get("plan"))
        name = sub.plan.name if sub.plan else _("the new plan")
        if how == "upgraded" and sub.status == "trialing":
            end = sub.trial_end or sub.current_period_end
            if end:
                return _("%(app)s is now on %(plan)s. Your trial continues until %(date)s; nothing was charged.",
                         app=app.name, plan=name, date=day(end))
            return _("%(app)s is now on %(plan)s. Your trial continues; nothing was charged.", app=app.name, plan=name)
        if how == "upgraded":
            return _("%(app)s is now on %(plan)s; the difference for the rest of this period was charged.",
                     app=app.name, plan=name)
        pending = subscriptions.pending_plan_change(sub)
        return _("%(app)s changes to %(new)s on %(date)s; until then it stays on %(plan)s.", app=app.name,
                 new=pending.plan.name, date=day(pending.effective_at), plan=name)
    return _subscription_action(slug, _("Only your company's admins can change plans."), act)


@bp.post("/account/apps/<slug>/plan/undo")
def undo_plan_change(slug):
    def act(user, app):
        sub = subscriptions.undo_plan_change(user.company, app)
        name = sub.plan.name if sub.plan else _("its plan")
        return _("%(app)s stays on %(plan)s.", app=app.name, plan=name)
    return _subscription_action(slug, _("Only your company's admins can change plans."), act)


@bp.post("/account/apps/<slug>/remove")
def remove(slug):
    def act(user, app):
        sub, revoked = subscriptions.remove_app(current_app.config, user.company, app)
        ends = sub is not None and sub.current_period_end
        if revoked and ends:
            return _("%(app)s no longer has access to your company's data, and the subscription ends on %(date)s.",
                     app=app.name, date=day(sub.current_period_end))
        if revoked:
            return _("%(app)s no longer has access to your company's data.", app=app.name)
        if ends:
            return _("The subscription ends on %(date)s.", date=day(sub.current_period_end))
        return _("%(app)s was removed.", app=app.name)
    return _subscription_action(slug, _("Only your company's admins can remove apps."), act)


@bp.post("/account/billing-portal")
def billing_portal():
    user = _company_admin(_("Only your company's admins can manage payment details."))
    if user is None:
        return _login_redirect("/account/apps")
    return_url = current_app.config["MARKET_URL"].rstrip("/") + "/account/apps"
    try:
        url = subscriptions.billing_portal_url(current_app.config, user.company, return_url, locale.current_language())
    except refusals.BuyRefused as refused:
        return render_page("billing/problem.html", status=refusal_status(refused), title=_("No billing account yet"),
                           message=locale.said(refused))
    except gateway.StripeError as error:
        return _stripe_unavailable(error)
    return redirect(url, 303)


# ---------------------------------------------------------------------------- platform admin: refunds
def _refunds_page(status=200, error=None, form=None):
    return render_page("billing/refunds.html", "refunds", status=status, payments=ledger.recent_payments(),
                       refunds=ledger_reversals(), disputes=money_back.disputes(), error=error, form=form or {},
                       unfinished=refund_window.unfinished())


def ledger_reversals(limit=50):
    return list(LedgerEntry.select().where(LedgerEntry.kind != "payment")
                .order_by(LedgerEntry.occurred_at.desc(), LedgerEntry.id.desc()).limit(limit))


@bp.get("/admin/refunds")
@platform_admin_required
def refunds():
    if "payment" in request.args:
        return _ask_refund()
    return _refunds_page()


def _whole_refunds_page(status, error, form):
    """The refunds page with the problem said; asked in place, it replaces the whole list."""
    response = _refunds_page(status=status, error=error, form=form)
    response.headers["HX-Retarget"] = "#refunds"
    response.headers["HX-Reswap"] = "outerHTML"
    return response


def _ask_refund():
    """GET /admin/refunds?payment=…&amount=…&reason=…: the question before a refund (issue P).
    The amount and reason are checked again by the POST; here they are only said back."""
    form = {key: request.args.get(key, "")[:600] for key in ("payment", "amount", "reason")}
    left = dict((p.id, (p, rest)) for p, rest in ledger.recent_payments(limit=500))
    try:
        payment, rest = left[int(form["payment"])]
    except (ValueError, KeyError):
        return _whole_refunds_page(404, _("No such payment to refund."), form)
    amount = rest if not form["amount"].strip() else money.parse_kronor(form["amount"])
    if amount is None or amount <= 0 or amount > rest:
        return _whole_refunds_page(400, _("Choose an amount of at most %(amount)s.", amount=kr(rest)), form)
    if not form["reason"].strip():
        return _whole_refunds_page(400, _("Say why the payment is refunded."), form)
    customer = payment.company.name if payment.company else "the customer"
    lines = [_("%(app)s, paid by %(customer)s on %(date)s: %(paid)s incl. VAT, %(rest)s left to refund.",
               app=payment.app.name, customer=customer, date=day(payment.occurred_at), paid=kr(payment.gross_ore),
               rest=kr(rest)),
             _("Reason: %(reason)s", reason=form["reason"]),
             _("The developer's share and the platform's fee are reversed in proportion. A refund cannot be undone.")]
    return confirm_page("/admin/refunds", _("Refund %(amount)s?", amount=kr(amount)), _("Refund %(amount)s", amount=kr(amount)),
                        "/admin/refunds", lines, fields=form, danger=True,
                        amount_line=_("%(amount)s back to %(customer)s", amount=kr(amount), customer=customer),
                        back_label=_("Do not refund"))


@bp.post("/admin/refunds")
@platform_admin_required
def make_refund():
    form = {key: request.form.get(key, "")[:600] for key in ("payment", "amount", "reason")}
    try:
        entry = money_back.refund(current_app.config, form["payment"], form["amount"], form["reason"])
    except refusals.RefundRefused as refused:
        return _refunds_page(status=400, error=locale.said(refused), form=form)
    except gateway.StripeError as error:
        current_app.logger.warning("refund failed at Stripe: %s", error)
        message = getattr(error, "user_message", None) or _("Stripe refused or could not be reached; nothing was refunded.")
        return _refunds_page(status=502, error=message, form=form)
    if entry is None:
        flash(_("Nothing was left to refund of that payment."), "info")
    else:
        flash(_("Refunded %(amount)s.", amount=kr(-entry.gross_ore)), "info")
    return redirect("/admin/refunds", 303)


# ---------------------------------------------------------------------------- developer payouts
def _developer():
    if not current_user.is_authenticated:
        return None
    if not current_user.developer_id:
        _forbidden(_("Only developers set up payouts."))
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
    next_step = next((step for step in dashboard.first_run_checklist(developer.id)
                      if not step.done and step.key != "payouts"), None)
    return render_page("billing/payouts.html", developer=developer, next_step=next_step)


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
