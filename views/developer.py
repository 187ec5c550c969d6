"""A developer's own apps: listing, plans, integration settings, credentials, submission.

Another developer's slug is simply not found (404); customers and visitors never see these
pages."""
import functools

from flask import Blueprint, abort, current_app, request, send_from_directory
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from market.accounts import auth as accounts
from market.accounts.companies import InvalidInput
from market.billing import price_schedule, retirement
from market.catalog import listings, revisions, store
from market.core.scopes import SCOPES
from models import Developer
from views import filters, render_page
from views.account import finished, forbidden, form_errors, refuse_nul_characters
from views.locale import said

bp = Blueprint("developer", __name__)
bp.before_request(refuse_nul_characters)


def developer_required(view):
    @functools.wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        if not current_user.developer_id:
            raise forbidden(_("Developer pages are for developer accounts. Register as a developer to list apps."))
        return view(*args, **kwargs)
    return wrapper


def icons_dir():
    return current_app.config["ICON_DIR"]


def _developer():
    return Developer.get_by_id(current_user.developer_id)


def _own_app(slug):
    try:
        return listings.developer_app(current_user.developer_id, slug)
    except listings.ListingNotFound:
        abort(404)


# A sentence of its own, added after what was saved.
WAITING = _l("It waits for review: customers see the published version until the App Market approves.")


def _waiting(message, waits):
    """The saved message, and the review's sentence when the change waits for it."""
    return f"{message} {WAITING}" if waits else message


def _saved(listing, message, waits):
    return finished(f"/developer/apps/{listing.slug}", _waiting(message, waits))


def _listing_form(listing):
    """The form shows what the developer last proposed: a pending revision builds on itself."""
    values = revisions.proposed_values(listing)
    return {"name": values["name"], "vendor_name": values["vendor_name"] or "", "tagline": values["tagline"],
            "description": values["description"], "category": values["category"] or "",
            "support": values["support"] or "", "website_url": values["website_url"] or "",
            "privacy_url": values["privacy_url"] or ""}


@bp.get("/developer/apps")
@developer_required
def apps():
    return render_page("developer/apps.html", "app_list", developer=_developer(),
                       apps=listings.developer_apps(current_user.developer_id),
                       revised=revisions.pending_app_ids(current_user.developer_id))


@bp.route("/developer/apps/new", methods=["GET", "POST"])
@developer_required
def new_app():
    context = {"categories": listings.categories()}
    if request.method == "GET":
        return render_page("developer/new.html", None, form={}, errors={}, **context)
    form = request.form.to_dict()
    try:
        listing = listings.create_listing(_developer(), form)
    except InvalidInput as problem:
        return form_errors("developer/new.html", "listing_form", form=form, errors=problem.errors, **context)
    return finished(f"/developer/apps/{listing.slug}", _("The app is created as a draft."))


@bp.get("/developer/apps/<slug>")
@developer_required
def app_page(slug):
    listing = _own_app(slug)
    return _app_page(listing)


def _app_page(listing, status=200, errors=None):
    revision = revisions.pending(listing)
    return render_page("developer/app.html", None, status=status, listing=listing,
                       checklist=listings.checklist(listing), ready=listings.checklist_done(listing),
                       plans=listings.active_plans(listing), errors=errors or {},
                       icon_url=listings.icon_url(listing), revision=revision,
                       revision_rows=revisions.diff_rows(listing, revision) if revision else [],
                       last_revision=None if revision else revisions.last_decision(listing))


@bp.route("/developer/apps/<slug>/edit", methods=["GET", "POST"])
@developer_required
def edit_app(slug):
    listing = _own_app(slug)
    context = _edit_context(listing)
    if request.method == "GET":
        return render_page("developer/edit.html", None, form=_listing_form(listing), errors={}, **context)
    form = request.form.to_dict()
    try:
        waits = revisions.edit_listing(listing, form)
    except InvalidInput as problem:
        return form_errors("developer/edit.html", "listing_form", form=form, errors=problem.errors, **context)
    return _saved(listing, _("The listing is saved."), waits)


