"""The OpenAPI 3.1 description of /api/v1, served at /api/v1/openapi.json: the truth about the
API. The server validates a new customer with the same patterns and lengths as the schema says,
and every status an operation can answer is listed (tests/api/test_schemathesis.py holds the
server to it with schemathesis).

Kept as a dict beside the code it describes; tests/api/test_api_properties.py throws generated
requests at every operation and checks each answer against it.
"""

from market.core.scopes import SCOPES


def _ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema):
    return {"content": {"application/json": {"schema": schema}}}


_HEADER_TEXT = {"type": "string"}
_ERROR_HEADERS = {
    "401": {"WWW-Authenticate": {
        "description": 'RFC 6750: `Bearer realm="api"` when no token was sent, with `error="invalid_token"` '
                       "when the token sent is not valid", "required": True, "schema": _HEADER_TEXT}},
    "429": {"Retry-After": {"description": "Seconds to wait before the next request", "required": True,
                            "schema": {"type": "integer", "minimum": 1}}},
}


def _error(status, description):
    response = {"description": description, **_json(_ref("Error"))}
    if status in _ERROR_HEADERS:
        response["headers"] = _ERROR_HEADERS[status]
    return response


_ERROR_TEXT = {
    "400": "Bad input (parameters or body)",
    "401": "Missing, invalid, expired or revoked access token, or the retired static-token headers",
    "403": "The token lacks the scope (`insufficient_scope`, in `WWW-Authenticate`), or the company's "
           "entitlement to the app has ended",
    "404": "No such resource for this company",
    "413": "Body too large",
    "415": "Body is not application/json",
    "429": "More than 25 requests in 5 seconds for this client and company; wait `Retry-After` seconds",
    "503": "The market is busy (for example two customers created at once took the same number); retry",
}
# Every operation may answer these.
_ALWAYS = ("401", "403", "429", "503")


def _errors(*statuses):
    return {status: _error(status, _ERROR_TEXT[status]) for status in sorted(set(statuses) | set(_ALWAYS))}


# What the server checks a new customer against (market/api/resources.py uses these very
# patterns): no control characters anywhere; a name with something besides spaces; an email
# address and a Swedish organisation number of the usual shapes, or empty.
NO_CONTROL = r"^[^\u0000-\u001f\u007f]*$"
NAME = r"^[^\u0000-\u001f\u007f]*[^\u0000-\u0020\u007f][^\u0000-\u001f\u007f]*$"
EMAIL = r"^([^@\u0000-\u0020\u007f]+@[^@\u0000-\u0020\u007f]+\.[^@\u0000-\u0020\u007f]+)?$"
ORG_NUMBER = r"^([0-9]{6}-?[0-9]{4}|[0-9]{8}-?[0-9]{4})?$"

