"""The one way the market sends mail.

Outside production every message lands in OutboxMail, which the demo shows at /dev/outbox, so
links in mail (password reset, invitations, email change) can be followed without a mail
server. Delivery over SMTP in production is not built yet: rather than pretend to send (and
leave a reset link nowhere), production refuses with a clear error.
"""
import logging

from models import OutboxMail

log = logging.getLogger(__name__)

MAX_SUBJECT = 200


class MailNotConfigured(RuntimeError):
    pass


def outbox_enabled(config):
    return config.get("MARKET_ENV") in ("demo", "test")


def send_mail(config, to, subject, body):
    if not outbox_enabled(config):
        # Never log the body: it carries single-use links.
        log.warning("mail to %s not sent: production mail delivery (SMTP) is not configured", to)
        raise MailNotConfigured("The market cannot send mail yet: SMTP delivery is not configured.")
    return OutboxMail.create(to=to, subject=subject[:MAX_SUBJECT], body=body)


def outbox(limit=50):
    return list(OutboxMail.select().order_by(OutboxMail.id.desc()).limit(limit))
