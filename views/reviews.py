"""Ratings and reviews on the app page, replies, reports, and the admin's list of reports."""
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from markupsafe import Markup

from market.accounts import auth as accounts
from market.billing import company_mail
from market.catalog import store
from market.data import prepared
from market.recommendations import ranking as recommendations
from market.reviews import bursts, ratings
from models import App, AppStats
from views import dashboard as inbox
from views import render_page, wants_fragment
from views.admin import platform_admin_required
from views.caching import CSRF_MARK, kept, with_csrf
from views.locale import said

bp = Blueprint("reviews", __name__)
# Ids up to PostgreSQL's integer: a larger guessed id is "not found", not an overflow (a 500).
ID = "int(max=2147483647)"
# How each refusal of market.reviews.ratings is answered (the most specific kind first).
REFUSAL_STATUS = ((ratings.NotACustomer, 403), (ratings.NotYours, 404), (ratings.AlreadyReplied, 409),
                  (ratings.AlreadyReported, 409), (ratings.TooManyReports, 429), (ratings.ReviewError, 400))


def _refusal_status(refused):
    return next(status for kind, status in REFUSAL_STATUS if isinstance(refused, kind))


def _published_app(slug):
    app = App.get_or_none(App.slug == slug, App.status == "published")
    if app is None:
        abort(404)
    return app


def _app_stats(app):
    # Read on every app page, twice: its SQL is built once (prepared.py).
    return prepared.first("app_stats", lambda app_id: AppStats.select().where(AppStats.app == app_id).limit(1),
                          app.id)


def _user():
    return current_user.user if current_user.is_authenticated else None


def section_context(app, error=None, status_message=None):
    """Everything templates/reviews/_reviews.html needs, for the app page and the fragments."""
    user = _user()
    stats = _app_stats(app)
    company = user.company if user is not None and user.company_id else None
    mine = ratings.company_review(company, app) if company is not None else None
    reviews = _shown_reviews(app)
    is_app_developer = user is not None and user.developer_id is not None and user.developer_id == app.developer_id
    return {
        "app": app,
        "rating": store.rating_summary(stats),
        "reviews": reviews,
        "review_list": _review_list(app, reviews, user is not None, is_app_developer),
        "my_review": mine,
        "may_write": company is not None and ratings.is_verified_customer(company, app),
        "may_change": mine is not None and ratings.may_change(user, mine),
        "is_app_developer": is_app_developer,
        "logged_in": user is not None,
        "max_text": ratings.MAX_TEXT,
        "error": error,
        "status_message": status_message,
    }


def _shown_reviews(app):
    """The newest reviews are the same for every reader: kept beside the store's pages per store
    generation (a review, reply or removal bumps it) instead of joined anew on each view."""
    return kept(("reviews", app.id), lambda: ratings.app_reviews(app))


def _review_list(app, reviews, logged_in, is_app_developer):
    """The review list's HTML. Rendering 50 reviews, each with its report form, cost more than
    the rest of the app page: it is rendered once per kind of reader and store generation, and
    only the reader's CSRF token is put in per request."""
    html = kept(("review-list", app.id, logged_in, is_app_developer),
                lambda: render_template("reviews/_review_list.html", app=app, reviews=reviews,
                                        logged_in=logged_in, is_app_developer=is_app_developer, csrf=CSRF_MARK))
    return with_csrf(html, logged_in)


@bp.app_template_global()
def review_section(app):
    """The reviews section for the store's app page: `{{ review_section(app) }}`."""
    return Markup(render_template("reviews/_reviews.html", **section_context(app)))


@bp.app_template_global()
def eligibility_section(app, stats=None):
    """Where the app stands against the Recommended rules: `{{ eligibility_section(app) }}`."""
    stats = stats if stats is not None else _app_stats(app)
    progress = recommendations.eligibility_progress(stats, current_app.config["RECOMMEND_MIN_ACTIVE"],
                                                    current_app.config["RECOMMEND_MIN_RATING"])
    return Markup(render_template("partials/_eligibility.html", progress=progress, app=app))


def _section(app, status=200, **extra):
    return render_page("reviews/page.html", "reviews", status=status, **section_context(app, **extra))


def _done(app, message):
    if wants_fragment():
        return _section(app, status_message=message)
    flash(message, "success")
    return redirect(url_for("reviews.app_reviews", slug=app.slug) + "#reviews", 303)


