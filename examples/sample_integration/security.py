"""The three checks every App Market app makes, each a small function you can copy.

Nothing here imports Flask or the market: only the standard library.
"""
import base64
import hashlib
import hmac
import secrets
import threading
import time
from urllib.parse import urlencode

# The market signs landing links and notifications with a time stamp; we accept 300 s either way.
MAX_AGE_SECONDS = 300


# --- 1. The landing link -------------------------------------------------------------------------

def landing_signature(landing_secret, app, company, ts):
    """HMAC-SHA256(landing secret, urlencode(sorted([app, company, ts]))), lowercase hex."""
    message = urlencode(sorted([("app", app), ("company", company), ("ts", ts)]))
    return hmac.new(landing_secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def check_landing(params, client_id, landing_secret, now=None):
    """None when the market's landing parameters (`app`, `company`, `ts`, `hmac`) are genuine
    and fresh, else the reason to show the customer. A genuine link is still only an
    invitation to connect: it proves nothing about who holds it (see UsedLinks)."""
    fields = {name: params.get(name) for name in ("app", "company", "ts", "hmac")}
    if not all(isinstance(v, str) and v for v in fields.values()):
        return "The link from the App Market is incomplete."
    if fields["app"] != client_id:
        return "This link was made for another app."
    if not fields["ts"].isdigit() or len(fields["ts"]) > 12:
        return "The link's time stamp is not valid."
    now = time.time() if now is None else now
    if abs(now - int(fields["ts"])) > MAX_AGE_SECONDS:
        return "The link from the App Market has expired. Please activate the app again from the App Market."
    expected = landing_signature(landing_secret, fields["app"], fields["company"], fields["ts"])
    if not hmac.compare_digest(expected, fields["hmac"].lower()):
        return "The link's signature is not valid. Please activate the app from the App Market."
    return None


def link_id(params):
    """A short name for one landing link (a hash of its signature), safe to keep in a cookie."""
    return hashlib.sha256(params["hmac"].lower().encode()).hexdigest()[:32]


class UsedLinks:
    """Landing links already used (a nonce per link): a link opens one session, once. Anyone who
    copies the URL from a browser history, a proxy log or a screenshot gets nothing from it.
    Kept in memory for as long as a link could still be fresh; a deployment with several
    processes would keep these in its database or cache instead."""

    def __init__(self):
        self._lock = threading.Lock()
        self._used = {}  # link id -> when it can be forgotten

    def claim(self, link, ts):
        """True the first time a link is seen; False for every later use."""
        now = time.time()
        with self._lock:
            for old in [key for key, until in self._used.items() if until < now]:
                del self._used[old]
            if link in self._used:
                return False
            self._used[link] = int(ts) + 2 * MAX_AGE_SECONDS
            return True


# --- 2. OAuth with PKCE --------------------------------------------------------------------------

def pkce_pair():
    """A fresh PKCE verifier and its S256 challenge (RFC 7636): the code is useless without
    the verifier, which never leaves this server."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return verifier, challenge


# --- 3. Notifications ----------------------------------------------------------------------------

def check_notification(body, header, landing_secret, now=None):
    """None when the market signed `body` (the raw bytes, before any JSON parsing) with our
    landing secret within 300 s; else the reason. Header: `Market-Signature: t=<unix>,v1=<hex>`,
    v1 = HMAC-SHA256(landing secret, "<t>." + body)."""
    try:
        parts = dict(item.split("=", 1) for item in (header or "").split(","))
        ts = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        return "missing or malformed Market-Signature"
    now = time.time() if now is None else now
    if abs(now - ts) > MAX_AGE_SECONDS:
        return "signature too old"
    expected = hmac.new(landing_secret.encode(), str(ts).encode() + b"." + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, given):
        return "bad signature"
    return None
