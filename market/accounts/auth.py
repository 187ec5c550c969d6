"""People and their sessions: password hashing, login with throttling, login sessions.

Domain functions take explicit arguments and never read `request`.
"""
import datetime
import hashlib
import hmac
import math
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from peewee import JOIN

from market.core import words
from market.data import prepared
from models import Company, LoginFailure, LoginSession, User, utcnow

# argon2id with argon2-cffi's defaults; tests swap in a cheap hasher through configure_hasher.
_hasher = PasswordHasher()

# Throttling (issue O): failures counted over a sliding window, so there is never a lock-out,
# only a short wait, and the worker never sleeps (the answer is a 429 with Retry-After).
THROTTLE_WINDOW = datetime.timedelta(minutes=15)
FREE_FAILURES_PER_PAIR = 5  # per (account, address); then waits of 1, 2, 4 ... 60 s
MAX_PAIR_WAIT = 60
MAX_FAILURES_PER_ADDRESS = 30
ACCOUNT_FAILURE_SPACING = 2  # seconds: across all addresses, one failed attempt per 2 s
SESSION_TOUCH = datetime.timedelta(minutes=5)


def configure_hasher(cheap):
    global _hasher
    _hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1) if cheap else PasswordHasher()


def hash_password(password):
    return _hasher.hash(password)


def check_password(password_hash, password):
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


# A valid hash to verify against when the email is unknown, so both cases take the same time.
_DUMMY_HASH = None


def _dummy_hash():
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = hash_password("not-a-real-password")
    return _DUMMY_HASH


def normalise_email(email):
    return (email or "").strip().lower()


class LoginThrottled(Exception):
    def __init__(self, retry_after):
        super().__init__("too many failed logins")
        self.retry_after = retry_after


def _keys(email, address):
    # LoginFailure.key holds 300 characters: a 254-character email and an IPv6 address fit.
    return f"email:{email}"[:300], f"pair:{address}|{email}"[:300], f"ip:{address}"[:300]


def _recent(key, since):
    return list(LoginFailure.select(LoginFailure.at)
                .where(LoginFailure.key == key, LoginFailure.at > since).order_by(LoginFailure.at))


def _seconds_until(moment, now):
    return max(1, math.ceil((moment - now).total_seconds()))


def throttle_wait(email, address, now=None):
    """Seconds to wait before this address may try this account again, or 0.

    Per (account, address): five failures are free, then each further try waits 1, 2, 4 ... 60 s
    after the last failure. Per address: 30 failures in the window, then a wait until the oldest
    leaves it. Per account across every address: one failure per 2 s, so a botnet gets at most
    one guess each 2 s while the owner, from its own address, waits at most 2 s."""
    now = now or utcnow()
    since = now - THROTTLE_WINDOW
    account_key, pair_key, address_key = _keys(normalise_email(email), address)
    pair = _recent(pair_key, since)
    if len(pair) >= FREE_FAILURES_PER_PAIR:
        wait = min(MAX_PAIR_WAIT, 2 ** (len(pair) - FREE_FAILURES_PER_PAIR))
        ready = pair[-1].at + datetime.timedelta(seconds=wait)
        if ready > now:
            return _seconds_until(ready, now)
    by_address = _recent(address_key, since)
    if len(by_address) >= MAX_FAILURES_PER_ADDRESS:
        return _seconds_until(by_address[-MAX_FAILURES_PER_ADDRESS].at + THROTTLE_WINDOW, now)
    last = (LoginFailure.select(LoginFailure.at).where(LoginFailure.key == account_key)
            .order_by(LoginFailure.at.desc()).first())
    if last is not None and last.at + datetime.timedelta(seconds=ACCOUNT_FAILURE_SPACING) > now:
        return ACCOUNT_FAILURE_SPACING
    return 0


def authenticate(email, password, address):
    """The user for these credentials, or None. Raises LoginThrottled (with the seconds to
    wait) before the password is even checked when this address, or this account, must wait."""
    email = normalise_email(email)
    now = utcnow()
    wait = throttle_wait(email, address, now)
    if wait:
        raise LoginThrottled(wait)
    user = User.get_or_none(User.email == email)
    if user is None:
        check_password(_dummy_hash(), password)
    elif check_password(user.password_hash, password):
        if _hasher.check_needs_rehash(user.password_hash):
            User.update(password_hash=hash_password(password)).where(User.id == user.id).execute()
        return user
    LoginFailure.insert_many([{"key": key, "at": now} for key in _keys(email, address)]).execute()
    return None


