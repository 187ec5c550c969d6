"""Stripe's wire protocol as the pinned library speaks it: keys, form encoding, errors, paging,
expansion, metadata, Stripe-Account, idempotency."""

import threading

import pytest
import requests
import stripe

from stripe_sandbox.testing import API_KEY


def raw(sandbox, method, path, key=API_KEY, **kw):
    headers = kw.pop("headers", {})
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return requests.request(method, sandbox.url + path, headers=headers, timeout=10, **kw)


def test_keys_other_than_the_sandboxs_own_are_refused(sandbox):
    """Issue O 9: any sk_test_ key used to be accepted; only the keys it was started with are."""
    for key in ("sk_live_abcdefghijklmnop", "pk_test_abcdefghijkl", "nonsense", "sk_test_someone_elses_key"):
        bad = stripe.StripeClient(key, base_addresses=sandbox.base_addresses, max_network_retries=0)
        with pytest.raises(stripe.AuthenticationError):
            bad.v1.customers.list()
    resp = raw(sandbox, "GET", "/v1/customers", key=None)
    assert resp.status_code == 401 and resp.json()["error"]["type"] == "invalid_request_error"
    assert resp.json()["error"]["doc_url"].startswith("https://stripe.com/docs/")


def test_control_endpoints_need_the_sandboxs_key(sandbox):
    """Issue O 9: /_sandbox/reset, the clock, pay, onboard, ... answered anyone."""
    controls = [("POST", "/_sandbox/reset"), ("POST", "/_sandbox/advance"), ("GET", "/_sandbox/clock"),
                ("GET", "/_sandbox/requests"), ("GET", "/_sandbox/deliveries"), ("POST", "/_sandbox/drain"),
                ("POST", "/_sandbox/fail"), ("POST", "/_sandbox/delay"), ("GET", "/_sandbox/balance"),
                ("POST", "/_sandbox/accounts/acct_x/onboard"), ("POST", "/_sandbox/checkout/cs_x/pay"),
                ("POST", "/_sandbox/disputes/dp_x/lose"), ("POST", "/_sandbox/payment_methods/pm_x/behavior")]
    before = sandbox.now()
    for method, path in controls:
        for key in (None, "sk_test_someone_elses_key"):
            resp = raw(sandbox, method, path, key=key, data={"days": 30} if method == "POST" else None)
            assert resp.status_code in (401, 403), (path, key, resp.status_code)
            assert resp.json()["error"]["doc_url"]
    assert sandbox.now() - before < 60  # the clock did not move
    assert raw(sandbox, "GET", "/_sandbox/clock").status_code == 200  # with its key
    assert raw(sandbox, "GET", "/_sandbox/health", key=None).status_code == 200  # a liveness probe only


def test_a_sandbox_takes_only_the_keys_it_was_started_with():
    from stripe_sandbox.server import Sandbox
    from stripe_sandbox.testing import start_sandbox

    with pytest.raises(ValueError):
        Sandbox(api_keys=[])
    with start_sandbox(keys=["sk_test_first_key_1", "sk_test_second_key_2"]) as other:
        for key in ("sk_test_first_key_1", "sk_test_second_key_2"):
            assert stripe.StripeClient(key, base_addresses=other.base_addresses,
                                       max_network_retries=0).v1.customers.list().data == []
        with pytest.raises(stripe.AuthenticationError):
            stripe.StripeClient(API_KEY, base_addresses=other.base_addresses,
                                max_network_retries=0).v1.customers.list()


