"""Mail over SMTP (mail.py) against a real local server (aiosmtpd on 127.0.0.1), failures that
are logged but never lose the action, and the production settings that require SMTP_URL."""
import logging
import re
import socket

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from market import config
from market.accounts import companies
from market.billing import company_mail
from market.outbound import mail
from models import AccountToken, OutboxMail, db
from tests import factories

USER, PASSWORD = "mailer", "p@ss w/rd"
QUOTED_PASSWORD = "p%40ss%20w%2Frd"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Inbox:
    def __init__(self):
        self.messages = []
        self.logins = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                              "data": envelope.content.decode("utf-8", "replace")})
        return "250 OK"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        ok = auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode()
        self.logins.append((auth_data.login, ok))
        return AuthResult(success=ok)


@pytest.fixture(scope="module")
def smtp_server():
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, authenticator=inbox.authenticate,
                            auth_require_tls=False)
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture
def inbox(smtp_server):
    smtp_server[0].messages.clear()
    smtp_server[0].logins.clear()
    return smtp_server[0]


@pytest.fixture
def app_config(smtp_server):
    # STARTTLS off: the local server speaks plain SMTP.
    return {"SMTP_URL": f"smtp://{USER}:{QUOTED_PASSWORD}@127.0.0.1:{smtp_server[1]}?starttls=0"}


def down_url():
    return f"smtp://{USER}:{QUOTED_PASSWORD}@127.0.0.1:{free_port()}?starttls=0"  # nothing listens


def test_reset_mail_arrives_over_smtp_with_a_working_link(app, client, auth, inbox):
    factories.user(email="anna@example.test")
    response = auth.post("/reset", {"email": "anna@example.test"})
    assert response.status_code == 303
    assert len(inbox.messages) == 1 and OutboxMail.select().count() == 0
    message = inbox.messages[0]
    assert message["to"] == ["anna@example.test"] and message["from"] == "noreply@localhost"
    assert "From: App Market <noreply@localhost>" in message["data"]
    assert "Subject: Reset your App Market password" in message["data"]
    assert inbox.logins == [(USER.encode(), True)]  # the URL's percent-encoded password was used
    link = re.search(r"http://localhost/reset/(\S+)", message["data"])
    assert link, message["data"]
    assert client.get(f"/reset/{link.group(1)}").status_code == 200
    assert companies.find_token("reset", link.group(1)).email == "anna@example.test"


def test_mail_from_setting_and_no_mail_for_unknown_accounts(app, auth, inbox):
    app.config["MAIL_FROM"] = "Market Support <support@market.example>"
    factories.user(email="anna@example.test")
    assert auth.post("/reset", {"email": "nobody@example.test"}).status_code == 303
    assert inbox.messages == []
    assert auth.post("/reset", {"email": "anna@example.test"}).status_code == 303
    assert inbox.messages[0]["from"] == "support@market.example"
    assert "From: Market Support <support@market.example>" in inbox.messages[0]["data"]


def test_a_down_mail_server_is_logged_and_the_reset_page_answers_the_same(app, auth, inbox, caplog):
    factories.user(email="anna@example.test")
    app.config["SMTP_URL"] = down_url()
    with caplog.at_level(logging.WARNING, logger="mail"):
        failed = auth.post("/reset", {"email": "anna@example.test"})
        unknown = auth.post("/reset", {"email": "nobody@example.test"})
    # The same answer as for an address without an account: no 500, and nothing to enumerate.
    assert failed.status_code == unknown.status_code == 303
    assert failed.headers["Location"] == unknown.headers["Location"]
    assert "anna@example.test" in caplog.text and "not sent" in caplog.text
    # Nothing secret in the log: no link, no token, no SMTP password.
    assert "/reset/" not in caplog.text and "Choose a new password" not in caplog.text
    assert PASSWORD not in caplog.text and QUOTED_PASSWORD not in caplog.text
    # The link that never went out does not stay usable.
    row = AccountToken.get(AccountToken.kind == "reset")
    assert row.used_at is not None


def test_an_invitation_that_cannot_be_sent_says_so_and_leaves_nothing_pending(app, client, auth, inbox):
    admin = factories.customer_admin(email="boss@example.test")
    assert auth.login("boss@example.test").status_code == 303
    working = app.config["SMTP_URL"]
    app.config["SMTP_URL"] = down_url()
    response = auth.post("/account/members/invite", {"email": "new@example.test", "role": "member"})
    assert response.status_code == 503
    assert "try again" in response.get_data(as_text=True)
    assert companies.pending_invitations(admin.company) == []
    app.config["SMTP_URL"] = working
    assert auth.post("/account/members/invite", {"email": "new@example.test", "role": "member"}).status_code == 303
    assert [m["to"] for m in inbox.messages] == [["new@example.test"]]
    assert len(companies.pending_invitations(admin.company)) == 1