def forget_old_failures(now=None):
    """Called by the sweep: failures older than the window no longer matter."""
    cutoff = (now or utcnow()) - THROTTLE_WINDOW
    return LoginFailure.delete().where(LoginFailure.at < cutoff).execute()


# --- confirmed addresses (issue N) ----------------------------------------------------------

class NotConfirmed(words.Refusal):
    def __init__(self):
        super().__init__(words.marked("Confirm your email address first: follow the link we mailed you, or ask for "
                                      "a new one on any page."))


def is_confirmed(user):
    """A registration whose address is confirmed (invited, seeded and imported people are)."""
    user = getattr(user, "user", user)  # a SessionUser or the User row
    return user is not None and getattr(user, "confirmed_at", None) is not None


def require_confirmed(user):
    """The one check behind "until confirmed, no buying, consent, rating, inviting or
    submitting an app"."""
    if not is_confirmed(user):
        raise NotConfirmed()
    return user


# --- sessions ------------------------------------------------------------------------------

def _secret_hash(secret):
    return hashlib.sha256(secret.encode()).hexdigest()


def start_session(user, device="", address=""):
    """A new login: its row and the secret the cookie carries (only its SHA-256 is stored)."""
    secret = secrets.token_urlsafe(32)
    now = utcnow()
    row = LoginSession.create(secret_hash=_secret_hash(secret), user=user.id, device=(device or "")[:200],
                              address=(address or "")[:64], created_at=now, last_seen=now)
    return row, secret


def session_for(secret):
    """The login session a cookie's secret names, with its user and the user's company, or
    None when it was ended. `last_seen` is written at most once per SESSION_TOUCH."""
    if not isinstance(secret, str) or not 20 <= len(secret) <= 100:
        return None
    # Every logged-in request asks this: one query, its SQL built once (prepared.py).
    row = prepared.first("login_session", _session_query, _secret_hash(secret))
    if row is None:
        return None
    now = utcnow()
    if row.last_seen + SESSION_TOUCH <= now:
        LoginSession.update(last_seen=now).where(LoginSession.id == row.id).execute()
        row.last_seen = now
    return row


def _session_query(secret_hash):
    return (LoginSession.select(LoginSession, User, Company)
            .join(User).join(Company, JOIN.LEFT_OUTER)
            .where(LoginSession.secret_hash == secret_hash).limit(1))


def sessions_of(user):
    return list(LoginSession.select().where(LoginSession.user == user.id)
                .order_by(LoginSession.last_seen.desc(), LoginSession.id.desc()))


def end_session(user, public_id):
    """Ends one of the user's own sessions; True when there was one."""
    if not isinstance(public_id, str) or len(public_id) > 32:
        return False
    return LoginSession.delete().where(LoginSession.user == user.id,
                                       LoginSession.public_id == public_id).execute() > 0


def end_session_by_secret(secret):
    if isinstance(secret, str):
        LoginSession.delete().where(LoginSession.secret_hash == _secret_hash(secret)).execute()


def end_all_sessions(user):
    """Log out everywhere (also on a password change or reset): every session row goes."""
    LoginSession.delete().where(LoginSession.user == user.id).execute()


def keyed_hash(key, value):
    """Keyed SHA-256 for secrets we must recognise but never store (client secrets, tokens,
    single-use links)."""
    if isinstance(key, str):
        key = key.encode()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


# --- language -------------------------------------------------------------------------------

def save_language(user, code):
    """The person's language from now on (pages where no cookie says otherwise, and mail);
    None, and nothing saved, for a language the market does not speak."""
    code = words.supported(code)
    if code is None:
        return None
    User.update(language=code).where(User.id == user.id).execute()
    user.language = code
    return code


def language_of(user):
    """The language mail to `user` is written in: the saved choice, else Swedish."""
    return words.supported(getattr(user, "language", None)) or words.DEFAULT
