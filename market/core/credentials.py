"""Secrets the market hands out and must recognise without keeping them (DESIGN.md §6).

Client secrets are random and long and kept as a keyed SHA-256 (a password hash would make
every token request slow); tokens are kept as SHA-256 hashes, so a database leak gives no
usable secret. The landing secret is derived from a server key and the client id, never from
the client secret, which the market does not keep.
"""
import hashlib
import hmac
import secrets
import time
from urllib.parse import urlencode


def _key(secret_key, purpose):
    return hmac.new(secret_key.encode(), purpose.encode(), hashlib.sha256).digest()


def new_client_secret():
    return secrets.token_urlsafe(48)


def hash_client_secret(secret_key, client_secret):
    return hmac.new(_key(secret_key, "oauth-client-secret"), client_secret.encode(), hashlib.sha256).hexdigest()


def client_secret_matches(secret_key, stored_hash, client_secret):
    if not stored_hash or not isinstance(client_secret, str):
        return False
    return hmac.compare_digest(stored_hash, hash_client_secret(secret_key, client_secret))


def new_token(nbytes=32):
    return secrets.token_urlsafe(nbytes)


def token_hash(token):
    """Tokens are high-entropy random strings, so a plain SHA-256 is enough to store them."""
    return hashlib.sha256(token.encode()).hexdigest()


def landing_secret(secret_key, client_id):
    return hmac.new(_key(secret_key, "landing-secret"), client_id.encode(), hashlib.sha256).hexdigest()


def landing_signature(secret, app, company, ts):
    """lowercase hex HMAC-SHA256(landing secret, urlencode(sorted([app, company, ts])))."""
    message = urlencode(sorted([("app", app), ("company", company), ("ts", str(ts))]))
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def landing_params(secret, app, company, now=None):
    ts = int(now if now is not None else time.time())
    return {"app": app, "company": company, "ts": str(ts), "hmac": landing_signature(secret, app, company, ts)}


def sign_payload(secret, payload, now=None):
    """A Stripe-style signature header (`t=...,v1=...`) for app notifications."""
    ts = int(now if now is not None else time.time())
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"