def test_dunning_mail_failure_is_logged_not_raised(app, inbox, caplog):
    admin = factories.customer_admin(email="boss@example.test")
    factories.customer_admin(email="second@example.test", company_obj=admin.company)
    assert company_mail.tell_company_admins(app.config, admin.company, "Payment failed", "Update your card") == 2
    assert sorted(m["to"][0] for m in inbox.messages) == ["boss@example.test", "second@example.test"]
    broken = dict(app.config, SMTP_URL=down_url())
    with caplog.at_level(logging.WARNING, logger="mail"):
        assert company_mail.tell_company_admins(broken, admin.company, "Payment failed", "Update your card") == 0
    assert caplog.text.count("not sent") == 2 and "Update your card" not in caplog.text


def test_held_mail_goes_out_after_the_transaction_and_never_for_a_rolled_back_one(app, inbox):
    class Boom(Exception):
        pass

    with pytest.raises(Boom), mail.held_until_done(), db.atomic():
        mail.send_mail(app.config, "a@example.test", "Rolled back", "body")
        raise Boom()
    assert inbox.messages == []

    with mail.held_until_done(), db.atomic():
        mail.send_mail(app.config, "b@example.test", "Kept", "body")
        with mail.held_until_done():  # nested: the outer block sends
            mail.send_mail(app.config, "c@example.test", "Kept too", "body")
        assert inbox.messages == []  # not while the transaction is open
    assert [m["to"][0] for m in inbox.messages] == ["b@example.test", "c@example.test"]

    # A failure after the transaction committed is only logged.
    broken = dict(app.config, SMTP_URL=down_url())
    with mail.held_until_done():
        mail.send_mail(broken, "d@example.test", "Lost", "body")


def test_subject_newlines_cannot_add_headers(app, inbox):
    mail.send_mail(app.config, "a@example.test", "Hello\r\nBcc: victim@example.test", "body")
    data = inbox.messages[0]["data"]
    assert "\nBcc:" not in data and inbox.messages[0]["to"] == ["a@example.test"]


def test_smtp_url_forms():
    plain = mail.smtp_settings("smtp://u%40x:p%3Aw@mail.example")
    assert plain == {"host": "mail.example", "port": 587, "implicit_tls": False, "starttls": True,
                     "user": "u@x", "password": "p:w"}
    assert mail.smtp_settings("smtp://mail.example:2525?starttls=0")["starttls"] is False
    tls = mail.smtp_settings("smtps://u:p@mail.example")
    assert (tls["port"], tls["implicit_tls"], tls["starttls"]) == (465, True, False)
    for bad in ("http://mail.example", "smtp://", "mail.example:25", ""):
        with pytest.raises(ValueError):
            mail.smtp_settings(bad)


def production_env(monkeypatch):
    for name in config.SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SECRET_KEY", "s" * 40)
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_live_x")
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_x")
    monkeypatch.setenv("STRIPE_CONNECT_WEBHOOK_SECRET", "whsec_y")
    monkeypatch.setenv("PLATFORM_ORG_NUMBER", "559999-0017")
    monkeypatch.setenv("PLATFORM_VAT_NUMBER", "SE559999001701")
    monkeypatch.setenv("MARKET_URL", "https://market.example")


def test_production_needs_smtp_url_unless_mail_is_disabled_explicitly(monkeypatch):
    production_env(monkeypatch)
    with pytest.raises(RuntimeError, match="SMTP_URL"):
        config.load({"MARKET_ENV": "production"})
    monkeypatch.setenv("SMTP_URL", "ftp://mail.example")
    with pytest.raises(RuntimeError, match="SMTP_URL must look like"):
        config.load({"MARKET_ENV": "production"})
    monkeypatch.setenv("SMTP_URL", "smtps://u:p@mail.example:465")
    assert config.load({"MARKET_ENV": "production"})["SMTP_URL"] == "smtps://u:p@mail.example:465"
    monkeypatch.delenv("SMTP_URL")
    monkeypatch.setenv("MAIL_DISABLED", "1")
    settings = config.load({"MARKET_ENV": "production"})
    # Disabled means refused, never silently stored where nobody reads it.
    with pytest.raises(mail.MailNotConfigured):
        mail.send_mail(settings, "a@example.test", "Reset", "secret link")
