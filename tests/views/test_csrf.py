"""QUALITY.md 24: every state-changing request authenticated by the session cookie needs the
CSRF token; the routes that authenticate otherwise are listed in one place."""
import pytest

from models import MODELS
from tests import factories

# Authenticated by a Stripe signature, client credentials or a bearer token instead.
EXPECTED_EXEMPT = {
    "views.webhooks.stripe_webhook",
    "views.oauth.token", "views.oauth.revoke", "views.oauth.introspect",
    "views.api.me", "views.api.company_information", "views.api.subscription", "views.api.customers",
    "views.api.customer", "views.api.create_customer", "views.api.invoices", "views.api.invoice",
}
ARGUMENTS = {"slug": "some-app", "token": "some-token", "member_id": "1", "plan_id": "1", "report_id": 1,
             "review_id": 1, "rest": "x", "name": "0" * 32 + ".png",
             "invitation_id": "1", "public_id": "some-session"}


def _state_changing_rules(app):
    for rule in app.url_map.iter_rules():
        methods = rule.methods - {"GET", "HEAD", "OPTIONS"}
        view = app.view_functions[rule.endpoint]
        if methods and f"{view.__module__}.{view.__name__}" not in app.config["CSRF_EXEMPT"]:
            yield rule, sorted(methods)


def _row_counts():
    return {model.__name__: model.select().count() for model in MODELS}


def test_the_exempt_list_is_exactly_the_otherwise_authenticated_routes(app):
    assert set(app.config["CSRF_EXEMPT"]) == EXPECTED_EXEMPT


@pytest.mark.parametrize("logged_in", [False, True])
def test_every_other_state_changing_route_refuses_a_missing_token(app, client, auth, logged_in):
    factories.app_listing(slug="some-app")
    if logged_in:
        factories.user(email="admin@example.test", is_platform_admin=True,
                       company=factories.company(), company_role="admin")
        assert auth.login("admin@example.test").status_code == 303
    before = _row_counts()
    checked = 0
    for rule, methods in _state_changing_rules(app):
        url = rule.build({name: ARGUMENTS[name] for name in rule.arguments}, append_unknown=False)[1]
        for method in methods:
            response = client.open(url, method=method, data={"email": "x@example.test", "stars": "5"})
            assert response.status_code == 400, (method, url, response.status_code)
            checked += 1
    assert checked >= 40  # the whole market, not a handful
    assert _row_counts() == before


def test_htmx_sends_the_token_in_a_header(app, client, auth):
    factories.customer_admin(email="anna@example.test")
    auth.login("anna@example.test")
    response = client.post("/account/logout-everywhere", headers={"X-CSRFToken": auth.csrf(), "HX-Request": "true"})
    assert response.status_code != 400
