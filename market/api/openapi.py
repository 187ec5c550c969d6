"""The OpenAPI 3.1 description of /api/v1, served at /api/v1/openapi.json.

Kept as a dict beside the code it describes; tests/api/test_api_properties.py throws generated
requests at every operation and checks each answer against it.
"""


def _ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema):
    return {"content": {"application/json": {"schema": schema}}}


def _error(description):
    return {"description": description, **_json(_ref("Error"))}


def _errors(*statuses):
    text = {
        "400": "Bad input (parameters or body)",
        "401": "Missing, invalid, expired or revoked access token, or the retired static-token headers",
        "403": "The token lacks the scope, or the company's entitlement to the app has ended",
        "404": "No such resource for this company",
        "413": "Body too large",
        "415": "Body is not application/json",
        "429": "More than 25 requests in 5 seconds for this client and company",
    }
    return {status: _error(text[status]) for status in statuses}


_string = {"type": "string"}
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
                       "client and company. Money is in öre (integers).",
    },
    "servers": [{"url": "/api/v1"}],
    "security": [{"oauth2": []}],
    "paths": {
        "/me": {"get": {
            "operationId": "me", "summary": "The company and app behind the token, and its scopes",
            "responses": {"200": {"description": "Who the token speaks for", **_json(_ref("Me"))},
                          **_errors("401", "403", "429")}}},
        "/companyinformation": {"get": {
            "operationId": "companyInformation", "summary": "The company's name, org number, industry, size",
            "security": [{"oauth2": ["companyinformation"]}],
            "responses": {"200": {"description": "Company information", **_json(_ref("CompanyInformation"))},
                          **_errors("401", "403", "429")}}},
        "/subscription": {"get": {
            "operationId": "subscription",
            "summary": "The company's plan and status for this app, and whether it may use it",
            "responses": {"200": {"description": "Subscription", **_json(_ref("SubscriptionEnvelope"))},
                          **_errors("401", "429")}}},
        "/customers": {
            "get": {
                "operationId": "listCustomers", "summary": "The company's customers, paged",
                "security": [{"oauth2": ["customer"]}],
                "parameters": _paging_params,
                "responses": {"200": {"description": "A page of customers", **_json(_ref("CustomerList"))},
                              **_errors("400", "401", "403", "429")}},
            "post": {
                "operationId": "createCustomer", "summary": "Create a customer",
                "security": [{"oauth2": ["customer"]}],
                "requestBody": {"required": True, **_json(_ref("NewCustomer"))},
                "responses": {"201": {"description": "Created", **_json(_ref("CustomerEnvelope"))},
                              **_errors("400", "401", "403", "413", "415", "429")}},
        },
        "/customers/{CustomerNumber}": {"get": {
            "operationId": "getCustomer", "summary": "One customer",
            "security": [{"oauth2": ["customer"]}],
            "parameters": [{"name": "CustomerNumber", "in": "path", "required": True, "schema": _string}],
            "responses": {"200": {"description": "The customer", **_json(_ref("CustomerEnvelope"))},
                          **_errors("401", "403", "404", "429")}}},
        "/invoices": {"get": {
            "operationId": "listInvoices", "summary": "The company's invoices, paged",
            "security": [{"oauth2": ["invoice"]}],
            "parameters": _paging_params,
            "responses": {"200": {"description": "A page of invoices", **_json(_ref("InvoiceList"))},
                          **_errors("400", "401", "403", "429")}}},
        "/invoices/{DocumentNumber}": {"get": {
            "operationId": "getInvoice", "summary": "One invoice",
            "security": [{"oauth2": ["invoice"]}],
            "parameters": [{"name": "DocumentNumber", "in": "path", "required": True, "schema": _string}],
            "responses": {"200": {"description": "The invoice", **_json(_ref("InvoiceEnvelope"))},
                          **_errors("401", "403", "404", "429")}}},
    },
    "components": {
        "securitySchemes": {"oauth2": {"type": "oauth2", "flows": {"authorizationCode": {
            "authorizationUrl": "/oauth-v1/auth", "tokenUrl": "/oauth-v1/token", "refreshUrl": "/oauth-v1/token",
            "scopes": {"companyinformation": "Read the company's information",
                       "customer": "Read and create the company's customers",
                       "invoice": "Read the company's invoices"}}}}},
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
                                    "Name": {"type": "string", "minLength": 1, "maxLength": 120},
                                    "Email": {"type": "string", "maxLength": 254},
                                    "OrganisationNumber": {"type": "string", "maxLength": 16},
                                    "City": {"type": "string", "maxLength": 60}}}}},
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
