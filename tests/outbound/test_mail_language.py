"""Issue Q: each mail is written in its reader's language, their saved choice or else Swedish,
whoever else gets the same mail (DESIGN.md §10)."""
import datetime
from types import SimpleNamespace

from market.accounts import companies
from market.billing import company_mail
from market.core import words
from models import OutboxMail
from tests import factories


def mail_to(address):
    return OutboxMail.get(OutboxMail.to == address)


def test_a_user_without_a_saved_language_gets_swedish_mail_and_one_who_chose_english_english(app):
    factories.customer_admin(email="svensk@example.test", language=None)
    factories.customer_admin(email="english@example.test", language="en")
    assert companies.request_password_reset(app.config, "svensk@example.test")
    assert companies.request_password_reset(app.config, "english@example.test")
    swedish, english = mail_to("svensk@example.test"), mail_to("english@example.test")
    assert swedish.subject == "Återställ ditt lösenord på App Market"
    assert "Välj ett nytt lösenord här" in swedish.body and "/reset/" in swedish.body
    assert english.subject == "Reset your App Market password"
    assert "Choose a new password here" in english.body and "/reset/" in english.body


def test_one_mail_to_a_company_reaches_each_admin_in_their_own_language(app):
    admin = factories.customer_admin(email="chef@example.test", language=None)
    factories.customer_admin(email="boss@example.test", company_obj=admin.company, language="en")
    factories.customer_admin(email="sv@example.test", company_obj=admin.company, language="sv")
    sent = company_mail.tell_company_admins(
        app.config, admin.company, lambda locale: words.say(locale, "%(app)s is no longer sold", app="Kassa"),
        lambda locale: words.say(locale, "No reason was given."))
    assert sent == 3
    assert (mail_to("chef@example.test").subject, mail_to("chef@example.test").body) == (
        "Kassa säljs inte längre", "Inget skäl angavs.")
    assert mail_to("sv@example.test").subject == "Kassa säljs inte längre"
    assert (mail_to("boss@example.test").subject, mail_to("boss@example.test").body) == (
        "Kassa is no longer sold", "No reason was given.")


def test_a_swedish_receipt_writes_its_amounts_and_dates_the_swedish_way(app):
    paid_at = datetime.datetime(2026, 12, 16, 10, 0, tzinfo=datetime.UTC)
    invoice = {"id": "in_sv", "number": "AM-0007", "billing_reason": "subscription_create", "total": 124875,
               "status_transitions": {"paid_at": int(paid_at.timestamp())},
               "lines": {"data": [{"amount": 99900, "description": "1 × Standard",
                                   "taxes": [{"amount": 24975, "tax_behavior": "exclusive"}]}]}}
    subscription = SimpleNamespace(app=SimpleNamespace(name="Kassa"), plan=SimpleNamespace(name="Standard"),
                                   company=SimpleNamespace(name="Bygg AB", org_number="556677-8899"),
                                   current_period_end=None)
    subject, body = company_mail.receipt(app.config, invoice, subscription, "sv")
    assert subject == "Kvitto: ditt företag har köpt Kassa"
    assert body.startswith("Kvitto AM-0007, betalt 16 dec. 2026")
    assert "Köpare: Bygg AB, org.nr 556677-8899" in body
    assert "1 × Standard: netto 999 kr, moms 25 % 249,75 kr, brutto 1\xa0248,75 kr" in body
    subject, body = company_mail.receipt(app.config, invoice, subscription, "en")
    assert subject == "Receipt: your company bought Kassa"
    assert body.startswith("Receipt AM-0007, paid 16 Dec 2026")
    assert "1 × Standard: net 999 kr, VAT 25 % 249.75 kr, gross 1,248.75 kr" in body
