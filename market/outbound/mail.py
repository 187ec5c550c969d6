"""The one way the market sends mail.

With `SMTP_URL` set, mail goes out over SMTP (smtplib, short timeout). Without it, demo and
test keep every message in OutboxMail, which the demo shows at /dev/outbox, so links in mail
(password reset, invitations, email change) can be followed without a mail server. Production
refuses to start without SMTP_URL (config.py) unless MAIL_DISABLED=1 says so explicitly; then
sending raises MailNotConfigured rather than pretend and leave a reset link nowhere.

Mail bodies carry single-use links: they are never logged, and neither is the SMTP password.
"""
import contextlib
import contextvars
import email.message
import email.utils
import logging
import smtplib
import ssl
from urllib.parse import parse_qs, unquote, urlsplit

from market.core import words
from models import OutboxMail

log = logging.getLogger(__name__)

MAX_SUBJECT = 200
SMTP_TIMEOUT = 10  # seconds: a request or webhook waits at most this long for a mail server


class MailNotConfigured(RuntimeError):
    """The market could not send this mail now. Views that catch it ask the person to try later."""


class MailNotSent(MailNotConfigured):
    """The mail server refused the mail or could not be reached."""


def outbox_enabled(config):
    return config.get("MARKET_ENV") in ("demo", "test")


def smtp_settings(url):
    """host, port, implicit TLS, STARTTLS, user, password of an smtp:// or smtps:// URL."""
    parts = urlsplit(url or "")
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError("SMTP_URL must look like smtp://user:pass@host:587 or smtps://user:pass@host:465")
    implicit_tls = parts.scheme == "smtps"
    starttls = not implicit_tls and parse_qs(parts.query).get("starttls", ["1"])[-1] not in ("0", "false", "no")
    return {"host": parts.hostname, "port": parts.port or (465 if implicit_tls else 587),
            "implicit_tls": implicit_tls, "starttls": starttls,
            "user": unquote(parts.username) if parts.username else None,
            "password": unquote(parts.password) if parts.password else None}


def sender(config):
    if config.get("MAIL_FROM"):
        return config["MAIL_FROM"]
    host = urlsplit(config.get("MARKET_URL") or "").hostname or "localhost"
    return f"App Market <noreply@{host}>"


def _message(config, to, subject, body):
    message = email.message.EmailMessage()
    message["From"] = sender(config)
    message["To"] = to
    message["Subject"] = " ".join(subject[:MAX_SUBJECT].split())  # no header injection via newlines
    message["Date"] = email.utils.formatdate(usegmt=True)
    # An explicit domain: without one, make_msgid asks DNS for this host's name.
    message["Message-ID"] = email.utils.make_msgid(domain=urlsplit(config.get("MARKET_URL") or "").hostname
                                                   or "localhost")
    message.set_content(body)
    return message


def deliver(config, message):
    """Hand one message to the SMTP server; MailNotSent when that fails (the cause is logged,
    without the body)."""
    server = smtp_settings(config["SMTP_URL"])
    try:
        context = ssl.create_default_context()
        if server["implicit_tls"]:
            smtp = smtplib.SMTP_SSL(server["host"], server["port"], timeout=SMTP_TIMEOUT, context=context)
        else:
            smtp = smtplib.SMTP(server["host"], server["port"], timeout=SMTP_TIMEOUT)
        with smtp:
            if server["starttls"]:
                smtp.starttls(context=context)
            if server["user"]:
                smtp.login(server["user"], server["password"] or "")
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as error:
        # The error names the server's answer, never the message or the password.
        log.warning("mail to %s (%s) not sent: %s: %s", message["To"], message["Subject"],
                    type(error).__name__, error)
        # The message is shown to the person (in their language: the view translates it).
        raise MailNotSent(words.marked("We could not send the mail just now. Please try again in a few "
                                       "minutes.")) from None


_held = contextvars.ContextVar("mail_held", default=None)


@contextlib.contextmanager
def held_until_done():
    """Mail sent inside the block goes to the SMTP server only after the block ends without an
    error: a webhook's transaction is not held open while a mail server answers, a mail about a
    change that rolled back is never sent, and a failed mail cannot undo the change (failures
    are logged). Outbox mail needs no holding: it is part of the same transaction."""
    if _held.get() is not None:
        yield  # the outer block sends
        return
    pending = []
    token = _held.set(pending)
    try:
        yield
    finally:
        _held.reset(token)
    for config, message in pending:
        try:
            deliver(config, message)
        except MailNotSent:
            pass  # logged by deliver


def send_mail(config, to, subject, body):
    """Send (or, outside production without SMTP_URL, store) one mail. Raises MailNotConfigured
    when production has mail disabled, MailNotSent when the SMTP server fails."""
    if config.get("SMTP_URL"):
        message = _message(config, to, subject, body)
        pending = _held.get()
        if pending is not None:
            pending.append((config, message))
            return None
        deliver(config, message)
        return None
    if not outbox_enabled(config):
        # Never log the body: it carries single-use links.
        log.warning("mail to %s not sent: mail is disabled (MAIL_DISABLED=1, no SMTP_URL)", to)
        raise MailNotConfigured(words.marked("The market cannot send mail: mail delivery is switched off."))
    return OutboxMail.create(to=to, subject=subject[:MAX_SUBJECT], body=body)


def outbox(limit=50):
    return list(OutboxMail.select().order_by(OutboxMail.id.desc()).limit(limit))
