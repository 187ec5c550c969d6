"""HTTP as RFC 9110 says (issue S 1): every 405 names what the path takes in `Allow`, OPTIONS
says what a path really takes, TRACE and CONNECT are refused the same way, and the error's
form fits who asks: JSON (the API's ErrorInformation) under /api/, HTML for the pages. And the
OpenAPI document's NewCustomer schema and the server agree (issue S 2)."""
import re

import pytest

from market.api.openapi import SPEC
from market.core.scopes import SCOPES
from models import CompanyCustomer
from tests import factories

API_PATHS = {"/api/v1/me": {"GET"}, "/api/v1/companyinformation": {"GET"}, "/api/v1/subscription": {"GET"},
             "/api/v1/customers": {"GET", "POST"}, "/api/v1/customers/1": {"GET"},
             "/api/v1/invoices": {"GET"}, "/api/v1/invoices/1": {"GET"}}


@pytest.fixture
def token(app):
    listing = factories.app_listing(slug="http-app")
    company = factories.company(name="Http AB")
    connection = factories.api_connection(company, listing)
    factories.company_customer(company, customer_number="1")
    return factories.issue_token(connection)


def allowed(response):
    return {method.strip() for method in response.headers["Allow"].split(",")}


def api_error(response):
    assert response.mimetype == "application/json", response.get_data(as_text=True)[:200]
    info = response.get_json()["ErrorInformation"]
    assert info["error"] == 1 and isinstance(info["code"], int) and info["message"]
    return info


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "PUT", "PATCH", "DELETE"])
def test_every_api_405_carries_allow_and_json(client, token, method):
    for path, methods in API_PATHS.items():
        if method in methods:
            continue
        response = client.open(path, method=method, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 405, (path, method, response.status_code)
        assert allowed(response) >= methods and method not in allowed(response), (path, response.headers)
        assert api_error(response)["code"] == 2000405


@pytest.mark.parametrize("path", sorted(API_PATHS))
def test_options_says_what_an_api_path_really_takes(client, path):
    response = client.options(path)
    assert response.status_code == 200
    assert allowed(response) == API_PATHS[path] | {"HEAD", "OPTIONS"}
    for method in {"POST", "PUT", "PATCH", "DELETE"} - API_PATHS[path]:
        assert client.open(path, method=method).status_code == 405


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "DELETE"])
@pytest.mark.parametrize("path", ["/", "/apps", "/login", "/oauth-v1/auth"])
def test_page_405s_carry_allow_and_html(client, path, method):
    response = client.open(path, method=method)
    assert response.status_code == 405
    assert "GET" in allowed(response) and method not in allowed(response)
    assert response.mimetype == "text/html"


def test_get_on_the_token_endpoint_names_post(client):
    response = client.get("/oauth-v1/token")
    assert response.status_code == 405 and allowed(response) == {"POST", "OPTIONS"}
    assert client.options("/oauth-v1/token").headers["Allow"] == response.headers["Allow"]


def test_errors_under_api_are_json_on_every_route_and_pages_are_html(client, token):
    for path in ("/api/v1/nothing-here", "/api/v1/", "/api/v2/me", "/api/nothing"):
        response = client.get(path, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 404 and api_error(response)["code"] == 2000404, path
    missing = client.post("/api/v1/nothing-here", json={})
    assert missing.status_code == 404 and api_error(missing)
    page = client.get("/no-such-page")
    assert page.status_code == 404 and page.mimetype == "text/html"


# --- NewCustomer: the schema and the server say the same ----------------------------------

def post_customer(client, token, fields):
    return client.post("/api/v1/customers", json={"Customer": fields}, headers={"Authorization": f"Bearer {token}"})


@pytest.mark.parametrize("fields", [
    {"Name": " "},  # the schema's minLength 1 is met, but a name needs more than spaces
    {"Name": None}, {"Name": "Ok", "Email": None}, {"Name": "Ok", "City": None},
    {"Name": "Ok", "OrganisationNumber": None},
    {"Name": "Tab\there"}, {"Name": "Ok", "City": "Line\nbreak"}, {"Name": "Ok", "Email": "a@b.se\x7f"},
    {"Name": "Ok", "Email": "not-an-address"}, {"Name": "Ok", "OrganisationNumber": "556677-889"},
    {"Name": "x" * 121}, {"Name": "Ok", "City": "x" * 61},
])
def test_the_server_refuses_what_the_schema_refuses(client, token, fields):
    schema = SPEC["components"]["schemas"]["NewCustomer"]["properties"]["Customer"]["properties"]
    refused_by_schema = any(
        not isinstance(value, str) or len(value) < schema[name].get("minLength", 0)
        or len(value) > schema[name]["maxLength"] or not re.fullmatch(schema[name]["pattern"], value)
        for name, value in fields.items())
    assert refused_by_schema, fields
    response = post_customer(client, token, fields)
    assert response.status_code == 400 and api_error(response)["code"] == 2000400
    assert CompanyCustomer.select().count() == 1


@pytest.mark.parametrize("fields", [
    {"Name": "0"}, {"Name": " Spaced "}, {"Name": "Ok", "Email": ""}, {"Name": "Ok", "OrganisationNumber": ""},
    {"Name": "Ok", "Email": "first.last+tag@example.co.uk"}, {"Name": "Ok", "OrganisationNumber": "5566778899"},
    {"Name": "Ok", "OrganisationNumber": "19556677-8899"}, {"Name": "Ok", "City": "Malmö"},
    {"Name": "\u00a0Ärlig", "City": ""}, {"Name": "x" * 120},
])
def test_the_server_accepts_what_the_schema_allows(client, token, fields):
    response = post_customer(client, token, fields)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["Customer"]["Name"] == fields["Name"].strip(" ")


def test_every_operation_documents_401_403_429_and_503(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert "English" in spec["info"]["description"]
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            responses = operation["responses"]
            assert {"401", "403", "429", "503"} <= set(responses), (path, method)
            assert responses["429"]["headers"]["Retry-After"]["required"] is True
            assert "insufficient_scope" in responses["403"]["description"]
    assert spec["components"]["securitySchemes"]["oauth2"]["flows"]["authorizationCode"]["scopes"] == SCOPES
