"""The platform API (DESIGN.md §6, QUALITY.md 13): tokens, scopes, tenant isolation, errors."""
import datetime
import json

import pytest

from models import CompanyCustomer, Connection, OAuthToken, Subscription, utcnow
from tests import factories

ENDPOINTS = ["/api/v1/me", "/api/v1/companyinformation", "/api/v1/subscription", "/api/v1/customers",
             "/api/v1/invoices"]


@pytest.fixture
def tenants(app):
    """Two companies using the same app, each with its own customers and invoices."""
    with app.app_context():
        listing = factories.app_listing(slug="ledger-sync", name="Ledger Sync")
        a = factories.company(name="Alfa Bygg AB")
        b = factories.company(name="Beta Vård AB")
        conn_a = factories.api_connection(a, listing)
        conn_b = factories.api_connection(b, listing)
        cust_a = factories.company_customer(a, customer_number="1", name="Alfas kund")
        cust_b = factories.company_customer(b, customer_number="2", name="Betas kund")
        factories.company_invoice(a, cust_a, document_number="100", total_ore=19900)
        factories.company_invoice(b, cust_b, document_number="200", total_ore=50)
        return {"app": listing, "a": a, "b": b, "conn_a": conn_a, "conn_b": conn_b,
                "token_a": factories.issue_token(conn_a), "token_b": factories.issue_token(conn_b)}


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def error_of(response):
    body = response.get_json()
    assert set(body) == {"ErrorInformation"}, body
    info = body["ErrorInformation"]
    assert info["error"] == 1 and isinstance(info["code"], int) and info["message"]
    return info


def test_me_names_company_app_and_scopes(client, tenants):
    response = client.get("/api/v1/me", headers=bearer(tenants["token_a"]))
    assert response.status_code == 200
    me = response.get_json()["Me"]
    assert me["Company"] == {"Id": tenants["a"].public_id, "Name": "Alfa Bygg AB"}
    assert me["App"] == {"Slug": "ledger-sync", "Name": "Ledger Sync"}
    assert me["Scopes"] == ["companyinformation", "customer", "invoice"]


def test_company_information(client, tenants):
    info = client.get("/api/v1/companyinformation", headers=bearer(tenants["token_b"])).get_json()
    company = tenants["b"]
    assert info["CompanyInformation"] == {"Id": company.public_id, "CompanyName": "Beta Vård AB",
                                          "OrganizationNumber": company.org_number,
                                          "Industry": company.industry, "Size": company.size}


def test_a_token_of_company_a_never_reads_company_b(client, tenants):
    """Tenant isolation across every endpoint (QUALITY.md 13)."""
    headers = bearer(tenants["token_a"])
    bodies = {url: client.get(url, headers=headers).get_data(as_text=True) for url in ENDPOINTS}
    everything = "".join(bodies.values())
    assert "Alfas kund" in bodies["/api/v1/customers"] and '"100"' in bodies["/api/v1/invoices"]
    for secret in ("Beta Vård", "Betas kund", tenants["b"].public_id, tenants["b"].org_number):
        assert secret not in everything
    # B's objects by number are not found through A's token, and A's are.
    assert client.get("/api/v1/customers/2", headers=headers).status_code == 404
    assert client.get("/api/v1/invoices/200", headers=headers).status_code == 404
    assert client.get("/api/v1/customers/1", headers=headers).get_json()["Customer"]["Name"] == "Alfas kund"
    invoice = client.get("/api/v1/invoices/100", headers=headers).get_json()["Invoice"]
    assert invoice["TotalOre"] == 19900 and invoice["Total"] == "199.00" and invoice["CustomerNumber"] == "1"
    # A customer created through A's token belongs to A only.
    created = client.post("/api/v1/customers", json={"Customer": {"Name": "Ny kund"}}, headers=headers)
    assert created.status_code == 201
    number = created.get_json()["Customer"]["CustomerNumber"]
    row = CompanyCustomer.get(CompanyCustomer.customer_number == number, CompanyCustomer.name == "Ny kund")
    assert row.company_id == tenants["a"].id
    names_b = client.get("/api/v1/customers", headers=bearer(tenants["token_b"])).get_data(as_text=True)
    assert "Ny kund" not in names_b and "Alfas kund" not in names_b


SCOPED = [("/api/v1/companyinformation", "companyinformation"), ("/api/v1/customers", "customer"),
          ("/api/v1/customers/1", "customer"), ("/api/v1/invoices", "invoice"), ("/api/v1/invoices/100", "invoice")]


def test_missing_scope_is_403(client, tenants):
    for url, scope in SCOPED:
        scopes = " ".join(s for s in ("companyinformation", "customer", "invoice") if s != scope)
        token = factories.issue_token(tenants["conn_a"], scope=scopes)
        response = client.get(url, headers=bearer(token))
        assert response.status_code == 403, url
        assert scope in error_of(response)["message"]
        assert client.get(url, headers=bearer(tenants["token_a"])).status_code == 200, url


