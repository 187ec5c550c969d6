"""People and their sessions: password hashing, login with throttling, session epochs.

Domain functions take explicit arguments and never read `request`.
"""
import datetime
import hashlib
import hmac

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from peewee import JOIN

from market.data import prepared
from models import Company, LoginFailure, User, utcnow

# argon2id with argon2-cffi's defaults; tests swap in a cheap hasher through configure_hasher.
_hasher = PasswordHasher()

# Throttling (QUALITY.md 27): failures counted over a sliding window, so there is never a
# permanent lock-out, only a wait.
THROTTLE_WINDOW = datetime.timedelta(minutes=15)
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_ADDRESS = 30


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


def _failures(key, since):
    return LoginFailure.select().where(LoginFailure.key == key, LoginFailure.at > since).count()


def authenticate(email, password, address):
    """The user for these credentials, or None. Raises LoginThrottled when the account or the
    address has failed too often within the window."""
    email = normalise_email(email)
    now = utcnow()
    since = now - THROTTLE_WINDOW
    account_key, address_key = f"email:{email}", f"ip:{address}"
    if (_failures(account_key, since) >= MAX_FAILURES_PER_ACCOUNT
            or _failures(address_key, since) >= MAX_FAILURES_PER_ADDRESS):
        oldest = (LoginFailure.select(LoginFailure.at)
                  .where(LoginFailure.key.in_([account_key, address_key]), LoginFailure.at > since)
                  .order_by(LoginFailure.at).first())
        wait = int((oldest.at + THROTTLE_WINDOW - now).total_seconds()) + 1 if oldest else 60
        raise LoginThrottled(max(wait, 1))
    user = User.get_or_none(User.email == email)
    if user is None:
        check_password(_dummy_hash(), password)
    elif check_password(user.password_hash, password):
        if _hasher.check_needs_rehash(user.password_hash):
            User.update(password_hash=hash_password(password)).where(User.id == user.id).execute()
        return user
    LoginFailure.insert_many([{"key": account_key, "at": now}, {"key": address_key, "at": now}]).execute()
    return None


def forget_old_failures(now=None):
    """Called by the sweep: failures older than the window no longer matter."""
    cutoff = (now or utcnow()) - THROTTLE_WINDOW
    return LoginFailure.delete().where(LoginFailure.at < cutoff).execute()


def session_user(user_id, epoch):
    """The user a session cookie names, with its company, or None when the cookie's epoch is
    old (logged out everywhere, password changed)."""
    # Every logged-in request asks this, and most then read the user's company: one query, its
    # SQL built once (prepared.py).
    user = prepared.first("session_user", _session_user_query, user_id)
    if user is None or user.session_epoch != epoch:
        return None
    return user


def _session_user_query(user_id):
    return User.select(User, Company).join(Company, JOIN.LEFT_OUTER).where(User.id == user_id).limit(1)


def end_all_sessions(user):
    """Log out everywhere: every cookie carrying the old epoch stops working."""
    User.update(session_epoch=User.session_epoch + 1).where(User.id == user.id).execute()
    user.session_epoch += 1


def keyed_hash(key, value):
    """Keyed SHA-256 for secrets we must recognise but never store (client secrets, tokens,
    single-use links)."""
    if isinstance(key, str):
        key = key.encode()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()
