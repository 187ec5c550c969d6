"""The developer's dashboard (`/developer`), its reviews inbox and CSV exports, and the platform
admin's page (`/admin`) (issue J). Views parse the query, call market.dashboards.figures, render.

A developer only ever sees its own apps: every query is filtered by its developer id, and an app
slug of another developer is simply not found (404)."""
import csv
import io
import threading
import time
from collections import OrderedDict

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup

from market.api import health as api_health
from market.billing import gateway, replay
from market.billing.dunning import customers_in_dunning
from market.catalog import listings, revisions
from market.dashboards import figures as dashboard
from market.dashboards import statements
from market.notifications import outbox as notifications
from models import Developer
from views import render_page
from views.account import refuse_nul_characters
from views.admin import platform_admin_required
from views.developer import developer_required
from views.locale import current_language

bp = Blueprint("dashboard", __name__)
bp.before_request(refuse_nul_characters)

REPLAY_DEFAULT_DAYS = 3

# A line chart's SVG, rendered once per worker for its inputs and the reader's language (issue
# R: its points cost more to escape than the rest of the page). Keyed by everything the partial
# reads, so it can never show other figures than it is given. The least recently used goes.
CHART_CACHE_SIZE = 256
_charts = OrderedDict()
_charts_lock = threading.Lock()
LINE_CHART_ARGS = ("chart_id", "chart_title", "labels", "values", "money", "y_title", "legend_key", "legend")


def _frozen(value):
    return tuple(value) if isinstance(value, (list, tuple)) else value


def line_chart(**args):
    """templates/partials/_svg_line.html's SVG for `args`, from the worker's cache."""
    key = (current_language(), *[(name, _frozen(args.get(name))) for name in LINE_CHART_ARGS])
    with _charts_lock:
        svg = _charts.get(key)
        if svg is not None:
            _charts.move_to_end(key)
            return svg
    svg = Markup(render_template("partials/_svg_line.html", line_chart_uncached=True, **args))
    with _charts_lock:
        _charts[key] = svg
        while len(_charts) > CHART_CACHE_SIZE:
            _charts.popitem(last=False)
    return svg


@bp.context_processor
def _chart_renderers():
    return {"line_chart": line_chart}


def _selected_app():
    """The `app` query parameter: one of the developer's own apps, or 404."""
    slug = request.args.get("app", "").strip()
    if not slug:
        return None
    try:
        return listings.developer_app(current_user.developer_id, slug)
    except listings.ListingNotFound:
        abort(404)


def _period():
    now, today = dashboard.now_and_today()
    period, problem = dashboard.parse_period(request.args.get("from"), request.args.get("to"), today)
    return now, period, problem


@bp.get("/developer")
@developer_required
def developer_dashboard():
    now, period, problem = _period()
    selected = _selected_app()
    app_id = selected.id if selected else None
    config = current_app.config
    figures = dashboard.with_eligibility(dashboard.developer_figures(current_user.developer_id, period, app=app_id),
                                         config["RECOMMEND_MIN_ACTIVE"], config["RECOMMEND_MIN_RATING"])
    history = dashboard.history(current_user.developer_id, period, now, app=app_id)
    dunning = customers_in_dunning(current_user.developer_id, config["BILLING_GRACE_DAYS"], app=app_id)
    health = api_health.developer_health(current_user.developer_id, now.date(), app=app_id)
    return render_page("dashboard/developer.html", "figures", developer=Developer.get_by_id(current_user.developer_id),
                       figures=figures, history=history, period=period, problem=problem, selected=selected,
                       health=health, health_as_of=api_health.as_of(),
                       dunning=dunning, platform_percent=config["PLATFORM_FEE_PERCENT"],
                       export_args=_export_args(period, selected),
                       checklist=dashboard.first_run_checklist(current_user.developer_id),
                       all_zero=dashboard.all_zero(figures["total"]))


def _export_args(period, selected):
    args = {"from": period.first.isoformat(), "to": period.last.isoformat()}
    if selected is not None:
        args["app"] = selected.slug
    return args


