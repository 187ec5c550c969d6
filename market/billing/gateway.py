"""The market's one door to Stripe: the only module that imports `stripe`.

It owns the client (one per key and base), the installation id and the idempotency keys every
Stripe POST carries, the verification of a webhook's signature, and Stripe's error types,
re-exported here so callers catch `gateway.StripeError` without importing stripe.

Every POST carries a key derived from what the call does, prefixed with the installation id
(DESIGN.md §5), so a double-clicked Buy, a second tab or a retry after a crash reaches Stripe
as the same request, and two databases never share keys. Callers make no Stripe call inside a
database transaction: no write lock is held while Stripe answers.
"""
import datetime
import threading

import stripe

from market.billing import market_settings
from market.core import words

# Stripe's errors, for callers that must tell "Stripe refused or could not be reached" apart.
StripeError = stripe.StripeError
InvalidRequestError = stripe.InvalidRequestError

_clients = {}
_clients_lock = threading.Lock()


def stripe_client(config):
    """One StripeClient per (key, base): the library's HTTP client keeps connections alive."""
    key = (config["STRIPE_SECRET_KEY"], config.get("STRIPE_API_BASE"))
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            kwargs = {}
            base = config.get("STRIPE_API_BASE")
            if base:
                base = base.rstrip("/")
                kwargs["base_addresses"] = {"api": base, "connect": base, "files": base}
            client = stripe.StripeClient(config["STRIPE_SECRET_KEY"], max_network_retries=2, **kwargs)
            _clients[key] = client
        return client


def installation_id():
    value = market_settings.setting("installation_id")
    if value is None:
        raise RuntimeError("the database has no installation_id; run the migrations")
    return value


def idempotency_key(*parts):
    return ":".join([installation_id(), *(str(p) for p in parts)])


def options(*parts):
    """The request options of a Stripe POST: its idempotency key, from what the call does."""
    return {"idempotency_key": idempotency_key(*parts)}


def stripe_locale(locale):
    """The `locale` Stripe's Checkout and billing portal are asked to show: the reader's
    language, Swedish for anything else (the tests' pseudo-locale included)."""
    return words.supported(locale) or words.DEFAULT


def signature_valid(text, header, secret, tolerance):
    """Does `header` (Stripe-Signature) sign `text` with `secret` within `tolerance` seconds?"""
    try:
        stripe.WebhookSignature.verify_header(text, header, secret, tolerance)
    except stripe.SignatureVerificationError:
        return False
    return True


def plain(obj):
    """A Stripe object as the plain dict of its JSON (dicts pass through)."""
    return obj.to_dict() if hasattr(obj, "to_dict") else obj


def from_timestamp(value):
    """Stripe's Unix seconds as the naive UTC datetime the tables store; None stays None."""
    if value in (None, ""):
        return None
    return datetime.datetime.fromtimestamp(int(value), datetime.UTC).replace(tzinfo=None)
