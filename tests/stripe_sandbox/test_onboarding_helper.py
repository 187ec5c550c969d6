"""The test helper that finishes Connect onboarding over the API
(`POST /v1/test_helpers/accounts/<id>/complete_onboarding`): what the demo uses instead of
filling in the hosted form, so it must leave the account as the form's test values do."""

import pytest
import requests
import stripe

from stripe_sandbox.testing import API_KEY

from .helpers import form_fields


def express_account(client, **extra):
    return client.v1.accounts.create(params={"type": "express", "country": "SE",
                                             "capabilities": {"transfers": {"requested": True}}, **extra})


def complete_onboarding(client, account_id, **params):
    response = client.raw_request("post", f"/v1/test_helpers/accounts/{account_id}/complete_onboarding",
                                  **params)
    return client.deserialize(response, api_mode="V1")


def comparable(account):
    """What onboarding decides, without the ids and times that differ between two accounts."""
    data = account.to_dict()
    bank = data["external_accounts"]["data"]
    return {"business_profile": data["business_profile"], "business_type": data["business_type"],
            "email": data["email"], "capabilities": data["capabilities"],
            "details_submitted": data["details_submitted"], "charges_enabled": data["charges_enabled"],
            "payouts_enabled": data["payouts_enabled"], "requirements": data["requirements"],
            "banks": [(b["country"], b["currency"], b["last4"]) for b in bank]}


def test_the_helper_finishes_onboarding_and_answers_the_account(client, hooks, receiver, sandbox):
    account = express_account(client, email="dev@example.com")
    assert not account.details_submitted and account.capabilities["transfers"] == "inactive"
    done = complete_onboarding(client, account.id)
    assert done.object == "account" and done.id == account.id
    assert done.details_submitted and done.charges_enabled and done.payouts_enabled
    assert done.capabilities["transfers"] == "active" and done.requirements["currently_due"] == []
    assert client.v1.accounts.retrieve(account.id).to_dict() == done.to_dict()
    sandbox.wait_for_deliveries()
    updated = receiver.of_type("account.updated")
    assert len(updated) == 1 and updated[0].account == account.id
    assert [p for p, _, body in receiver.raw if '"account.updated"' in body] == ["/connect"]
    # an onboarded Express account may open its dashboard
    assert client.v1.accounts.login_links.create(account.id).url


def test_the_helper_leaves_the_account_as_the_hosted_form_does(client, browser):
    by_form = express_account(client, email="dev@example.com")
    link = client.v1.account_links.create(params={"account": by_form.id, "type": "account_onboarding",
                                                  "refresh_url": "http://market.test/refresh",
                                                  "return_url": "http://market.test/return"})
    page = browser.get(link.url, timeout=10)
    submitted = browser.post(link.url, data={**form_fields(page.text), "tos": "on"}, allow_redirects=False,
                             timeout=10)
    assert submitted.status_code == 303
    by_helper = express_account(client, email="dev@example.com")
    complete_onboarding(client, by_helper.id)
    assert comparable(client.v1.accounts.retrieve(by_helper.id)) == \
        comparable(client.v1.accounts.retrieve(by_form.id))


def test_a_second_call_changes_nothing(client, hooks, receiver, sandbox):
    account = express_account(client)
    first = complete_onboarding(client, account.id)
    second = complete_onboarding(client, account.id)
    assert second.to_dict() == first.to_dict()
    sandbox.wait_for_deliveries()
    assert len(receiver.of_type("account.updated")) == 1


def test_the_helper_needs_a_secret_key(client, sandbox):
    account = express_account(client)
    path = f"/v1/test_helpers/accounts/{account.id}/complete_onboarding"
    assert requests.post(sandbox.url + path, timeout=10).status_code == 401
    refused = requests.post(sandbox.url + path, headers={"Authorization": "Bearer pk_test_abcdefghijkl"},
                            timeout=10)
    assert refused.status_code == 401
    assert not client.v1.accounts.retrieve(account.id).details_submitted
    allowed = requests.post(sandbox.url + path, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=10)
    assert allowed.status_code == 200 and allowed.json()["details_submitted"] is True


def test_an_unknown_account_or_parameter_is_stripes_error(client):
    with pytest.raises(stripe.InvalidRequestError) as missing:
        complete_onboarding(client, "acct_doesnotexist")
    assert missing.value.http_status == 404 and missing.value.code == "resource_missing"
    account = express_account(client)
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        complete_onboarding(client, account.id, colour="blue")
    assert unknown.value.http_status == 400 and unknown.value.param == "colour"
    assert not client.v1.accounts.retrieve(account.id).details_submitted
