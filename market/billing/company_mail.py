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
