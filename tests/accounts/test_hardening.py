"""Issue O (hardening): sessions on the server, invitations, account deletion; issue N's
registration confirmation. Each attack over HTTP, on both databases."""
import re

from models import (
    AccountToken,
    Company,
    Connection,
    LedgerEntry,
    LoginSession,
    OutboxMail,
    Subscription,
    User,
)
from tests import factories
from tests.conftest import AuthActions


def logged_in(client):
    return client.get("/account").status_code == 200


def invitation_link(to):
    body = OutboxMail.select().where(OutboxMail.to == to).order_by(OutboxMail.id.desc()).first().body
    return re.search(r"http://localhost(/invite/[A-Za-z0-9_\-]+)", body).group(1)


def register_company(app, email, org_seed):
    visitor = app.test_client()
    helper = AuthActions(app, visitor)
    visitor.get("/register")
    response = helper.post("/register", {"kind": "customer", "email": email, "password": "a-long-password",
                                         "name": "New", "company_name": f"New {org_seed} AB",
                                         "org_number": factories.luhn_org_number(org_seed),
                                         "industry": "it", "size": "1-9"})
    assert response.status_code == 303, response.get_data(as_text=True)
    return visitor


def test_a_removed_members_cookie_opens_nothing_after_a_new_registration(app, client, auth):
    """Finding 1: the removed member's id went to the next user and its cookie opened it."""
    admin = factories.customer_admin(email="boss@example.test")
    member = factories.user(email="member@example.test", company=admin.company_id, company_role="admin")
    removed = app.test_client()
    AuthActions(app, removed).login("member@example.test")
    cookie = removed.get_cookie("market_session").value
    auth.login("boss@example.test")
    assert auth.post(f"/account/members/{member.id}/remove").status_code == 303
    newcomer = register_company(app, "fresh@example.test", 777)
    assert logged_in(newcomer)
    fresh = User.get(User.email == "fresh@example.test")
    assert fresh.id != member.id  # ids are never reused, SQLite included
    stale = app.test_client()
    stale.set_cookie("market_session", cookie)
    assert not logged_in(stale)
    assert stale.get("/account/members").status_code in (302, 303)


def test_the_cookie_carries_a_secret_never_a_row_id(client, auth):
    user = factories.customer_admin(email="anna@example.test")
    auth.login("anna@example.test")
    with client.session_transaction() as sess:
        secret = sess["_user_id"]
    row = LoginSession.get(LoginSession.user == user.id)
    assert len(secret) >= 32 and str(user.id) != secret and row.public_id not in secret
    assert secret not in (row.secret_hash, str(row.id))


def test_logout_ends_the_session_on_the_server(app, client, auth):
    """Finding 2: a copied cookie kept working after its owner logged out."""
    factories.customer_admin(email="anna@example.test")
    auth.login("anna@example.test")
    copy = app.test_client()
    copy.set_cookie("market_session", client.get_cookie("market_session").value)
    assert logged_in(copy)
    auth.logout()
    assert not logged_in(copy)
    assert LoginSession.select().count() == 0


def test_no_session_row_before_login(client):
    assert "csrf_token" in client.get("/login").get_data(as_text=True)
    assert LoginSession.select().count() == 0


def test_account_lists_sessions_and_ends_one(app, client, auth):
    factories.customer_admin(email="anna@example.test")
    phone = app.test_client()
    phone.environ_base["HTTP_USER_AGENT"] = "Phone browser"
    AuthActions(app, phone).login("anna@example.test")
    auth.login("anna@example.test")
    page = client.get("/account").get_data(as_text=True)
    rows = re.findall(r'data-session="([^"]+)"', page)
    assert len(rows) == 2 and "Last seen" in page
    phone_row = LoginSession.get(LoginSession.device.contains("Phone"))
    assert phone_row.public_id in rows
    assert auth.post(f"/account/sessions/{phone_row.public_id}/end").status_code == 303
    assert not logged_in(phone) and logged_in(client)
    # Someone else's session cannot be ended (nor even named).
    other = factories.customer_admin(email="other@example.test")
    AuthActions(app, app.test_client()).login("other@example.test")
    theirs = LoginSession.get(LoginSession.user == other.id)
    assert auth.post(f"/account/sessions/{theirs.public_id}/end").status_code == 404
    assert LoginSession.get_or_none(LoginSession.id == theirs.id) is not None