def test_create_customer_needs_customer_scope(client, tenants):
    token = factories.issue_token(tenants["conn_a"], scope="companyinformation")
    response = client.post("/api/v1/customers", json={"Customer": {"Name": "X"}}, headers=bearer(token))
    assert response.status_code == 403
    assert not CompanyCustomer.select().where(CompanyCustomer.name == "X").exists()


def test_missing_or_unknown_token_is_401(client, tenants):
    for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Basic dXNlcjpwdw=="},
                    {"Authorization": "Bearer not-a-token"}, {"Authorization": "Bearer " + "x" * 2000}):
        response = client.get("/api/v1/me", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        error_of(response)


def test_expired_revoked_and_withdrawn_tokens_are_401(client, tenants):
    expired = factories.issue_token(tenants["conn_a"], ttl=-1)
    assert client.get("/api/v1/me", headers=bearer(expired)).status_code == 401
    revoked = factories.issue_token(tenants["conn_a"])
    OAuthToken.update(revoked_at=utcnow()).where(OAuthToken.scope != "x", OAuthToken.revoked_at.is_null(),
                                                 OAuthToken.connection == tenants["conn_a"]).execute()
    assert client.get("/api/v1/me", headers=bearer(revoked)).status_code == 401
    assert client.get("/api/v1/me", headers=bearer(tenants["token_b"])).status_code == 200
    Connection.update(revoked_at=utcnow()).where(Connection.id == tenants["conn_b"].id).execute()
    assert client.get("/api/v1/me", headers=bearer(tenants["token_b"])).status_code == 401


def test_retired_static_token_headers_get_the_retirement_message(client, tenants):
    response = client.get("/api/v1/companyinformation",
                          headers={"Access-Token": "0b1a6c3e-old", "Client-Secret": "s3cret"})
    assert response.status_code == 401
    message = error_of(response)["message"]
    assert "2021-12-09" in message and "retired" in message and "/oauth-v1/auth" in message
    assert "Authorization Code" in message
    assert "Bearer" in response.headers["WWW-Authenticate"]


def test_lapsed_entitlement_is_403_with_the_reason(client, app, tenants):
    paid = factories.app_listing(price_ore=19900, slug="paid-app")
    company = tenants["a"]
    conn = factories.api_connection(company, paid, scopes="customer")
    token = factories.issue_token(conn)
    response = client.get("/api/v1/customers", headers=bearer(token))
    assert response.status_code == 403
    assert "no active subscription" in error_of(response)["message"]
    sub = Subscription.create(company=company, app=paid, plan=paid.plans[0], status="active", price_ore=19900)
    assert client.get("/api/v1/customers", headers=bearer(token)).status_code == 200
    # Past due beyond the grace period: time alone ends it.
    Subscription.update(status="past_due", past_due_since=utcnow() - datetime.timedelta(days=8)).where(
        Subscription.id == sub.id).execute()
    response = client.get("/api/v1/customers", headers=bearer(token))
    assert response.status_code == 403 and "grace period" in error_of(response)["message"]
    # The subscription endpoint still answers, so the app can tell its user why.
    state = client.get("/api/v1/subscription", headers=bearer(token)).get_json()["Subscription"]
    assert state["Entitled"] is False and state["Status"] == "past_due" and "grace" in state["Reason"]
    assert state["Plan"] == {"Name": "Standard", "PriceOre": 19900, "Currency": "SEK"}


def test_subscription_of_a_free_app(client, tenants):
    state = client.get("/api/v1/subscription", headers=bearer(tenants["token_a"])).get_json()["Subscription"]
    assert state["Entitled"] is True and state["Status"] == "free" and state["App"] == "ledger-sync"


def test_paging(client, tenants):
    for i in range(5):
        factories.company_customer(tenants["a"], customer_number=str(10 + i), name=f"Paged {i}")
    headers = bearer(tenants["token_a"])
    page = client.get("/api/v1/customers?limit=2&page=2", headers=headers).get_json()
    assert page["MetaInformation"] == {"@TotalResources": 6, "@TotalPages": 3, "@CurrentPage": 2}
    assert [c["Name"] for c in page["Customers"]] == ["Paged 1", "Paged 2"]
    beyond = client.get("/api/v1/customers?limit=2&page=9", headers=headers).get_json()
    assert beyond["Customers"] == []


def test_bad_paging_is_400(client, tenants):
    for query in ("limit=101", "limit=0", "limit=-1", "limit=abc", "page=0", "page=1.5",
                  "limit=99999999999999999999", "page=%00", "limit=1000000"):
        for url in ("/api/v1/customers", "/api/v1/invoices"):
            response = client.get(f"{url}?{query}", headers=bearer(tenants["token_a"]))
            assert response.status_code == 400, (url, query)
            error_of(response)


BAD_BODIES = [
    (b'{"Customer": {"Name": "A"', "application/json", 400),
    (b'[]', "application/json", 400),
    (b'{"Customer": "A"}', "application/json", 400),
    (b'{"Customer": {"Name": ""}}', "application/json", 400),
    (b'{"Customer": {"Name": 5}}', "application/json", 400),
    (b'{"Customer": {"Name": "A", "CustomerNumber": "1"}}', "application/json", 400),
    (b'{"Customer": {"Name": "A", "Email": "not-an-email"}}', "application/json", 400),
    (b'{"Customer": {"Name": "A", "OrganisationNumber": "abc"}}', "application/json", 400),
    (b'{"Customer": {"Name": "A"}, "Extra": 1}', "application/json", 400),
    (b'{"Customer": {"Name": "' + b"x" * 121 + b'"}}', "application/json", 400),
    (b'{"Customer": {"Name": "A\\u0000"}}', "application/json", 400),
    (b'\xff\xfe', "application/json", 400),
    (b'[' * 100000 + b']' * 100000, "application/json", 413),
    (b'{"Customer": {"Name": "A"}}', "text/plain", 415),
    (b'Name=A', "application/x-www-form-urlencoded", 415),
]


def test_bad_customer_bodies_are_refused_and_change_nothing(client, tenants):
    before = CompanyCustomer.select().count()
    for body, content_type, status in BAD_BODIES:
        response = client.post("/api/v1/customers", data=body, content_type=content_type,
                               headers=bearer(tenants["token_a"]))
        assert response.status_code == status, body[:80]
        error_of(response)
    assert CompanyCustomer.select().count() == before


def test_deeply_nested_json_is_400_not_500(client, tenants):
    body = b"[" * 20000 + b"]" * 20000
    response = client.post("/api/v1/customers", data=body, content_type="application/json",
                           headers=bearer(tenants["token_a"]))
    assert response.status_code == 400
    error_of(response)


def test_create_customer_numbers_after_the_highest(client, tenants):
    response = client.post("/api/v1/customers", headers=bearer(tenants["token_a"]), json={"Customer": {
        "Name": "Åkesson & Öberg AB", "Email": "info@akesson.se", "OrganisationNumber": "556677-8899",
        "City": "Malmö"}})
    assert response.status_code == 201
    assert response.get_json()["Customer"] == {
        "CustomerNumber": "2", "Name": "Åkesson & Öberg AB", "Email": "info@akesson.se",
        "OrganisationNumber": "556677-8899", "City": "Malmö", "@url": "/api/v1/customers/2"}


def test_unknown_paths_and_methods_answer_in_json(client, tenants):
    headers = bearer(tenants["token_a"])
    missing = client.get("/api/v1/nothing-here", headers=headers)
    assert missing.status_code == 404 and error_of(missing)
    wrong = client.delete("/api/v1/me", headers=headers)
    assert wrong.status_code == 405 and "GET" in wrong.headers["Allow"]
    error_of(wrong)
    put = client.put("/api/v1/customers/1", headers=headers, json={})
    assert put.status_code == 405


def test_a_call_marks_the_connection_used_at_most_once_an_hour(client, tenants, time_machine):
    time_machine.move_to(datetime.datetime(2026, 3, 1, 12, 0), tick=False)
    token = factories.issue_token(tenants["conn_a"], ttl=10 * 3600)
    headers = bearer(token)
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    first = Connection.get_by_id(tenants["conn_a"].id).last_used_at
    assert first == datetime.datetime(2026, 3, 1, 12, 0)
    time_machine.move_to(datetime.datetime(2026, 3, 1, 12, 59), tick=False)
    client.get("/api/v1/me", headers=headers)
    assert Connection.get_by_id(tenants["conn_a"].id).last_used_at == first
    time_machine.move_to(datetime.datetime(2026, 3, 1, 13, 1), tick=False)
    client.get("/api/v1/me", headers=headers)
    assert Connection.get_by_id(tenants["conn_a"].id).last_used_at == datetime.datetime(2026, 3, 1, 13, 1)
    # A refused call (missing scope) is not a use.
    time_machine.move_to(datetime.datetime(2026, 3, 1, 15, 0), tick=False)
    no_scope = factories.issue_token(tenants["conn_a"], scope="customer")
    assert client.get("/api/v1/invoices", headers=bearer(no_scope)).status_code == 403
    assert Connection.get_by_id(tenants["conn_a"].id).last_used_at == datetime.datetime(2026, 3, 1, 13, 1)


def test_the_openapi_description_is_served(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = json.loads(response.get_data())
    assert spec["openapi"].startswith("3.")
    assert {"/me", "/companyinformation", "/subscription", "/customers", "/customers/{CustomerNumber}",
            "/invoices", "/invoices/{DocumentNumber}"} <= set(spec["paths"])


def test_api_routes_are_on_the_csrf_exempt_list(app):
    exempt = set(app.config["CSRF_EXEMPT"])
    assert {"views.api.create_customer", "views.api.me"} <= exempt
    assert not any(name.startswith("views.activation") for name in exempt)


def test_impossible_numbers_are_404_on_every_database(client, tenants):
    # PostgreSQL refuses NUL bytes in a query: such a number must be "not found", never a 500.
    for number in ("%00", "a%00b", "x" * 21, "%0A"):
        for url in (f"/api/v1/customers/{number}", f"/api/v1/invoices/{number}"):
            response = client.get(url, headers=bearer(tenants["token_a"]))
            assert response.status_code == 404, url
            error_of(response)
