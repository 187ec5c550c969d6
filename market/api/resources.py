"""The platform API's domain (DESIGN.md §6): who a bearer token speaks for, and the company's
own accounting data in Fortnox-like shapes.

Everything here takes the grant (token row → connection → company and app) explicitly and
filters by its company, so one company's token can never reach another company's rows.
"""
import math
import re
from dataclasses import dataclass

from market.api import openapi as api_openapi
from market.core import money
from market.entitlement import rules as entitlements
from models import (
    App,
    Company,
    CompanyCustomer,
    CompanyInvoice,
    Connection,
    IntegrityError,
    OAuthClient,
    OAuthToken,
    db,
)

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 100
MAX_PAGE = 1_000_000
RETIRED_FLOW_MESSAGE = (
    "The authorization flow with long-lived access tokens (Access-Token and Client-Secret headers) "
    "was retired on 2021-12-09. Use the OAuth2 Authorization Code flow (/oauth-v1/auth) and send "
    "the access token as 'Authorization: Bearer <token>'.")


# What went wrong, in the API's words; views/api.py answers each kind with its HTTP status.
BAD_REQUEST = "bad_request"
UNAUTHENTICATED = "unauthenticated"
MISSING_SCOPE = "missing_scope"
NOT_ENTITLED = "not_entitled"
NOT_FOUND = "not_found"
TOO_LARGE = "too_large"
UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
BUSY = "busy"
ERROR_KINDS = (BAD_REQUEST, UNAUTHENTICATED, MISSING_SCOPE, NOT_ENTITLED, NOT_FOUND, TOO_LARGE,
               UNSUPPORTED_MEDIA_TYPE, BUSY)


class ApiError(Exception):
    """An error the API answers in the ErrorInformation shape: its `kind` (one of the names
    above), the message and the platform-style error code."""

    def __init__(self, kind, message, code):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.code = code


# Error codes in the style of the platform's API: one per kind of failure.
CODE_BAD_REQUEST = 2000400
CODE_INVALID_TOKEN = 2000401
CODE_RETIRED_FLOW = 2000311
CODE_MISSING_SCOPE = 2000403
CODE_NOT_ENTITLED = 2000663
CODE_NOT_FOUND = 2000404
CODE_METHOD = 2000405
CODE_TOO_LARGE = 2000413
CODE_MEDIA_TYPE = 2000415
CODE_RATE_LIMITED = 2000429
CODE_SERVER = 2000500


@dataclass(frozen=True)
class Grant:
    """What a valid access token speaks for."""
    token: OAuthToken
    connection: Connection
    company: Company
    app: App
    client: OAuthClient

    @property
    def scopes(self):
        return frozenset(self.token.scope.split())

    @property
    def rate_key(self):
        # The public id, not the row id: counters in a shared Redis outlive any one database.
        return f"{self.client.client_id}:{self.company.public_id}"


def grant_of(token_row):
    """The grant behind a token row that the oauth room's ResourceProtector has validated."""
    connection = token_row.connection
    return Grant(token=token_row, connection=connection, company=connection.company, app=connection.app,
                 client=token_row.client)


def require_scope(grant, scope):
    if scope not in grant.scopes:
        raise ApiError(MISSING_SCOPE, f"This access token lacks the scope '{scope}'. Ask the company for it "
                       "in a new authorization.", CODE_MISSING_SCOPE)


def require_entitlement(grant, grace_days, now=None):
    entitlement = entitlements.check(grant.company, grant.app, grace_days, now)
    if not entitlement.allowed:
        raise ApiError(NOT_ENTITLED, "The company may not use this app: " + entitlement.reason, CODE_NOT_ENTITLED)
    return entitlement


# --- paging -------------------------------------------------------------------------------

