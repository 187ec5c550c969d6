"""The platform API's scopes: exactly the ones /api/v1 serves, each in the plain words the
developer form, the consent page, the OAuth metadata and the OpenAPI document show. Each says
what the API lets an app do with it, no more (market/api/openapi.py lists the operations)."""

from market.core import words

SCOPES = {
    "companyinformation": words.marked("Read your company's name, organisation number, industry and size."),
    "customer": words.marked("Read your customers (name, email, organisation number and city) and add new customers."),
    "invoice": words.marked("Read your customer invoices (customer, dates, total and whether they are booked)."),
}


def describe(names):
    """(name, description) for each known scope in `names`, in catalogue order."""
    wanted = set(names)
    return [(name, text) for name, text in SCOPES.items() if name in wanted]


def served(names):
    """The names in `names` the API serves, in catalogue order."""
    wanted = set(names)
    return [name for name in SCOPES if name in wanted]
