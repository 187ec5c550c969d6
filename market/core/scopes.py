"""The platform API's scopes, in the words the consent page shows a company admin."""

SCOPES = {
    "companyinformation": "Read your company's name, organisation number and address.",
    "customer": "Read and change your customer register.",
    "invoice": "Read and create your customer invoices.",
    "article": "Read and change your articles (products and services you sell).",
    "order": "Read and create your orders.",
    "bookkeeping": "Read and create vouchers in your bookkeeping.",
    "settings": "Read your company's settings, such as financial years and accounts.",
}


def describe(names):
    """(name, description) for each known scope in `names`, in catalogue order."""
    wanted = set(names)
    return [(name, text) for name, text in SCOPES.items() if name in wanted]