@bp.get("/apps/<slug>/reviews")
def app_reviews(slug):
    return _section(_published_app(slug))


@bp.post("/apps/<slug>/reviews")
@login_required
def write_review(slug):
    app = _published_app(slug)
    user = current_user.user
    if user.company_id is None:
        return _section(app, status=403, error=_("Only customer companies can review apps."))
    if not accounts.is_confirmed(user):
        return _section(app, status=403, error=said(accounts.NotConfirmed()))  # issue N
    try:
        review, created = ratings.save_review(user.company, user, app, request.form.get("stars"),
                                              request.form.get("text"))
    except ratings.ReviewError as refused:
        return _section(app, status=_refusal_status(refused), error=said(refused))
    if created:
        company_mail.tell_new_review(current_app.config, review)  # after the review committed
    return _done(app, _("Thank you for your review.") if created else _("Your review was updated."))


@bp.post("/apps/<slug>/reviews/delete")
@login_required
def delete_review(slug):
    app = _published_app(slug)
    user = current_user.user
    if user.company_id is None:
        abort(404)
    try:
        ratings.delete_review(user.company, user, app)
    except ratings.NotYours:
        abort(404)
    return _done(app, _("Your review was deleted."))


def _refused_on_review(review_id, refused):
    """The reviews section of the review's app again, with the refusal's message."""
    app = ratings.Review.select(ratings.Review, App).join(App).where(ratings.Review.id == review_id).get().app
    return _section(app, status=_refusal_status(refused), error=said(refused))


@bp.post(f"/reviews/<{ID}:review_id>/reply")
@login_required
def reply(review_id):
    # Sent from the developer's inbox (`back` names its filter): the answer is the inbox again,
    # at the same place, never the app's public page.
    back = request.form.get("back")
    back = back if back in inbox.INBOX_VIEWS else None
    try:
        review = ratings.reply_to_review(current_user.user, review_id, request.form.get("text"))
    except ratings.NotYours:
        abort(404)
    except ratings.ReviewError as refused:
        if back:
            return inbox.inbox_page(back == "unanswered", status=_refusal_status(refused), error=said(refused),
                                    error_review=review_id)
        return _refused_on_review(review_id, refused)
    if back and wants_fragment():
        # With JavaScript the inbox is swapped in place: the page stays where it was.
        return inbox.inbox_page(back == "unanswered", replied=review.id)
    if back:
        return redirect(inbox.inbox_url(back, review.id), 303)
    return _done(review.app, _("Your reply was published."))


@bp.post(f"/reviews/<{ID}:review_id>/report")
@login_required
def report(review_id):
    try:
        reported = ratings.report_review(current_user.user, review_id, request.form.get("reason"))
    except ratings.NotYours:
        abort(404)
    except ratings.ReviewError as refused:
        return _refused_on_review(review_id, refused)
    return _done(reported.review.app, _("Thank you. The App Market will look at this review."))


@bp.get("/admin/reports")
@platform_admin_required
def admin_reports():
    return render_page("reviews/admin_reports.html", "reports", reports=ratings.open_reports(),
                       bursts=bursts.suspected_bursts())


@bp.post("/admin/reports/bursts/remove")
@platform_admin_required
def remove_burst():
    key = request.form.get("burst", "")
    if not isinstance(key, str) or len(key) > 40 or not bursts.remove_burst(key):
        abort(404)
    flash(_("The burst's ratings were taken out of the app's totals."), "success")
    return redirect(url_for("reviews.admin_reports"), 303)


@bp.post(f"/admin/reports/<{ID}:report_id>/resolve")
@platform_admin_required
def resolve_report(report_id):
    if not ratings.resolve_report(report_id):
        abort(404)
    if wants_fragment():
        return render_page("reviews/admin_reports.html", "reports", reports=ratings.open_reports(),
                           bursts=bursts.suspected_bursts())
    flash(_("The report was closed."), "success")
    return redirect(url_for("reviews.admin_reports"), 303)


@bp.post(f"/admin/reports/<{ID}:report_id>/remove-review")
@platform_admin_required
def remove_reported_review(report_id):
    if not ratings.remove_reported_review(report_id):
        abort(404)
    if wants_fragment():
        return render_page("reviews/admin_reports.html", "reports", reports=ratings.open_reports(),
                           bursts=bursts.suspected_bursts())
    flash(_("The review was removed."), "success")
    return redirect(url_for("reviews.admin_reports"), 303)