def test_errors_carry_doc_url_and_stripe_version_is_answered(sandbox):
    """Issue S 6: errors without doc_url, and Stripe-Version ignored."""
    missing = raw(sandbox, "GET", "/v1/customers/cus_nope")
    assert missing.status_code == 404
    assert missing.json()["error"]["doc_url"] == "https://stripe.com/docs/error-codes/resource-missing"
    asked = raw(sandbox, "GET", "/v1/customers", headers={"Stripe-Version": "2024-06-20"})
    assert asked.status_code == 200 and asked.headers["Stripe-Version"] == "2024-06-20"
    default = raw(sandbox, "GET", "/v1/customers")
    assert default.headers["Stripe-Version"] == "2026-10-28.endive"
    bad = raw(sandbox, "GET", "/v1/customers", headers={"Stripe-Version": "yesterday"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_api_version"
    assert bad.json()["error"]["doc_url"].endswith("/invalid-api-version")
    # The pinned library sends its version and gets it back.
    client = stripe.StripeClient(API_KEY, base_addresses=sandbox.base_addresses, max_network_retries=0)
    response = client.raw_request("get", "/v1/customers")
    assert response.headers["Stripe-Version"] == stripe.api_version


def test_global_configuration_works_too(sandbox, monkeypatch):
    for name in ("api_key", "api_base", "connect_api_base", "upload_api_base", "max_network_retries"):
        monkeypatch.setattr(stripe, name, getattr(stripe, name))
    sandbox.configure_global(stripe)
    stripe.max_network_retries = 0
    customer = stripe.Customer.create(email="global@example.com", metadata={"k": "v"})
    assert stripe.Customer.retrieve(customer.id).metadata.to_dict() == {"k": "v"}


def test_unknown_and_bad_parameters_are_400_never_500(client, sandbox):
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.customers.create(params={"emali": "x@example.com"})
    assert err.value.param == "emali" and err.value.code == "parameter_unknown"
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.prices.create(params={"currency": "sek", "unit_amount": "12,5", "product_data": {"name": "x"}})
    assert err.value.param == "unit_amount"
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.products.create(params={})
    assert err.value.code == "parameter_missing" and err.value.param == "name"
    for body in ("a[b=1", "a]=1", "metadata[x][y]=1&metadata[x]=2", "%ff%fe=1", "name=x&name[a]=y",
                 "line_items[0]=abc", "3=x&expand=1"):
        resp = raw(sandbox, "POST", "/v1/products", data=body,
                   headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert resp.status_code == 400, (body, resp.status_code, resp.text)
        assert resp.json()["error"]["type"] == "invalid_request_error"
    resp = raw(sandbox, "POST", "/v1/products", data='{"name": "x"}', headers={"Content-Type": "application/json"})
    assert resp.status_code == 400
    resp = raw(sandbox, "POST", "/v1/checkout/sessions", data="mode=subscription&line_items=x&success_url=y",
               headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status_code == 400
    resp = raw(sandbox, "GET", "/v1/nothing_here")
    assert resp.status_code == 404 and "error" in resp.json()


def test_missing_objects_are_404_invalid_request(client):
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.customers.retrieve("cus_doesnotexist")
    assert err.value.http_status == 404 and err.value.code == "resource_missing"


def test_card_error_and_permission_error(client, sandbox):
    customer = client.v1.customers.create(params={"email": "a@example.com"})
    with pytest.raises(stripe.CardError) as err:
        client.v1.payment_methods.attach("pm_card_visa_chargeDeclined", params={"customer": customer.id})
    assert err.value.code == "card_declined" and "declined" in err.value.user_message
    with pytest.raises(stripe.CardError) as err:
        client.v1.payment_methods.create(params={"type": "card", "card": {
            "number": "4242424242424241", "exp_month": 12, "exp_year": 2034, "cvc": "123"}})
    assert err.value.code == "incorrect_number"
    with pytest.raises(stripe.PermissionError):
        client.v1.customers.list(options={"stripe_account": "acct_nobodyhere12345"})


def test_list_paging_with_limit_and_starting_after(client):
    made = [client.v1.customers.create(params={"email": f"c{i}@example.com"}).id for i in range(7)]
    first = client.v1.customers.list(params={"limit": 3})
    assert [c.id for c in first.data] == made[::-1][:3] and first.has_more
    second = client.v1.customers.list(params={"limit": 3, "starting_after": first.data[-1].id})
    assert [c.id for c in second.data] == made[::-1][3:6] and second.has_more
    assert [c.id for c in client.v1.customers.list(params={"limit": 2}).auto_paging_iter()] == made[::-1]
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.customers.list(params={"limit": 101})


def test_metadata_set_merge_and_clear(client):
    product = client.v1.products.create(params={"name": "P", "metadata": {"a": "1", "b": "2"}})
    product = client.v1.products.update(product.id, params={"metadata": {"b": "", "c": "3"}})
    assert product.metadata.to_dict() == {"a": "1", "c": "3"}


def test_expand_nested_and_in_lists(client, plan, developer, browser, sandbox):
    from .helpers import checkout, pay
    session = checkout(client, plan, developer)
    pay(browser, session.url)
    s = client.v1.checkout.sessions.retrieve(session.id, params={
        "expand": ["subscription.latest_invoice.payments", "customer", "line_items"]})
    assert s.customer.object == "customer"
    invoice = s.subscription.latest_invoice
    assert invoice.object == "invoice" and invoice.payments.data[0].payment.type == "payment_intent"
    assert s.line_items.data[0].amount_total == 24875
    listed = client.v1.subscriptions.list(params={"expand": ["data.customer"]})
    assert listed.data[0].customer.object == "customer"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.customers.retrieve(s.customer.id, params={"expand": ["nonsense"]})


def test_idempotency_replays_same_request(client, sandbox):
    a = client.v1.customers.create(params={"email": "x@example.com"}, options={"idempotency_key": "k1"})
    b = client.v1.customers.create(params={"email": "x@example.com"}, options={"idempotency_key": "k1"})
    assert a.id == b.id
    assert len(client.v1.customers.list().data) == 1
    with pytest.raises(stripe.IdempotencyError):
        client.v1.customers.create(params={"email": "y@example.com"}, options={"idempotency_key": "k1"})
    # the same key under another account (Stripe-Account) is another key
    log = sandbox.requests(path="/v1/customers", method="POST")
    assert [r["idempotency_key"] for r in log] == ["k1", "k1", "k1"]
    assert [r["replayed"] for r in log] == [False, True, False]
    assert [r["status"] for r in log] == [200, 200, 400]


def test_library_keys_are_recorded_too(client, sandbox):
    client.v1.products.create(params={"name": "auto key"})
    [entry] = sandbox.requests(path="/v1/products")
    assert entry["idempotency_key"] and entry["method"] == "POST"


def test_same_key_while_the_first_is_running_is_409(client, sandbox):
    import time

    sandbox.delay("/v1/customers", seconds=2)
    results = {}

    def first():
        results["first"] = client.v1.customers.create(params={"email": "slow@example.com"},
                                                      options={"idempotency_key": "race"})

    t = threading.Thread(target=first)
    t.start()
    # wait until the sandbox holds the first request (it sleeps in the delay hook)
    deadline = time.monotonic() + 5
    while not sandbox.requests(path="/v1/customers") and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.1)
    with pytest.raises(stripe.APIError) as err:
        client.v1.customers.create(params={"email": "slow@example.com"}, options={"idempotency_key": "race"})
    assert err.value.http_status == 409
    assert err.value.error.type == "idempotency_error"
    t.join()
    # once the first has finished, the key replays its answer
    again = client.v1.customers.create(params={"email": "slow@example.com"}, options={"idempotency_key": "race"})
    assert again.id == results["first"].id


def test_validation_errors_are_not_stored_under_the_key(client):
    # Stripe keeps no result for a request that failed validation, so the corrected one may reuse the key
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.products.create(params={}, options={"idempotency_key": "k2"})
    assert client.v1.products.create(params={"name": "ok"}, options={"idempotency_key": "k2"}).name == "ok"


def test_idempotency_keys_are_per_account_and_kept_24_hours(client, sandbox, developer):
    a = client.v1.customers.create(params={"email": "p@example.com"}, options={"idempotency_key": "same"})
    b = client.v1.customers.create(params={"email": "p@example.com"},
                                   options={"idempotency_key": "same", "stripe_account": developer.id})
    assert a.id != b.id
    # a connected account's objects are not the platform's
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.customers.retrieve(b.id)
    assert client.v1.customers.retrieve(b.id, options={"stripe_account": developer.id}).id == b.id
    sandbox.advance(hours=25)
    c = client.v1.customers.create(params={"email": "p@example.com"}, options={"idempotency_key": "same"})
    assert c.id != a.id


def test_concurrent_requests_are_each_one_atomic_step(client, sandbox):
    from concurrent.futures import ThreadPoolExecutor

    product = client.v1.products.create(params={"name": "P"})

    def work(i):
        client.v1.customers.create(params={"email": f"c{i}@example.com"})
        client.v1.products.update(product.id, params={"metadata": {f"k{i}": "v"}})
        return client.v1.customers.list(params={"limit": 1}).data[0].id

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(work, range(48)))
    assert len(results) == 48
    assert len(list(client.v1.customers.list(params={"limit": 100}).auto_paging_iter())) == 48
    assert len(client.v1.products.retrieve(product.id).metadata.to_dict()) == 48
    assert all(r["status"] == 200 for r in sandbox.requests())


def test_paging_backwards_and_from_a_deleted_cursor(client):
    made = [client.v1.customers.create(params={"email": f"d{i}@example.com"}).id for i in range(5)]
    newest_first = made[::-1]
    page = client.v1.customers.list(params={"limit": 2, "ending_before": newest_first[3]})
    assert [c.id for c in page.data] == newest_first[1:3] and page.has_more
    client.v1.customers.delete(newest_first[1])
    page = client.v1.customers.list(params={"limit": 10, "starting_after": newest_first[1]})
    assert [c.id for c in page.data] == newest_first[2:]
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.customers.list(params={"starting_after": "cus_unknown"})


def test_a_failed_request_leaves_nothing_behind(client, plan, developer, browser):
    from .helpers import checkout, pay

    with pytest.raises(stripe.InvalidRequestError):
        client.v1.products.create(params={"name": "Half", "default_price_data": {"currency": "sek"}})
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.customers.create(params={"email": "half@example.com", "bogus": "1"})
    assert [p.name for p in client.v1.products.list().data] == [plan["product"].name]
    assert client.v1.customers.list().data == []
    session = checkout(client, plan, developer)
    pay(browser, session.url)
    sub_id = client.v1.checkout.sessions.retrieve(session.id).subscription
    charge = client.v1.charges.list().data[0]
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.refunds.create(params={"charge": charge.id, "amount": 100, "nonsense": "x"})
    assert client.v1.charges.retrieve(charge.id).amount_refunded == 0
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.subscriptions.update(sub_id, params={"cancel_at_period_end": True,
                                                       "items": [{"id": "si_notthere", "price": plan["price"].id}]})
    assert client.v1.subscriptions.retrieve(sub_id).cancel_at_period_end is False
    created = [e.type for e in client.v1.events.list(params={"limit": 100}).data]
    assert "refund.created" not in created and "product.created" in created


def test_injected_outages_raise_rate_limit_and_api_errors(client, sandbox):
    sandbox.fail("/v1/customers", status=429)
    with pytest.raises(stripe.RateLimitError):
        client.v1.customers.create(params={"email": "r@example.com"})
    sandbox.fail("/v1/customers", status=503)
    with pytest.raises(stripe.APIError) as err:
        client.v1.customers.list()
    assert err.value.http_status == 503
    assert client.v1.customers.list().data == []
    # the library's own retries get through once the outage is over
    retrying = stripe.StripeClient(API_KEY, base_addresses=sandbox.base_addresses, max_network_retries=2)
    sandbox.fail("/v1/customers", status=500, count=1)
    assert retrying.v1.customers.create(params={"email": "r@example.com"}).email == "r@example.com"
    keys = [r["idempotency_key"] for r in sandbox.requests(path="/v1/customers", method="POST")]
    assert keys[-1] == keys[-2]  # the retry carried the same key
