"""Mail from billing to a customer company's admins (a failed payment, a suspended app): the
people who can update the card or choose another app."""
from market.outbound import mail
from models import User


def tell_company_admins(config, company, subject, body):
    """Mail every admin of the company; a market that cannot send mail still goes on."""
    admins = User.select().where(User.company == company, User.company_role == "admin").order_by(User.id)
    sent = 0
    for user in admins:
        try:
            mail.send_mail(config, user.email, subject, body)
            sent += 1
        except mail.MailNotSent:
            continue  # logged in mail.py; the other admins may still be reachable
        except mail.MailNotConfigured:
            break
    return sent


def _tell(config, users, subject, body):
    sent = 0
    for user in users:
        try:
            mail.send_mail(config, user.email, subject, body)
            sent += 1
        except mail.MailNotSent:
            continue
        except mail.MailNotConfigured:
            break
    return sent


def tell_developer(config, developer, subject, body):
    """Mail every user of the developer (vendor) company."""
    return _tell(config, User.select().where(User.developer == developer).order_by(User.id), subject, body)


def tell_platform_admins(config, subject, body):
    return _tell(config, User.select().where(User.is_platform_admin == True).order_by(User.id),  # noqa: E712
                 subject, body)