def parse_paging(args):
    """`page` and `limit` from query arguments (strings); ApiError (bad_request) on anything else."""
    page = _positive_int(args.get("page"), "page", 1, MAX_PAGE)
    limit = _positive_int(args.get("limit"), "limit", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    return page, limit


def _positive_int(raw, name, default, maximum):
    if raw is None:
        return default
    if not re.fullmatch(r"[0-9]{1,9}", raw):
        raise ApiError(BAD_REQUEST, f"'{name}' must be a whole number between 1 and {maximum}.", CODE_BAD_REQUEST)
    value = int(raw)
    if not 1 <= value <= maximum:
        raise ApiError(BAD_REQUEST, f"'{name}' must be between 1 and {maximum}.", CODE_BAD_REQUEST)
    return value


def _meta(total, page, limit):
    return {"@TotalResources": total, "@TotalPages": max(1, math.ceil(total / limit)), "@CurrentPage": page}


# --- me, company, subscription -------------------------------------------------------------

def me(grant):
    return {"Me": {
        "Company": {"Id": grant.company.public_id, "Name": grant.company.name},
        "App": {"Slug": grant.app.slug, "Name": grant.app.name},
        "Scopes": sorted(grant.scopes),
    }}


def company_information(grant):
    company = grant.company
    return {"CompanyInformation": {
        "Id": company.public_id,
        "CompanyName": company.name,
        "OrganizationNumber": company.org_number,
        "Industry": company.industry,
        "Size": company.size,
    }}


def _iso(value):
    return value.replace(microsecond=0).isoformat() + "Z" if value else None


def subscription(grant, grace_days, now=None):
    entitlement = entitlements.check(grant.company, grant.app, grace_days, now)
    current = entitlement.subscription or entitlements.current_subscription(grant.company, grant.app)
    plan = None
    if current is not None and current.plan_id is not None:
        plan_row = current.plan
        plan = {"Name": plan_row.name, "PriceOre": current.price_ore or plan_row.price_ore,
                "Currency": plan_row.currency.upper()}
    if grant.app.is_free:
        status = "free"
    elif current is not None:
        status = current.status
    else:
        status = "none"
    return {"Subscription": {
        "App": grant.app.slug,
        "Status": status,
        "Entitled": entitlement.allowed,
        "Reason": entitlement.reason,
        "Plan": plan,
        "CurrentPeriodEnd": _iso(current.current_period_end) if current else None,
        "TrialEnd": _iso(current.trial_end) if current else None,
        "CancelAtPeriodEnd": bool(current.cancel_at_period_end) if current else False,
    }}


# --- customers -----------------------------------------------------------------------------

def _customer_json(row):
    return {
        "CustomerNumber": row.customer_number,
        "Name": row.name,
        "Email": row.email,
        "OrganisationNumber": row.org_number,
        "City": row.city,
        "@url": f"/api/v1/customers/{row.customer_number}",
    }


def list_customers(grant, page, limit):
    query = CompanyCustomer.select().where(CompanyCustomer.company == grant.company)
    total = query.count()
    rows = query.order_by(CompanyCustomer.id).paginate(page, limit)
    return {"Customers": [_customer_json(r) for r in rows], "MetaInformation": _meta(total, page, limit)}


def _plausible_number(value):
    """Numbers are short and printable; anything else cannot exist, and PostgreSQL refuses
    NUL bytes in a query, so such a number is not found without asking."""
    return 0 < len(value) <= 20 and not _CONTROL.search(value)


def get_customer(grant, customer_number):
    if not _plausible_number(customer_number):
        raise ApiError(NOT_FOUND, "No customer with that customer number.", CODE_NOT_FOUND)
    row = CompanyCustomer.get_or_none(CompanyCustomer.company == grant.company,
                                      CompanyCustomer.customer_number == customer_number)
    if row is None:
        raise ApiError(NOT_FOUND, "No customer with that customer number.", CODE_NOT_FOUND)
    return {"Customer": _customer_json(row)}


CUSTOMER_FIELDS = {
    # field: (column, max length, required, pattern) -- the very lengths and patterns of the
    # NewCustomer schema in the OpenAPI document, so the two cannot disagree.
    "Name": ("name", 120, True, re.compile(api_openapi.NAME)),
    "Email": ("email", 254, False, re.compile(api_openapi.EMAIL)),
    "OrganisationNumber": ("org_number", 16, False, re.compile(api_openapi.ORG_NUMBER)),
    "City": ("city", 60, False, re.compile(api_openapi.NO_CONTROL)),
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def parse_new_customer(body):
    """The columns of a new customer from `{"Customer": {...}}`, checked exactly as the OpenAPI
    schema says (a field left out is empty; null is not a string and is refused); ApiError
    (bad_request) on anything else."""
    if not isinstance(body, dict) or set(body) != {"Customer"} or not isinstance(body["Customer"], dict):
        raise ApiError(BAD_REQUEST, 'The body must be a JSON object of the form {"Customer": {"Name": ...}}.',
                       CODE_BAD_REQUEST)
    fields = body["Customer"]
    unknown = sorted(set(fields) - set(CUSTOMER_FIELDS))
    if unknown:
        raise ApiError(BAD_REQUEST, "Unknown field(s) in Customer: " + ", ".join(unknown)[:200] + ".",
                       CODE_BAD_REQUEST)
    columns = {}
    for field, (column, max_length, required, pattern) in CUSTOMER_FIELDS.items():
        if field not in fields:
            if required:
                raise ApiError(BAD_REQUEST, f"Customer.{field} is required.", CODE_BAD_REQUEST)
            columns[column] = ""
            continue
        value = fields[field]
        if not isinstance(value, str):
            raise ApiError(BAD_REQUEST, f"Customer.{field} must be a string.", CODE_BAD_REQUEST)
        if required and not value:
            raise ApiError(BAD_REQUEST, f"Customer.{field} is required.", CODE_BAD_REQUEST)
        if len(value) > max_length:
            raise ApiError(BAD_REQUEST, f"Customer.{field} may be at most {max_length} characters.",
                           CODE_BAD_REQUEST)
        if _CONTROL.search(value):
            raise ApiError(BAD_REQUEST, f"Customer.{field} contains control characters.", CODE_BAD_REQUEST)
        if _SURROGATE.search(value):
            # Not a Unicode character at all (a lone \\ud800 escape): no database can store it.
            raise ApiError(BAD_REQUEST, f"Customer.{field} is not valid Unicode.", CODE_BAD_REQUEST)
        if not pattern.fullmatch(value):
            raise ApiError(BAD_REQUEST, f"Customer.{field} is not valid.", CODE_BAD_REQUEST)
        # Spaces around a value are not part of it (the name holds something besides them).
        columns[column] = value.strip(" ")
    return columns


def _next_customer_number(company):
    numbers = (CompanyCustomer.select(CompanyCustomer.customer_number)
               .where(CompanyCustomer.company == company))
    highest = max((int(n.customer_number) for n in numbers if n.customer_number.isdigit()), default=0)
    return str(highest + 1)


def create_customer(grant, columns):
    """A new customer of the token's company, numbered after the highest numeric number.
    Two creations at once can pick the same number; the unique index refuses one and it
    takes the next."""
    for _attempt in range(5):
        try:
            with db.atomic():
                row = CompanyCustomer.create(company=grant.company,
                                             customer_number=_next_customer_number(grant.company), **columns)
            return {"Customer": _customer_json(row)}
        except IntegrityError:
            continue
    raise ApiError(BUSY, "The customer could not be numbered; please retry.", CODE_SERVER)


# --- invoices ------------------------------------------------------------------------------

def _invoice_json(row, customer):
    return {
        "DocumentNumber": row.document_number,
        "CustomerNumber": customer.customer_number,
        "CustomerName": customer.name,
        "InvoiceDate": row.invoice_date.isoformat(),
        "DueDate": row.due_date.isoformat(),
        "TotalOre": row.total_ore,
        "Total": money.format_plain(row.total_ore),
        "Currency": row.currency,
        "Booked": bool(row.booked),
        "@url": f"/api/v1/invoices/{row.document_number}",
    }


def _invoices(company):
    return (CompanyInvoice.select(CompanyInvoice, CompanyCustomer)
            .join(CompanyCustomer)
            .where(CompanyInvoice.company == company))


def list_invoices(grant, page, limit):
    total = CompanyInvoice.select().where(CompanyInvoice.company == grant.company).count()
    rows = _invoices(grant.company).order_by(CompanyInvoice.id).paginate(page, limit)
    return {"Invoices": [_invoice_json(r, r.customer) for r in rows], "MetaInformation": _meta(total, page, limit)}


def get_invoice(grant, document_number):
    if not _plausible_number(document_number):
        raise ApiError(NOT_FOUND, "No invoice with that document number.", CODE_NOT_FOUND)
    row = _invoices(grant.company).where(CompanyInvoice.document_number == document_number).first()
    if row is None:
        raise ApiError(NOT_FOUND, "No invoice with that document number.", CODE_NOT_FOUND)
    return {"Invoice": _invoice_json(row, row.customer)}
