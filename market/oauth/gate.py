"""The status gate (DESIGN.md §3 "published"): the one answer to "may this app serve this
company now?", asked by activation, the authorization endpoint and its consent, the code and
refresh grants, introspection and every API call.

Only a published app serves customers. A suspended app serves no one, so its tokens stop at
once. The one exception is a developer trying its own unpublished app with its own test
company (accounts.companies.create_test_company): the consent page then says the app was not
reviewed.
"""
from market.accounts import companies
from market.core import words

REFUSAL = words.marked("This app is not published in the App Market, so it cannot be connected or used.")
SUSPENDED = words.marked("This app has been suspended by the App Market.")


def app_may_serve(app, company):
    """True when `app` may be activated, consented to, get or refresh tokens, be introspected
    as active or call the API for `company` (None: nobody known yet, e.g. a visitor)."""
    if app is None or app.status == "suspended":
        return False
    if app.status == "published":
        return True
    return companies.is_test_company_of(company, app.developer_id)


def is_unreviewed_trial(app, company):
    """The developer's test company on the developer's own unpublished app: allowed, marked."""
    return app.status != "published" and app_may_serve(app, company)


def refusal(app):
    """Why the gate refused, in the customer's words."""
    return SUSPENDED if app is not None and app.status == "suspended" else REFUSAL