def test_last_seen_is_written_at_most_every_five_minutes(client, auth, time_machine):
    import datetime

    factories.customer_admin(email="anna@example.test")
    time_machine.move_to(datetime.datetime(2026, 11, 29, 10, 0), tick=False)
    auth.login("anna@example.test")
    time_machine.move_to(datetime.datetime(2026, 11, 29, 10, 4), tick=False)
    client.get("/account")
    assert LoginSession.get().last_seen == datetime.datetime(2026, 11, 29, 10, 0)
    time_machine.move_to(datetime.datetime(2026, 11, 29, 10, 6), tick=False)
    client.get("/account")
    assert LoginSession.get().last_seen == datetime.datetime(2026, 11, 29, 10, 6)


def test_an_invitation_can_be_withdrawn(app, client, auth):
    """Finding 7, first half."""
    factories.customer_admin(email="boss@example.test")
    auth.login("boss@example.test")
    auth.post("/account/members/invite", {"email": "late@example.test", "role": "member"})
    path = invitation_link("late@example.test")
    invitation = AccountToken.get(AccountToken.kind == "invite")
    assert f'data-invitation="{invitation.id}"' in client.get("/account/members").get_data(as_text=True)
    assert auth.post(f"/account/members/invitations/{invitation.id}/withdraw").status_code == 303
    helper = AuthActions(app, app.test_client())
    response = helper.post(path, {"password": "a-long-password"})
    assert response.status_code == 400
    assert User.get_or_none(User.email == "late@example.test") is None
    # Another company's admin cannot withdraw it, nor a made-up id.
    assert auth.post("/account/members/invitations/99999/withdraw").status_code == 404


def test_an_admin_invitation_dies_with_its_senders_admin_role(app, client, auth):
    """Finding 7, second half: the demoted sender's admin invitation still worked."""
    boss = factories.customer_admin(email="boss@example.test")
    sender = factories.user(email="sender@example.test", company=boss.company_id, company_role="admin")
    sender_client = app.test_client()
    sender_auth = AuthActions(app, sender_client)
    sender_auth.login("sender@example.test")
    assert sender_auth.post("/account/members/invite", {"email": "new@example.test", "role": "admin"}).status_code == 303
    path = invitation_link("new@example.test")
    auth.login("boss@example.test")
    assert auth.post(f"/account/members/{sender.id}/role", {"role": "member"}).status_code == 303
    helper = AuthActions(app, app.test_client())
    response = helper.post(path, {"password": "a-long-password"})
    assert response.status_code == 400
    assert User.get_or_none(User.email == "new@example.test") is None


def test_deleting_an_account_needs_the_password_and_ends_its_sessions(app, client, auth):
    boss = factories.customer_admin(email="boss@example.test")
    factories.user(email="member@example.test", company=boss.company_id, company_role="member")
    member = AuthActions(app, client)
    member.login("member@example.test")
    other_device = app.test_client()
    AuthActions(app, other_device).login("member@example.test")
    assert member.post("/account/delete", {"password": "wrong-password"}).status_code == 422
    assert User.get_or_none(User.email == "member@example.test") is not None
    assert member.post("/account/delete", {"password": factories.PASSWORD}).status_code == 303
    assert User.get_or_none(User.email == "member@example.test") is None
    assert not logged_in(other_device) and not logged_in(client)
    assert Company.get_or_none(Company.id == boss.company_id) is not None  # a member leaves alone


def test_the_last_admin_deletes_the_company_but_the_ledger_stays(app, client, auth):
    boss = factories.customer_admin(email="boss@example.test")
    company_id = boss.company_id
    app_row = factories.app_listing(status="published")
    factories.connection(boss.company, app_row)
    subscription = factories.subscription(boss.company, app_row, imported=True)
    factories.ledger_entry(app_row, company_obj=boss.company, subscription_obj=subscription)
    from market.reviews import ratings
    from models import AppStats

    ratings.save_review(boss.company, boss, app_row, 5, "Fine")
    assert AppStats.get_by_id(app_row.id).rating_count == 1
    auth.login("boss@example.test")
    assert auth.post("/account/delete", {"password": factories.PASSWORD}).status_code == 303
    assert Company.get_or_none(Company.id == company_id) is None
    assert User.get_or_none(User.email == "boss@example.test") is None
    assert Connection.select().count() == 0 and Subscription.select().count() == 0
    ledger = LedgerEntry.get()
    assert ledger.company_id is None and ledger.gross_ore == 24875
    assert LoginSession.select().count() == 0
    assert not logged_in(client)
    assert AppStats.get_by_id(app_row.id).rating_count == 0  # its rating left the totals
    register_company(app, "next@example.test", 778)
    assert User.get(User.email == "next@example.test").company_id != company_id  # never reused