def _edit_context(listing, **extra):
    context = {"listing": listing, "categories": listings.categories(), "icon_url": _icon_url(listing),
               "icon_errors": {}, "screenshot_errors": {},
               "screenshots": revisions.proposed_values(listing)["screenshots"],
               "max_screenshots": listings.MAX_SCREENSHOTS,
               "max_screenshot_mb": f"{listings.MAX_SCREENSHOT_BYTES / (1024 * 1024):g}"}
    context.update(extra)
    return context


def _icon_url(listing):
    """The icon the developer last chose (a pending revision's, if any)."""
    icon = revisions.proposed_values(listing)["icon"]
    return f"/icons/{icon}" if icon else None


@bp.post("/developer/apps/<slug>/icon")
@developer_required
def upload_icon(slug):
    listing = _own_app(slug)
    upload = request.files.get("icon")
    # Read one byte past the limit: enough to know it is too large without reading it all.
    data = upload.stream.read(listings.MAX_ICON_BYTES + 1) if upload else b""
    try:
        waits = revisions.edit_icon(icons_dir(), listing, data)
    except InvalidInput as problem:
        return form_errors("developer/edit.html", "icon_form", form=_listing_form(listing), errors={},
                           **_edit_context(listing, icon_errors=problem.errors))
    return finished(f"/developer/apps/{listing.slug}/edit", _waiting(_("The icon is saved."), waits))


@bp.post("/developer/apps/<slug>/screenshots")
@developer_required
def upload_screenshot(slug):
    listing = _own_app(slug)
    upload = request.files.get("screenshot")
    # One byte past the limit tells a file too large without reading it all.
    data = upload.stream.read(listings.MAX_SCREENSHOT_BYTES + 1) if upload else b""
    try:
        waits = revisions.add_screenshot(icons_dir(), listing, data)
    except InvalidInput as problem:
        return form_errors("developer/edit.html", "screenshot_form", form=_listing_form(listing), errors={},
                           **_edit_context(listing, screenshot_errors=problem.errors))
    return finished(f"/developer/apps/{listing.slug}/edit", _waiting(_("The screenshot is added."), waits))


@bp.post("/developer/apps/<slug>/screenshots/<name>/remove")
@developer_required
def remove_screenshot(slug, name):
    listing = _own_app(slug)
    try:
        waits = revisions.remove_screenshot(listing, name)
    except listings.ListingNotFound:
        abort(404)
    return finished(f"/developer/apps/{listing.slug}/edit", _waiting(_("The screenshot is removed."), waits))


@bp.get("/screenshots/<name>")
def screenshot(name):
    """Screenshots are stored like icons (ICON_DIR, random names checked by content)."""
    if not store.SCREENSHOT_NAME_RE.match(name):
        abort(404)
    response = send_from_directory(icons_dir(), name, max_age=86400)
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@bp.get("/developer/apps/<slug>/preview")
@developer_required
def preview(slug):
    """The store's app page with the values the developer proposed: exactly what customers
    will see once the App Market approves."""
    page = render_page("store/app.html", page=revisions.preview_page(_own_app(slug)))
    page.headers["Cache-Control"] = "no-store"
    return page


@bp.get("/icons/<name>")
def icon(name):
    if not listings.ICON_NAME_RE.match(name):
        abort(404)
    response = send_from_directory(icons_dir(), name, max_age=86400)
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def _integration_form(listing):
    values = revisions.proposed_values(listing)
    return {"landing_url": values["landing_url"] or "", "webhook_url": values["webhook_url"] or "",
            "redirect_uris": "\n".join(values["redirect_uris"])}, values["scopes"]


