"""Property-based: generated requests for every operation of /api/v1/openapi.json never get a
500 and never an answer the description does not promise (status, content type, body shape)."""
import json
from urllib.parse import quote, urlencode

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from market.api.openapi import SPEC
from tests import factories

MAX_EXAMPLES = 25


def resolve(schema):
    while "$ref" in schema:
        schema = SPEC["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


TYPES = {"string": str, "boolean": bool, "object": dict, "array": list, "null": type(None)}


def conforms(value, schema, where="$"):
    """The subset of JSON Schema the description uses; returns a list of problems."""
    schema = resolve(schema)
    kinds = schema.get("type")
    if kinds is not None:
        kinds = kinds if isinstance(kinds, list) else [kinds]
        ok = any((isinstance(value, int) and not isinstance(value, bool)) if k == "integer"
                 else isinstance(value, TYPES[k]) for k in kinds)
        if not ok:
            return [f"{where}: {value!r} is not {kinds}"]
    problems = []
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{where}: {value!r} not in {schema['enum']}")
    if isinstance(value, dict):
        for name in schema.get("required", []):
            if name not in value:
                problems.append(f"{where}: missing {name}")
        properties = schema.get("properties", {})
        for name, item in value.items():
            if name in properties:
                problems += conforms(item, properties[name], f"{where}.{name}")
            elif properties:
                problems.append(f"{where}: undescribed property {name}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            problems += conforms(item, schema["items"], f"{where}[{i}]")
    return problems


def operations():
    for path, methods in SPEC["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=8)
customer_fields = st.fixed_dictionaries({}, optional={
    "Name": st.text(max_size=130), "Email": st.emails() | st.text(max_size=20),
    "OrganisationNumber": st.from_regex(r"[0-9]{6}-[0-9]{4}", fullmatch=True) | st.text(max_size=20),
    "City": st.text(max_size=70), "CustomerNumber": st.text(max_size=5)})
bodies = st.one_of(
    st.fixed_dictionaries({"Customer": customer_fields}),
    json_values,
    st.binary(max_size=50),
)
query_values = st.one_of(st.integers(-3, 2_000_000).map(str), st.text(max_size=8))


def test_generated_requests_stay_within_the_description(app, client):
    from views.api import limiter

    listing = factories.app_listing(slug="property-app")
    company = factories.company(name="Property AB")
    connection = factories.api_connection(company, listing)
    customer = factories.company_customer(company, customer_number="7")
    factories.company_invoice(company, customer, document_number="70")
    tokens = {"valid": factories.issue_token(connection), "noscope": factories.issue_token(connection, scope=""),
              "expired": factories.issue_token(connection, ttl=-5), "garbage": "x" * 40, "none": None}
    seen = {}

    for path, method, operation in operations():
        check_operation(client, limiter, tokens, seen, path, method, operation)

    # The generator reached both the happy path and the refusals of every operation.
    assert len(seen) == len(list(operations()))
    for operation_id, statuses in seen.items():
        assert "401" in statuses and ({"200", "201"} & statuses), (operation_id, statuses)


def check_operation(client, limiter, tokens, seen, path, method, operation):
    parameters = {p["name"]: p for p in operation.get("parameters", [])}
    path_names = [name for name, p in parameters.items() if p["in"] == "path"]
    query_names = [name for name, p in parameters.items() if p["in"] == "query"]

    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(auth=st.sampled_from(["valid", "valid", *sorted(tokens)]),
           path_values=st.fixed_dictionaries({n: st.sampled_from(["7", "70"]) | st.text(min_size=1, max_size=12)
                                              for n in path_names}),
           query=st.fixed_dictionaries({}, optional={n: query_values for n in query_names}),
           body=bodies,
           content_type=st.sampled_from(["application/json", "application/json; charset=utf-8",
                                         "text/plain", "application/x-www-form-urlencoded"]))
    def exercise(auth, path_values, query, body, content_type):
        limiter.reset()  # a fresh budget per example: the rate limit has its own tests
        url = "/api/v1" + path
        for name, value in path_values.items():
            url = url.replace("{" + name + "}", quote(value, safe=""))
        if query:
            url += "?" + urlencode(query)
        headers = {"Authorization": f"Bearer {tokens[auth]}"} if tokens[auth] else {}
        kwargs = {}
        if method == "post":
            if isinstance(body, bytes):
                kwargs["data"] = body
            else:
                kwargs["data"] = json.dumps(body)
            kwargs["content_type"] = content_type
        response = getattr(client, method)(url, headers=headers, **kwargs)
        status = str(response.status_code)
        assert response.status_code != 500, (method, url, response.get_data(as_text=True))
        assert status in operation["responses"], (method, url, status, response.get_data(as_text=True))
        assert response.mimetype == "application/json", (method, url, status)
        schema = operation["responses"][status]["content"]["application/json"]["schema"]
        problems = conforms(response.get_json(), schema)
        assert not problems, (method, url, status, problems)
        seen.setdefault(operation["operationId"], set()).add(status)

    # Besides the generated ones, one call that must succeed and one without a token.
    known = {"CustomerNumber": "7", "DocumentNumber": "70"}
    for auth in ("valid", "none"):
        exercise = example(auth=auth, path_values={n: known[n] for n in path_names}, query={},
                           body={"Customer": {"Name": "Example AB"}}, content_type="application/json")(exercise)
    exercise()
