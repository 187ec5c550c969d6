"""Request logs never hold a secret from a URL (issue O, finding 6): single-use links carry
their token in the path (/reset/<token>, /invite/<token>, /account/email/confirm/<token>,
/register/confirm/<token>), OAuth redirects carry `code` and `state`, landing links a signature.

`redact(text)` rewrites any request line or URL in `text`; `RedactingFilter` applies it to a
logger's records (the demo's werkzeug log), and gunicorn.conf.py's logger class to the access
log's request atoms.
"""
import logging
import re

REDACTED = "[redacted]"

# Paths whose last segment is a secret.
_SECRET_PATHS = re.compile(
    r"(/(?:reset|invite|account/email/confirm|register/confirm)/)[^/?#\s\"']+")
# Query parameters whose value is a secret, whatever the path.
SECRET_PARAMETERS = ("code", "state", "token", "access_token", "refresh_token", "id_token", "client_secret",
                     "secret", "password", "sig", "signature", "key", "api_key", "hmac", "nonce")
_SECRET_QUERY = re.compile(
    r"((?:^|[?&;\s])(?:" + "|".join(SECRET_PARAMETERS) + r")=)[^&#\s\"']*", re.IGNORECASE)

# The same inside a URL-encoded `next` (/login?next=/oauth-v1/auth%3F...%26state%3D...).
_SECRET_ENCODED_QUERY = re.compile(
    r"((?:%3F|%26)(?:" + "|".join(SECRET_PARAMETERS) + r")%3D)(?:(?!%26)[^&#\s\"'])*", re.IGNORECASE)
_SECRET_ENCODED_PATHS = re.compile(
    r"(%2F(?:reset|invite|account%2Femail%2Fconfirm|register%2Fconfirm)%2F)(?:(?!%3F|%2F)[^&#\s\"'])+",
    re.IGNORECASE)


def redact(text):
    """`text` with every URL secret replaced by [redacted]."""
    if not isinstance(text, str) or not text:
        return text
    for pattern in (_SECRET_PATHS, _SECRET_QUERY, _SECRET_ENCODED_QUERY, _SECRET_ENCODED_PATHS):
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text


class RedactingFilter(logging.Filter):
    """Formats the record's message once and keeps only its redacted form."""

    def filter(self, record):
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        record.msg, record.args = redact(message), ()
        return True


def redact_logger(name):
    """Put the filter on a named logger (once)."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())
    return logger