def test_review_reports_are_one_per_person_and_review_and_limited_per_day(client, auth):
    """Finding 8: reports were unlimited per user and review."""
    from market.reviews import ratings
    from models import ReviewReport, utcnow

    app_row = factories.app_listing(slug="hours", name="Hours")
    reviews = []
    for n in range(ratings.MAX_REPORTS_PER_DAY + 1):
        company = factories.company()
        writer = factories.customer_admin(email=f"writer{n}@example.test", company_obj=company)
        factories.connection(company, app_row, last_used_at=utcnow())
        reviews.append(ratings.save_review(company, writer, app_row, 1, f"Spam {n}")[0])
    factories.customer_admin(email="reader@example.test")
    auth.login("reader@example.test")
    assert auth.post(f"/reviews/{reviews[0].id}/report", {"reason": "Advertising"}).status_code == 303
    again = auth.post(f"/reviews/{reviews[0].id}/report", {"reason": "Advertising"})
    assert again.status_code == 409 and "already reported" in again.get_data(as_text=True)
    for review in reviews[1:-1]:
        assert auth.post(f"/reviews/{review.id}/report", {"reason": "Advertising"}).status_code == 303
    assert auth.post(f"/reviews/{reviews[-1].id}/report", {"reason": "Advertising"}).status_code == 429
    assert ReviewReport.select().count() == ratings.MAX_REPORTS_PER_DAY


def confirmation_link(to):
    body = OutboxMail.select().where(OutboxMail.to == to).order_by(OutboxMail.id.desc()).first().body
    return re.search(r"http://localhost(/register/confirm/[A-Za-z0-9_\-]+)", body).group(1)


def test_a_new_registration_confirms_its_address_before_it_may_act(app):
    """Issue N, Deliver 5 (registration): until confirmed, no buying, consent, rating or inviting;
    every page says so with a "send the link again" button; the link is single use."""
    visitor = register_company(app, "fresh@example.test", 901)
    helper = AuthActions(app, visitor)
    user = User.get(User.email == "fresh@example.test")
    assert user.confirmed_at is None and user.registered_from == "127.0.0.1"
    page = visitor.get("/account").get_data(as_text=True)
    assert "data-unconfirmed" in page and "Send the link again" in page
    paid = factories.app_listing(slug="paid-app", price_ore=9900)
    free = factories.app_listing(slug="free-app")
    factories.connection(user.company, free)  # a customer of it, who could otherwise rate it
    refused = [helper.post("/apps/paid-app/buy", {"plan": str(paid.plans[0].id)}),
               helper.post("/account/members/invite", {"email": "x@example.test", "role": "member"}),
               helper.post("/apps/free-app/reviews", {"stars": "5", "text": "Great"})]
    assert [r.status_code for r in refused] == [403, 403, 403]
    assert all("Confirm your email address" in r.get_data(as_text=True) for r in refused)
    assert AccountToken.select().where(AccountToken.kind == "invite").count() == 0
    assert free.reviews.count() == 0
    # Another link on request; the first still works, once.
    assert helper.post("/register/confirm-again").status_code == 303
    path = confirmation_link("fresh@example.test")
    assert visitor.get(path).status_code == 200 and User.get_by_id(user.id).confirmed_at is None  # GET shows a button
    assert helper.post(path).status_code == 303
    assert User.get_by_id(user.id).confirmed_at is not None
    assert helper.post(path).status_code == 400  # single use
    assert "data-unconfirmed" not in visitor.get("/account").get_data(as_text=True)
    assert helper.post("/account/members/invite", {"email": "x@example.test", "role": "member"}).status_code == 303


