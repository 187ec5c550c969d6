"""The API's domain errors say what went wrong (a kind), never an HTTP status; views/api.py
gives every kind its status, so no kind can reach the client as a 500."""
import inspect

from market.api import resources
from views import api as api_views


def test_every_error_kind_has_a_status_in_the_view():
    assert set(resources.ERROR_KINDS) == set(api_views.STATUS_OF)


def test_api_error_takes_no_status():
    # `scope` names the scope a MISSING_SCOPE error lacks (issue U); still no status.
    assert list(inspect.signature(resources.ApiError).parameters) == ["kind", "message", "code", "scope"]
