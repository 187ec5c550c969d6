"""One blueprint per area (DESIGN.md §4). Views parse input, call a domain function, render or
redirect."""
from flask import make_response, render_template, request
from jinja2_fragments.flask import render_block


def wants_fragment():
    """HTMX asked for part of a page. A history restore needs the whole page, or the back
    button would show a bare fragment (DESIGN.md §4)."""
    return (request.headers.get("HX-Request") == "true"
            and request.headers.get("HX-History-Restore-Request") != "true")


def render_page(template, block=None, status=200, **context):
    """The full page, or only `block` of it when HTMX asked for a fragment."""
    if block and wants_fragment():
        body = render_block(template, block, **context)
    else:
        body = render_template(template, **context)
    response = make_response(body, status)
    response.vary.add("HX-Request")
    return response


def register_blueprints(app):
    from views import auth, errors, health

    app.register_blueprint(health.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(__import__("views.billing").billing.bp)
    app.register_blueprint(__import__("views.webhooks").webhooks.bp)
    app.register_blueprint(__import__("views.store").store.bp)
    app.register_blueprint(__import__("views.activation").activation.bp)
    app.register_blueprint(__import__("views.api").api.bp)
    from views import oauth as oauth_views
    app.register_blueprint(oauth_views.bp)
    from views import connections as connection_views
    app.register_blueprint(connection_views.bp)
    app.register_blueprint(__import__("views.reviews").reviews.bp)
    app.register_blueprint(__import__("views.recommended").recommended.bp)
    app.register_blueprint(__import__("views.account").account.bp)
    app.register_blueprint(__import__("views.developer").developer.bp)
    app.register_blueprint(__import__("views.admin").admin.bp)
    app.register_blueprint(__import__("views.dashboard").dashboard.bp)
    errors.register(app)