@bp.route("/developer/apps/<slug>/integration", methods=["GET", "POST"])
@developer_required
def integration(slug):
    listing = _own_app(slug)
    if request.method == "GET":
        form, chosen = _integration_form(listing)
        return render_page("developer/integration.html", None, listing=listing, form=form, chosen=chosen,
                           scopes=SCOPES, errors={})
    form = request.form.to_dict()
    chosen = request.form.getlist("scopes")
    try:
        waits = revisions.edit_integration(listing, form, chosen)
    except InvalidInput as problem:
        return form_errors("developer/integration.html", "integration_form", listing=listing, form=form,
                           chosen=chosen, scopes=SCOPES, errors=problem.errors)
    return _saved(listing, _("The integration settings are saved."), waits)


def _plans_page(listing, status=200, form=None, errors=None, block=None, plan_errors=None, price_form=None):
    return render_page("developer/plans.html", block, status=status, listing=listing,
                       plans=revisions.proposed_plans(listing), form=form or {}, errors=errors or {},
                       plan_errors=plan_errors or {}, revision=revisions.pending(listing),
                       price_changes=price_schedule.open_changes(listing.id), price_form=price_form or {},
                       notice_days=current_app.config["PRICE_NOTICE_DAYS"])


@bp.route("/developer/apps/<slug>/plans", methods=["GET", "POST"])
@developer_required
def plans(slug):
    listing = _own_app(slug)
    if request.method == "GET":
        return _plans_page(listing)
    form = request.form.to_dict()
    try:
        waits = revisions.add_plan(listing, form)
    except InvalidInput as problem:
        return _plans_page(listing, 422, form, problem.errors, block="plan_form")
    return finished(f"/developer/apps/{listing.slug}/plans", _waiting(_("The plan is added."), waits))


@bp.post("/developer/apps/<slug>/plans/<plan_id>")
@developer_required
def update_plan(slug, plan_id):
    listing = _own_app(slug)
    refusal = _announced_price_refusal(listing, plan_id, request.form.get("price_kr"))
    if refusal:
        return _plans_page(listing, 422, plan_errors={_plan_key(plan_id): {"price_kr": refusal}})
    try:
        waits = revisions.edit_plan(listing, plan_id, request.form.to_dict())
    except listings.ListingNotFound:
        abort(404)
    except InvalidInput as problem:
        return _plans_page(listing, 422, plan_errors={_plan_key(plan_id): problem.errors})
    return finished(f"/developer/apps/{listing.slug}/plans", _waiting(_("The plan is saved."), waits))


def _announced_price_refusal(listing, plan_id, price_kr):
    """A plan with a price change announced keeps its price until the change applies or is
    withdrawn: subscribers were told one price and one date (billing.price_schedule)."""
    try:
        plan = listings.listing_plan(listing, plan_id)
    except listings.ListingNotFound:
        return None
    coming = price_schedule.open_change(plan)
    if coming is None:
        return None
    try:
        price_ore = listings.parse_kronor(price_kr)
    except ValueError:
        return None  # the plan form says what is wrong with it
    if price_ore == plan.price_ore:
        return None
    return _("%(plan)s has a price change announced for %(date)s: withdraw it before setting another price. "
             "Nothing was changed.", plan=plan.name, date=filters.day(coming.effective_on))


def _plan_key(plan_id):
    return int(plan_id) if plan_id.isdigit() else plan_id


@bp.post("/developer/apps/<slug>/plans/<plan_id>/price-change")
@developer_required
def schedule_price_change(slug, plan_id):
    """A new price announced ahead (billing.price_schedule): not a revision, no approval."""
    listing = _own_app(slug)
    try:
        plan = listings.listing_plan(listing, plan_id)
    except listings.ListingNotFound:
        abort(404)
    form = request.form.to_dict()
    try:
        change = price_schedule.schedule(current_app.config, listing, plan, form)
    except price_schedule.PriceChangeRefused as problem:
        return _plans_page(listing, 422, plan_errors={plan.id: {problem.field or "price_change": problem}},
                           price_form={plan.id: form})
    return finished(f"/developer/apps/{listing.slug}/plans",
                    _("%(plan)s: %(notice)s. Every subscriber has been told.", plan=plan.name,
                      notice=said(price_schedule.notice_words(change))))