def _csv_response(filename, header, rows):
    def generate():
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(header)
        for row in rows:
            writer.writerow(row)
            if buffer.tell() > 16384:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    response = Response(generate(), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/developer/export/ledger.csv")
@developer_required
def export_ledger():
    now, period, problem = _period()
    if problem:
        abort(400, _(problem))
    selected = _selected_app()
    app_id = selected.id if selected else None
    total = dashboard.developer_figures(current_user.developer_id, period, app=app_id)["total"]
    rows = list(dashboard.ledger_rows(current_user.developer_id, period, app=app_id))
    rows.append(dashboard.ledger_total_row(total))
    return _csv_response(f"ledger-{period.first}-{period.last}.csv", dashboard.LEDGER_CSV_HEADER, rows)


@bp.get("/developer/export/customers.csv")
@developer_required
def export_customers():
    selected = _selected_app()
    rows = dashboard.customer_rows(current_user.developer_id, app=selected.id if selected else None)
    return _csv_response("customers.csv", dashboard.CUSTOMERS_CSV_HEADER, rows)


# ---------------------------------------------------------------------------------- statements
@bp.get("/developer/statements")
@developer_required
def statement_months():
    now, _today = dashboard.now_and_today()
    months = statements.months(current_user.developer_id, now)
    return render_page("dashboard/statements.html", None, months=months, now=now, label=statements.label,
                       is_closed=statements.is_closed, closing_text=statements.closing_text)


@bp.get("/developer/statements/<name>")
@developer_required
def statement_page(name):
    """`YYYY-MM` is the page, `YYYY-MM.csv` the CSV; any other name, or an app of another
    developer, is not found."""
    as_csv = name.endswith(".csv")
    month = statements.parse_month(name[:-4] if as_csv else name)
    if month is None:
        abort(404)
    selected = _selected_app()
    now, _today = dashboard.now_and_today()
    try:
        body = statements.statement(current_app.config, current_user.developer_id, month, now,
                                    app_slug=selected.slug if selected else None)
    except statements.StatementUnavailable:
        return render_page("errors/error.html", None, status=503, title=_("Statement not ready"),
                           message=_("Stripe did not answer when asked for your payouts. Nothing was kept; "
                                     "try again in a minute."))
    if as_csv:
        return _statement_csv(f"statement-{statements.label(month)}.csv", body)
    return render_page("dashboard/statement.html", None, body=body, month=month, selected=selected,
                       label=statements.label)


def _statement_csv(filename, body):
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(statements.CSV_HEADER)
    writer.writerows(statements.csv_rows(body))
    response = Response(buffer.getvalue().encode("utf-8"), mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


INBOX_VIEWS = ("all", "unanswered")


def inbox_url(view, review_id):
    """Where a reply sent from the inbox lands: the same filter, at the review replied to (or,
    when only unanswered ones are shown and it has left the list, at the top of the inbox)."""
    if view == "unanswered":
        return f"/developer/reviews?show=unanswered&replied={review_id}#inbox"
    return f"/developer/reviews?replied={review_id}#review-{review_id}"


def inbox_page(unanswered, status=200, replied=None, error=None, error_review=None):
    reviews = dashboard.review_inbox(current_user.developer_id, unanswered_only=unanswered)
    replied_to = dashboard.replied_review(current_user.developer_id, replied) if replied else None
    return render_page("dashboard/reviews.html", "inbox", status=status, unanswered=unanswered, reviews=reviews,
                       replied=replied_to, replied_in_list=bool(replied_to and any(
                           r["id"] == replied_to["id"] for r in reviews)),
                       error=error, error_review=error_review)


@bp.get("/developer/reviews")
@developer_required
def reviews_inbox():
    unanswered = request.args.get("show") == "unanswered"
    replied = request.args.get("replied", "")
    return inbox_page(unanswered, replied=int(replied) if replied.isdigit() and len(replied) < 12 else None)


# ---------------------------------------------------------------------------------- admin
def _admin_page(status=200, replay_error=None, replay_since=""):
    now, period, problem = _period()
    config = current_app.config
    return render_page(
        "dashboard/admin.html", "admin_figures", status=status, period=period, problem=problem,
        total=dashboard.platform_total(period), by_month=dashboard.platform_by_month(period),
        by_app=dashboard.platform_by_app(period), webhooks=dashboard.webhook_health(now),
        outbox=dashboard.notification_health(now, notifications.MAX_ATTEMPTS),
        outbox_failures=dashboard.recent_notification_failures(),
        in_review=len(listings.review_queue()) + revisions.pending_count(),
        replay_error=replay_error, replay_since=replay_since or _default_replay_since(now),
        platform_percent=config["PLATFORM_FEE_PERCENT"])


def _default_replay_since(now):
    import datetime

    return (now - datetime.timedelta(days=REPLAY_DEFAULT_DAYS)).date().isoformat()


@bp.get("/admin")
@platform_admin_required
def admin_dashboard():
    return _admin_page()


@bp.post("/admin/stripe-replay")
@platform_admin_required
def stripe_replay():
    """The same code as `flask --app app stripe-replay --since ...`."""
    since_text = request.form.get("since", "")
    try:
        since = replay.parse_since(since_text)
    except (ValueError, OverflowError):
        since = None
    if since is None or not 0 <= since <= time.time() + 86400:
        return _admin_page(400, _("Write the start as a date (2026-11-01) or Unix seconds, not in the future."),
                           since_text[:40])
    try:
        counts = replay.replay_events(current_app.config, since)
    except gateway.StripeError as problem:
        return _admin_page(502, _("Stripe did not answer the replay: %(problem)s", problem=problem.user_message or problem),
                           since_text[:40])
    notifications.deliver_due(current_app.config)
    flash(_("Replayed from Stripe: %(counts)s", counts=", ".join(f"{name} {value}" for name, value in counts.items())),
          "success")
    return redirect(url_for("dashboard.admin_dashboard"), 303)
