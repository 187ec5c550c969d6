"""Friendly error pages, HTMX-aware, with the security headers like every other response.

Under /api/ the answer is the API's JSON ErrorInformation instead, on every route (an unknown
path or method too): an integration cannot read an HTML page. A 405 always carries `Allow`."""
from flask import render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from views import api as api_views
from views.locale import said

MESSAGES = {
    400: (_l("Bad request"), _l("The request could not be understood.")),
    403: (_l("Not allowed"), _l("You do not have access to this page.")),
    404: (_l("Not found"), _l("There is nothing here. The app or page may have moved or never existed.")),
    405: (_l("Not allowed"), _l("This address does not accept that kind of request.")),
    409: (_l("Another company"), _l("This form was for another of your companies. Nothing was changed.")),
    413: (_l("Too large"), _l("What you sent is larger than the market accepts.")),
    429: (_l("Too many attempts"), _l("Please wait a moment and try again.")),
    500: (_l("Something went wrong"), _l("The market could not finish this request. Nothing was changed.")),
}


def _render(status, message=None):
    title, default = MESSAGES.get(status, (_l("Error"), _l("Something went wrong.")))
    template = "errors/_error.html" if request.headers.get("HX-Request") == "true" else "errors/error.html"
    return render_template(template, status=status, title=title, message=message or default,
                           lang_next="/"), status  # an error page's URL is not echoed back


def _is_api():
    return request.path == "/api" or request.path.startswith("/api/")


def register(app):
    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return _render(400, _("The form had expired or was not sent from this site. Please go back, "
                              "reload the page and try again."))

    @app.errorhandler(HTTPException)
    def http_error(error):
        if error.code and 300 <= error.code < 400:
            return error
        if _is_api():
            return api_views.http_error(error)
        response_status = error.code or 500
        message = said(error.description) if response_status in (400, 403, 404, 409, 429) and getattr(
            error, "market_message", False) else None
        body, status = _render(response_status, message)
        response = app.make_response((body, status))
        if response_status == 429 and getattr(error, "retry_after", None):
            response.headers["Retry-After"] = str(error.retry_after)
        if isinstance(error, MethodNotAllowed) and error.valid_methods:
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response

    @app.errorhandler(500)
    def server_error(error):
        if _is_api():
            return api_views.unexpected_error(error)
        return _render(500)