@bp.post("/developer/apps/<slug>/plans/<plan_id>/price-change/withdraw")
@developer_required
def withdraw_price_change(slug, plan_id):
    listing = _own_app(slug)
    try:
        plan = listings.listing_plan(listing, plan_id)
    except listings.ListingNotFound:
        abort(404)
    try:
        price_schedule.withdraw(current_app.config, listing, plan)
    except price_schedule.PriceChangeRefused as problem:
        return _plans_page(listing, 422, plan_errors={plan.id: {"price_change": problem}})
    except price_schedule.NotFound as problem:
        return _plans_page(listing, 404, plan_errors={plan.id: {"price_change": problem}})
    return finished(f"/developer/apps/{listing.slug}/plans",
                    _("The price change of %(plan)s is withdrawn; every subscriber has been told.", plan=plan.name))


@bp.post("/developer/apps/<slug>/plans/<plan_id>/retire")
@developer_required
def retire_plan(slug, plan_id):
    listing = _own_app(slug)
    # A plan still only proposed in the pending revision is taken out of the revision. A live
    # plan is retired at once, published or not: retiring takes nothing from anyone who agreed
    # to it (its subscribers keep it), and the one case that does, the last plan, is the
    # developer's explicit choice below and tells every subscriber (billing.retirement).
    try:
        plan = listings.listing_plan(listing, plan_id)
    except listings.ListingNotFound:
        try:
            waits = revisions.retire_plan(listing, plan_id)
        except listings.ListingNotFound:
            abort(404)
        if waits:
            return finished(f"/developer/apps/{listing.slug}/plans",
                            _waiting(_("The plan is taken out of your pending changes."), True))
        abort(404)
    try:
        outcome = retirement.retire_plan(current_app.config, listing, plan,
                                         end_subscriptions=request.form.get("end_subscriptions") == "yes")
    except retirement.EndSubscriptionsFirst as problem:
        return _plans_page(listing, 422, plan_errors={plan.id: {"end_subscriptions": problem}})
    revisions.forget_retired_plan(listing, plan.id)
    if outcome["ending"]:
        return finished(f"/developer/apps/{listing.slug}/plans",
                        _("The plan is retired and the app is no longer sold: its subscriptions end at the end of "
                          "their paid period, and every subscriber has been told."))
    return finished(f"/developer/apps/{listing.slug}/plans", _("The plan is retired; its subscribers keep it."))


@bp.post("/developer/apps/<slug>/revision/withdraw")
@developer_required
def withdraw_revision(slug):
    listing = _own_app(slug)
    try:
        revisions.withdraw(listing)
    except InvalidInput as problem:
        return _app_page(listing, 409, problem.errors)
    return finished(f"/developer/apps/{listing.slug}", _("The revision is withdrawn; the published version stays."))


def _credentials_page(listing, secret=None):
    page = render_page("developer/credentials.html", None, listing=listing, client=listings.oauth_client(listing),
                       secret=secret,
                       landing_secret=listings.landing_secret(current_app.config["SECRET_KEY"], listing))
    # Secrets must not stay in caches or the browser's history.
    page.headers["Cache-Control"] = "no-store"
    return page


@bp.get("/developer/apps/<slug>/credentials")
@developer_required
def credentials(slug):
    return _credentials_page(_own_app(slug))


@bp.post("/developer/apps/<slug>/credentials/secret")
@developer_required
def new_secret(slug):
    listing = _own_app(slug)
    secret = listings.make_client_secret(current_app.config["SECRET_KEY"], listing)
    # Shown in this response only: the market keeps nothing it could show again.
    return _credentials_page(listing, secret)


@bp.post("/developer/apps/<slug>/submit")
@developer_required
def submit(slug):
    listing = _own_app(slug)
    if not accounts.is_confirmed(current_user.user):
        raise forbidden(str(accounts.NotConfirmed()))  # issue N: a confirmed address first
    try:
        listings.submit_for_review(listing)
    except InvalidInput as problem:
        return _app_page(listing, 422, problem.errors)
    return finished(f"/developer/apps/{listing.slug}", _("Submitted for review. We will tell you here what the reviewer decides."))
