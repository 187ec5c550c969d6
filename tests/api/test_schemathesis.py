"""Schemathesis (a third-party tool, unmodified) against the live API, run by its own engine as
its CLI runs it: every operation of /api/v1/openapi.json through its examples, coverage and
fuzzing phases (valid and invalid data, unsupported methods such as TRACE, missing auth) and all
of its checks (no 5xx; status codes, content types, headers and bodies as documented; invalid
data refused, valid data accepted; 405 with Allow). Bounded examples and a fixed seed keep the
run short and the same every time; with a real token and without credentials.

The rate limit is never raised or reset: each case with credentials gets its own grant (a new
company connected to the app, so its own client-and-company budget); cases without credentials
are refused before the limiter counts them.
"""
import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, from_schema

from market.api.openapi import SPEC
from tests import factories
from tests.oauth.test_oauth_support import LiveServer

OPERATIONS = sum(len(methods) for methods in SPEC["paths"].values())
SETTINGS = {"seed": 20261203, "generation": {"max-examples": 10},
            "phases": {"stateful": {"enabled": False}}}


@pytest.fixture
def live(app):
    server = LiveServer(app)
    yield server
    server.close()


def grant_per_case():
    """An auth provider for schemathesis: a fresh grant for every case, its own company (with a
    customer and an invoice numbered 1) connected to the one app, and a real access token with
    every scope."""
    listing = factories.app_listing(slug="schemathesis-app")

    class FreshGrant:
        def get(self, case, ctx):
            company = factories.company()
            connection = factories.api_connection(company, listing)
            customer = factories.company_customer(company, customer_number="1")
            factories.company_invoice(company, customer, document_number="1")
            return factories.issue_token(connection)

        def set(self, case, token, ctx):
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}

    return FreshGrant


def run_schemathesis(live, with_credentials):
    """Failures (one line each, with the curl to repeat it) and the statuses seen per operation."""
    schema = schemathesis.openapi.from_url(live.url + "/api/v1/openapi.json",
                                           config=SchemathesisConfig.from_dict(SETTINGS))
    schema.config.update(base_url=live.url + "/api/v1")
    if with_credentials:
        schema.auth(refresh_interval=None)(grant_per_case())
    failures, statuses = [], {}
    for event in from_schema(schema).execute():
        kind = type(event).__name__
        if kind in ("NonFatalError", "FatalError"):
            failures.append(f"{kind}: {getattr(event, 'value', None) or getattr(event, 'exception', None)}")
        if kind != "ScenarioFinished":
            continue
        if event.status == Status.ERROR:
            failures.append(f"{event.recorder.label}: error")
        for interaction in event.recorder.interactions.values():
            # The operation's own method only (the coverage phase also sends TRACE, OPTIONS...).
            if interaction.response is not None and event.recorder.label.startswith(
                    interaction.request.method + " "):
                statuses.setdefault(event.recorder.label, set()).add(interaction.response.status_code)
        for checks in event.recorder.checks.values():
            for check in checks:
                if check.status == Status.FAILURE:
                    failure = check.failure_info.failure
                    failures.append(f"{event.recorder.label} {check.name}: {failure.title}: {failure.message}\n"
                                    f"{check.failure_info.code_sample}")
    return failures, statuses


def test_schemathesis_finds_nothing_with_a_real_token(live):
    failures, statuses = run_schemathesis(live, with_credentials=True)
    assert failures == [], "\n\n".join(dict.fromkeys(failures))
    # The run reached the happy path of every operation, not only its refusals.
    assert len(statuses) == OPERATIONS, statuses
    for label, seen in statuses.items():
        assert seen & {200, 201}, (label, seen)


def test_schemathesis_finds_nothing_without_credentials(live):
    failures, statuses = run_schemathesis(live, with_credentials=False)
    assert failures == [], "\n\n".join(dict.fromkeys(failures))
    assert len(statuses) == OPERATIONS, statuses
    for label, seen in statuses.items():
        assert 401 in seen and not seen & {200, 201}, (label, seen)