def test_an_unconfirmed_developer_cannot_submit_an_app(app):
    visitor = app.test_client()
    helper = AuthActions(app, visitor)
    visitor.get("/register")
    assert helper.post("/register", {"kind": "developer", "email": "dev@vendor.test", "password": "a-long-password",
                                     "vendor_name": "Vendor AB"}).status_code == 303
    user = User.get(User.email == "dev@vendor.test")
    listing = factories.app_listing(developer_obj=user.developer, slug="mine", status="draft")
    assert helper.post("/developer/apps/mine/submit").status_code == 403
    assert listing.__class__.get_by_id(listing.id).status == "draft"


def test_the_confirmation_link_expires_after_a_day(app, time_machine):
    import datetime

    time_machine.move_to(datetime.datetime(2026, 11, 29, 10, 0), tick=False)
    visitor = register_company(app, "fresh@example.test", 902)
    path = confirmation_link("fresh@example.test")
    time_machine.move_to(datetime.datetime(2026, 11, 30, 10, 1), tick=False)
    assert AuthActions(app, visitor).post(path).status_code == 400
    assert User.get(User.email == "fresh@example.test").confirmed_at is None


def test_an_accepted_invitation_confirms_the_address(app, auth):
    factories.customer_admin(email="boss@example.test")
    auth.login("boss@example.test")
    auth.post("/account/members/invite", {"email": "new@example.test", "role": "member"})
    helper = AuthActions(app, app.test_client())
    assert helper.post(invitation_link("new@example.test"), {"password": "a-long-password"}).status_code == 303
    assert User.get(User.email == "new@example.test").confirmed_at is not None


def test_registrations_are_limited_per_address_and_hour(app):
    app.config["REGISTRATION_LIMIT_PER_HOUR"] = 3
    for n in range(3):
        register_company(app, f"r{n}@example.test", 910 + n)
    visitor = app.test_client()
    visitor.get("/register")
    response = AuthActions(app, visitor).post("/register", {
        "kind": "customer", "email": "r9@example.test", "password": "a-long-password", "company_name": "R9 AB",
        "org_number": factories.luhn_org_number(919), "industry": "it", "size": "1-9"})
    assert response.status_code == 429 and 0 < int(response.headers["Retry-After"]) <= 3600
    assert User.get_or_none(User.email == "r9@example.test") is None


def test_an_unconfirmed_admin_cannot_consent(app):
    visitor = register_company(app, "fresh@example.test", 903)
    free = factories.app_listing(slug="free-app")
    client_row, _ = factories.oauth_client(free)
    response = visitor.get("/oauth-v1/auth", query_string={
        "client_id": client_row.client_id, "redirect_uri": "https://client.example.test/callback",
        "response_type": "code", "scope": "companyinformation", "state": "s1"})
    assert response.status_code == 403 and "Confirm your email address" in response.get_data(as_text=True)
    assert Connection.select().count() == 0


def test_migration_008_keeps_the_rows_and_sqlite_never_reuses_a_deleted_id(tmp_path):
    """On SQLite the rebuilt user and company tables keep every row and reference, and from
    then on a deleted highest id is never handed out again (finding 1's root)."""
    from peewee_migrate import Router

    from market.data import database
    from models import db
    from tests.data.test_migrations import _use

    engine = database.open_database(f"sqlite:///{tmp_path}/old.db")
    _use(engine)
    try:
        with db.connection_context():
            router = Router(db, migrate_dir=database.MIGRATIONS_DIR)
            router.run("004_pending_plan_change")
            db.execute_sql("INSERT INTO company (public_id, name, org_number, industry, size, show_name_in_reviews, "
                           "share_org_number, imported, created_at) VALUES ('p1', 'A', '1', 'it', '1-9', 0, 0, 0, "
                           "'2026-01-01 00:00:00')")
            for email in ("a@x.test", "b@x.test"):
                db.execute_sql("INSERT INTO user (email, password_hash, name, company_id, company_role, "
                               "is_platform_admin, session_epoch, created_at) VALUES (?, 'h', '', 1, 'admin', 0, 0, "
                               "'2026-01-01 00:00:00')", (email,))
            router.run()
            assert [(u.id, u.email, u.company_id, u.confirmed_at is not None)
                    for u in User.select().order_by(User.id)] == [(1, "a@x.test", 1, True), (2, "b@x.test", 1, True)]
            User.delete().where(User.id == 2).execute()
            newcomer = User.create(email="c@x.test", password_hash="h", company=1, company_role="member")
            assert newcomer.id == 3
            assert db.execute_sql("PRAGMA foreign_key_check").fetchall() == []
    finally:
        engine.close_all()
