"""Billing's refusals carry no HTTP status: the views map each kind to one."""
import pytest

from market.billing import refusals
from views.billing import refusal_status


@pytest.mark.parametrize("refusal, status", [
    (refusals.NotFound("Your company has no subscription to this app to cancel."), 404),
    (refusals.InvalidChoice("Choose one of the app's plans."), 400),
    (refusals.BuyRefused("This app has no plan that can be bought right now."), 409),
])
def test_the_view_maps_each_kind_of_refusal(refusal, status):
    assert not hasattr(refusal, "status")
    assert isinstance(refusal, refusals.BuyRefused)
    assert refusal_status(refusal) == status
