"""Platform admin: the review queue, and suspending and restoring published apps.

`/admin` itself is issue J's dashboard (views/dashboard.py)."""
import functools

from flask import Blueprint, abort, current_app, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from market.accounts.companies import InvalidInput
from market.billing import company_mail, suspension
from market.catalog import listings, revisions
from market.core.scopes import SCOPES
from views import confirm_page, render_page
from views.account import finished, forbidden, refuse_nul_characters

bp = Blueprint("admin", __name__)
bp.before_request(refuse_nul_characters)


def platform_admin_required(view):
    """Visitors go to the login page; everyone else who is not a platform admin gets 403."""
    @functools.wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        if not current_user.is_platform_admin:
            raise forbidden(_("This page is for App Market administrators."))
        return view(*args, **kwargs)
    return wrapper


def _app(slug):
    try:
        return listings.app_by_slug(slug)
    except listings.ListingNotFound:
        abort(404)


def _queue_page(status=200, errors=None, failed_slug=None):
    queue = [(listing, listings.oauth_client(listing), listings.checklist(listing))
             for listing in listings.review_queue()]
    changed = [(listing, revision, revisions.diff_rows(listing, revision))
               for listing, revision in revisions.queue()]
    return render_page("admin/review.html", "queue", status=status, queue=queue, scopes=SCOPES,
                       revisions=changed, errors=errors or {}, failed_slug=failed_slug)


@bp.get("/admin/review")
@platform_admin_required
def review():
    return _queue_page()


@bp.get("/admin/review/<slug>/preview")
@platform_admin_required
def preview(slug):
    """What the admin approves: the store's app page with the app's proposed values, the same
    page the developer previews (catalog.revisions.preview_page)."""
    page = render_page("store/app.html", page=revisions.preview_page(_app(slug)))
    page.headers["Cache-Control"] = "no-store"
    return page


@bp.post("/admin/review/<slug>/approve")
@platform_admin_required
def approve(slug):
    listing = _app(slug)
    revision = revisions.pending(listing) if revisions.under_review(listing) else None
    try:
        # The same form decides a new app and a published app's pending revision.
        if revision is not None:
            revisions.approve(listing)
        else:
            listings.approve(listing)
    except InvalidInput as problem:
        return _queue_page(409, problem.errors, slug)
    company_mail.tell_listing_decision(current_app.config, listing, True, revision=revision)
    if revisions.under_review(listing):
        return finished("/admin/review", _("The changes to %(app)s are published.", app=listing.name))
    return finished("/admin/review", _("%(app)s is published.", app=listing.name))


@bp.post("/admin/review/<slug>/reject")
@platform_admin_required
def reject(slug):
    listing = _app(slug)
    revision = revisions.pending(listing) if revisions.under_review(listing) else None
    try:
        if revision is not None:
            revision = revisions.reject(listing, request.form.get("reason"))
        else:
            listing = listings.reject(listing, request.form.get("reason"))
    except InvalidInput as problem:
        return _queue_page(422, problem.errors, slug)
    reason = (request.form.get("reason") or "").strip() if revision is not None else listing.rejection_reason
    company_mail.tell_listing_decision(current_app.config, listing, False, reason, revision=revision)
    if revisions.under_review(listing):
        return finished("/admin/review", _("The changes to %(app)s are rejected; the developer sees your reason.",
                                                 app=listing.name))
    return finished("/admin/review", _("%(app)s is rejected; the developer sees your reason.", app=listing.name))


def _apps_page(status=200, errors=None, failed_slug=None):
    return render_page("admin/apps.html", "app_table", status=status, apps=listings.store_apps(),
                       errors=errors or {}, failed_slug=failed_slug)


@bp.get("/admin/apps")
@platform_admin_required
def apps():
    return _apps_page()


@bp.get("/admin/apps/<slug>/suspend")
@platform_admin_required
def ask_suspend(slug):
    """The question before Suspend (issue P), with the reason the developer is sent."""
    listing = _app(slug)
    if listing.status != "published":
        response = _apps_page(409, {"status": "Only a published app can be suspended."}, slug)
        response.headers["HX-Retarget"] = "#app-table"
        response.headers["HX-Reswap"] = "outerHTML"
        return response
    lines = [_("%(app)s is hidden from the store at once, its customers' subscriptions are set to cancel at the "
               "end of their periods, and its developer is told why.", app=listing.name),
             _("You can restore it later; each customer then chooses whether to keep its subscription.")]
    return confirm_page(url_for("admin.suspend", slug=slug), _("Suspend %(app)s?", app=listing.name),
                        _("Suspend %(app)s", app=listing.name), "/admin/apps", lines, danger=True,
                        reason=_("Reason (sent to the developer)"), back_label=_("Do not suspend"))


@bp.post("/admin/apps/<slug>/suspend")
@platform_admin_required
def suspend(slug):
    listing = _app(slug)
    try:
        listings.suspend_app(listing)
    except InvalidInput as problem:
        return _apps_page(409, problem.errors, slug)
    # Its subscriptions cancel at period end: Stripe is asked after the catalog's change committed.
    suspension.on_app_suspended(current_app.config, listing)
    # The developer is told why (issue P 6): the reason asked for on the question before this POST.
    # The mail, in the developer's language, says so when no reason was given.
    company_mail.tell_app_suspended(current_app.config, listing, (request.form.get("reason") or "").strip()[:500])
    return finished("/admin/apps", _("%(app)s is suspended and hidden from the store; its developer is told why.",
                                     app=listing.name))


@bp.post("/admin/apps/<slug>/restore")
@platform_admin_required
def restore(slug):
    listing = _app(slug)
    try:
        listings.restore_app(listing)
    except InvalidInput as problem:
        return _apps_page(409, problem.errors, slug)
    suspension.on_app_restored(current_app.config, listing)
    return finished("/admin/apps", _("%(app)s is back in the store.", app=listing.name))