_string = {"type": "string"}
# A customer or document number: short and printable (a longer one cannot exist).
_number = {"type": "string", "minLength": 1, "maxLength": 20, "pattern": NO_CONTROL}
_paging_params = [
    {"name": "page", "in": "query", "required": False,
     "schema": {"type": "integer", "minimum": 1, "maximum": 1000000, "default": 1}},
    {"name": "limit", "in": "query", "required": False,
     "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 100}},
]

SPEC = {
    "openapi": "3.1.0",
    "info": {
        "title": "App Market platform API",
        "version": "1.0.0",
        "description": "The company data an app may read once a company admin has consented through "
                       "the OAuth2 Authorization Code flow (/oauth-v1/auth). Access tokens expire after "
                       "an hour; refresh them at /oauth-v1/token. At most 25 requests per 5 seconds per "
                       "client and company. Money is in öre (integers). Error messages (ErrorInformation.message) "
                       "are in English, as the platform's API documentation is, whatever the request's "
                       "Accept-Language; ErrorInformation.code is the stable value to act on.",
    },
    "servers": [{"url": "/api/v1"}],
    "security": [{"oauth2": []}],
    "paths": {
        "/me": {"get": {
            "operationId": "me", "summary": "The company and app behind the token, and its scopes",
            "responses": {"200": {"description": "Who the token speaks for", **_json(_ref("Me"))},
                          **_errors()}}},
        "/companyinformation": {"get": {
            "operationId": "companyInformation", "summary": "The company's name, org number, industry, size",
            "security": [{"oauth2": ["companyinformation"]}],
            "responses": {"200": {"description": "Company information", **_json(_ref("CompanyInformation"))},
                          **_errors()}}},
        "/subscription": {"get": {
            "operationId": "subscription",
            "summary": "The company's plan and status for this app, and whether it may use it",
            "responses": {"200": {"description": "Subscription", **_json(_ref("SubscriptionEnvelope"))},
                          **_errors()}}},
        "/customers": {
            "get": {
                "operationId": "listCustomers", "summary": "The company's customers, paged",
                "security": [{"oauth2": ["customer"]}],
                "parameters": _paging_params,
                "responses": {"200": {"description": "A page of customers", **_json(_ref("CustomerList"))},
                              **_errors("400")}},
            "post": {
                "operationId": "createCustomer", "summary": "Create a customer",
                "security": [{"oauth2": ["customer"]}],
                "requestBody": {"required": True, **_json(_ref("NewCustomer"))},
                "responses": {"201": {"description": "Created", **_json(_ref("CustomerEnvelope"))},
                              **_errors("400", "413", "415")}},
        },
        "/customers/{CustomerNumber}": {"get": {
            "operationId": "getCustomer", "summary": "One customer",
            "security": [{"oauth2": ["customer"]}],
            "parameters": [{"name": "CustomerNumber", "in": "path", "required": True, "schema": _number}],
            "responses": {"200": {"description": "The customer", **_json(_ref("CustomerEnvelope"))},
                          **_errors("404")}}},
        "/invoices": {"get": {
            "operationId": "listInvoices", "summary": "The company's invoices, paged",
            "security": [{"oauth2": ["invoice"]}],
            "parameters": _paging_params,
            "responses": {"200": {"description": "A page of invoices", **_json(_ref("InvoiceList"))},
                          **_errors("400")}}},
        "/invoices/{DocumentNumber}": {"get": {
            "operationId": "getInvoice", "summary": "One invoice",
            "security": [{"oauth2": ["invoice"]}],
            "parameters": [{"name": "DocumentNumber", "in": "path", "required": True, "schema": _number}],
            "responses": {"200": {"description": "The invoice", **_json(_ref("InvoiceEnvelope"))},
                          **_errors("404")}}},
    },
    "components": {
        "securitySchemes": {"oauth2": {"type": "oauth2", "flows": {"authorizationCode": {
            "authorizationUrl": "/oauth-v1/auth", "tokenUrl": "/oauth-v1/token", "refreshUrl": "/oauth-v1/token",
            "scopes": dict(SCOPES)}}}},
        "schemas": {
            "Error": {"type": "object", "required": ["ErrorInformation"], "properties": {
                "ErrorInformation": {"type": "object", "required": ["error", "message", "code"], "properties": {
                    "error": {"type": "integer"}, "message": _string, "code": {"type": "integer"}}}}},
            "Meta": {"type": "object", "required": ["@TotalResources", "@TotalPages", "@CurrentPage"],
                     "properties": {"@TotalResources": {"type": "integer"}, "@TotalPages": {"type": "integer"},
                                    "@CurrentPage": {"type": "integer"}}},
            "Me": {"type": "object", "required": ["Me"], "properties": {"Me": {
                "type": "object", "required": ["Company", "App", "Scopes"], "properties": {
                    "Company": {"type": "object", "required": ["Id", "Name"],
                                "properties": {"Id": _string, "Name": _string}},
                    "App": {"type": "object", "required": ["Slug", "Name"],
                            "properties": {"Slug": _string, "Name": _string}},
                    "Scopes": {"type": "array", "items": _string}}}}},
            "CompanyInformation": {"type": "object", "required": ["CompanyInformation"], "properties": {
                "CompanyInformation": {"type": "object",
                                       "required": ["Id", "CompanyName", "OrganizationNumber", "Industry", "Size"],
                                       "properties": {"Id": _string, "CompanyName": _string,
                                                      "OrganizationNumber": _string, "Industry": _string,
                                                      "Size": _string}}}},
            "SubscriptionEnvelope": {"type": "object", "required": ["Subscription"], "properties": {
                "Subscription": {"type": "object",
                                 "required": ["App", "Status", "Entitled", "Reason", "Plan", "CurrentPeriodEnd",
                                              "TrialEnd", "CancelAtPeriodEnd"],
                                 "properties": {
                                     "App": _string,
                                     "Status": {"type": "string", "enum": [
                                         "free", "none", "trialing", "active", "past_due"]},
                                     "Entitled": {"type": "boolean"},
                                     "Reason": _string,
                                     "Plan": {"type": ["object", "null"], "properties": {
                                         "Name": _string, "PriceOre": {"type": "integer"}, "Currency": _string}},
                                     "CurrentPeriodEnd": {"type": ["string", "null"]},
                                     "TrialEnd": {"type": ["string", "null"]},
                                     "CancelAtPeriodEnd": {"type": "boolean"}}}}},
            "Customer": {"type": "object",
                         "required": ["CustomerNumber", "Name", "Email", "OrganisationNumber", "City", "@url"],
                         "properties": {"CustomerNumber": _string, "Name": _string, "Email": _string,
                                        "OrganisationNumber": _string, "City": _string, "@url": _string}},
            "CustomerEnvelope": {"type": "object", "required": ["Customer"],
                                 "properties": {"Customer": _ref("Customer")}},
            "CustomerList": {"type": "object", "required": ["Customers", "MetaInformation"], "properties": {
                "Customers": {"type": "array", "items": _ref("Customer")}, "MetaInformation": _ref("Meta")}},
            "NewCustomer": {"type": "object", "required": ["Customer"], "additionalProperties": False,
                            "properties": {"Customer": {
                                "type": "object", "required": ["Name"], "additionalProperties": False,
                                "properties": {
                                    "Name": {"type": "string", "minLength": 1, "maxLength": 120,
                                             "pattern": NAME},
                                    "Email": {"type": "string", "maxLength": 254, "pattern": EMAIL},
                                    "OrganisationNumber": {"type": "string", "maxLength": 16,
                                                           "pattern": ORG_NUMBER},
                                    "City": {"type": "string", "maxLength": 60, "pattern": NO_CONTROL}}}}},
            "Invoice": {"type": "object",
                        "required": ["DocumentNumber", "CustomerNumber", "CustomerName", "InvoiceDate", "DueDate",
                                     "TotalOre", "Total", "Currency", "Booked", "@url"],
                        "properties": {"DocumentNumber": _string, "CustomerNumber": _string,
                                       "CustomerName": _string, "InvoiceDate": _string, "DueDate": _string,
                                       "TotalOre": {"type": "integer"}, "Total": _string, "Currency": _string,
                                       "Booked": {"type": "boolean"}, "@url": _string}},
            "InvoiceEnvelope": {"type": "object", "required": ["Invoice"],
                                "properties": {"Invoice": _ref("Invoice")}},
            "InvoiceList": {"type": "object", "required": ["Invoices", "MetaInformation"], "properties": {
                "Invoices": {"type": "array", "items": _ref("Invoice")}, "MetaInformation": _ref("Meta")}},
        },
    },
}
