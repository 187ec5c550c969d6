"""Every area's blueprint on one app: the one list of what the market serves (DESIGN.md §4).

Kept out of `views/__init__.py`, which every view imports for `render_page`, so the package
itself imports none of its submodules and no view module is part of an import circle."""
from views import (
    account,
    activation,
    admin,
    api,
    auth,
    billing,
    bureau,
    connections,
    dashboard,
    developer,
    developer_docs,
    errors,
    health,
    oauth,
    recommended,
    reviews,
    store,
    webhooks,
)


def register_blueprints(app):
    app.register_blueprint(health.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(billing.bp)
    app.register_blueprint(webhooks.bp)
    app.register_blueprint(store.bp)
    app.register_blueprint(activation.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(oauth.bp)
    app.register_blueprint(connections.bp)
    app.register_blueprint(reviews.bp)
    app.register_blueprint(recommended.bp)
    app.register_blueprint(account.bp)
    app.register_blueprint(bureau.bp)
    app.register_blueprint(developer.bp)
    app.register_blueprint(developer_docs.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(dashboard.bp)
    errors.register(app)
