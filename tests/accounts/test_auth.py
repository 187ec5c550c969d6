"""Login, logout, sessions and throttling (QUALITY.md 24, 25, 27, 28; issue O)."""
import datetime

import pytest

from tests import factories


def test_login_page_has_csrf_field(client):
    page = client.get("/login").get_data(as_text=True)
    assert 'name="csrf_token"' in page
    assert 'name="email"' in page and 'name="password"' in page


def test_login_and_logout(client, auth):
    factories.customer_admin(email="anna@example.test")
    response = auth.login("anna@example.test")
    assert response.status_code == 303
    assert client.get("/healthz").status_code == 200
    with client.session_transaction() as sess:
        assert sess.get("_user_id", "").startswith(str(1)) or sess.get("_user_id")
    auth.logout()
    with client.session_transaction() as sess:
        assert "_user_id" not in sess


def test_wrong_password_is_refused(client, auth):
    factories.customer_admin(email="anna@example.test")
    response = auth.login("anna@example.test", "wrong-password")
    assert response.status_code == 401
    assert "do not match" in response.get_data(as_text=True)
    with client.session_transaction() as sess:
        assert "_user_id" not in sess


def test_login_without_csrf_token_is_refused(client):
    factories.customer_admin(email="anna@example.test")
    response = client.post("/login", data={"email": "anna@example.test", "password": "demo-pass-123"})
    assert response.status_code == 400
    with client.session_transaction() as sess:
        assert "_user_id" not in sess


def test_login_regenerates_the_session(client, auth):
    factories.customer_admin(email="anna@example.test")
    with client.session_transaction() as sess:
        sess["planted"] = "by an attacker"
    auth.login("anna@example.test")
    with client.session_transaction() as sess:
        assert "planted" not in sess
        assert sess.get("_user_id")


def test_ended_sessions_end_old_cookies(client, auth, app):
    """This replaces QUALITY.md 25's session epoch: log out everywhere deletes the rows."""
    from market.accounts import auth as accounts
    from models import User

    factories.customer_admin(email="anna@example.test")
    auth.login("anna@example.test")
    cookie = client.get_cookie("market_session").value
    accounts.end_all_sessions(User.get(User.email == "anna@example.test"))
    other = app.test_client()
    other.set_cookie("market_session", cookie)
    # The old cookie no longer logs anyone in: /login shows the form instead of redirecting.
    assert other.get("/login").status_code == 200


def test_session_cookie_flags(client, auth):
    factories.customer_admin(email="anna@example.test")
    response = auth.login("anna@example.test")
    header = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("market_session=")][0]
    assert "HttpOnly" in header and "SameSite=Lax" in header
    assert "Secure" not in header  # only in production


def test_failed_logins_are_throttled_per_account(client, auth, time_machine):
    factories.customer_admin(email="anna@example.test")
    moment = datetime.datetime(2026, 11, 29, 10, 0)
    for _ in range(5):
        time_machine.move_to(moment, tick=False)
        assert auth.login("anna@example.test", "wrong").status_code == 401
        moment += datetime.timedelta(seconds=3)
    response = auth.login("anna@example.test")  # even the right password waits, a little
    assert response.status_code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 2


def test_throttle_is_not_a_permanent_lockout(client, auth, time_machine):
    factories.customer_admin(email="anna@example.test")
    moment = datetime.datetime(2026, 11, 29, 10, 0)
    for _ in range(5):
        time_machine.move_to(moment, tick=False)
        auth.login("anna@example.test", "wrong")
        moment += datetime.timedelta(seconds=3)
    assert auth.login("anna@example.test").status_code == 429
    time_machine.move_to(datetime.datetime(2026, 11, 29, 10, 16), tick=False)
    assert auth.login("anna@example.test").status_code == 303


def test_the_wait_per_account_and_address_doubles_up_to_a_minute(client, auth, time_machine):
    """Issue O, finding 3: waits of 1, 2, 4 ... 60 s, never a lock-out, and the worker never
    sleeps (the answer comes at once, with Retry-After)."""
    factories.customer_admin(email="anna@example.test")
    moment = datetime.datetime(2026, 11, 29, 10, 0)
    waits = []
    for _ in range(13):
        time_machine.move_to(moment, tick=False)
        assert auth.login("anna@example.test", "wrong").status_code == 401
        response = auth.login("anna@example.test", "wrong")  # at once, from the same address
        assert response.status_code == 429
        waits.append(int(response.headers["Retry-After"]))
        moment += datetime.timedelta(seconds=max(waits[-1], 2))  # the account's 2 s spacing too
    assert waits[:4] == [2, 2, 2, 2]  # the first five are free but for the 2 s spacing
    waits = waits[4:]
    assert waits[:6] == [1, 2, 4, 8, 16, 32] and set(waits[6:]) == {60}


def test_an_attacker_elsewhere_cannot_lock_the_owner_out(app, client, auth, time_machine):
    """Issue O, finding 3: five wrong passwords every 15 minutes used to lock an account for
    good. Now the owner, from another address, waits at most a few seconds."""
    from tests.conftest import AuthActions, form_csrf

    factories.customer_admin(email="anna@example.test")
    attacker = app.test_client()
    moment = datetime.datetime(2026, 11, 29, 10, 0)
    for n in range(40):
        time_machine.move_to(moment, tick=False)
        page = attacker.get("/login", environ_base={"REMOTE_ADDR": f"203.0.113.{n % 4}"})
        attacker.post("/login", data={"email": "anna@example.test", "password": f"guess-{n}",
                                      "csrf_token": form_csrf(page.get_data(as_text=True))},
                      environ_base={"REMOTE_ADDR": f"203.0.113.{n % 4}"})
        moment += datetime.timedelta(seconds=1)
    time_machine.move_to(moment, tick=False)
    response = AuthActions(app, client).login("anna@example.test")
    if response.status_code == 429:
        assert int(response.headers["Retry-After"]) <= 5
        time_machine.move_to(moment + datetime.timedelta(seconds=int(response.headers["Retry-After"])), tick=False)
        response = AuthActions(app, client).login("anna@example.test")
    assert response.status_code == 303


def test_an_account_takes_one_failed_attempt_per_two_seconds_across_addresses(app, time_machine):
    from tests.conftest import form_csrf

    factories.customer_admin(email="anna@example.test")
    time_machine.move_to(datetime.datetime(2026, 11, 29, 10, 0), tick=False)
    answers = []
    for n in range(3):
        other = app.test_client()
        address = {"REMOTE_ADDR": f"198.51.100.{n}"}
        token = form_csrf(other.get("/login", environ_base=address).get_data(as_text=True))
        answers.append(other.post("/login", data={"email": "anna@example.test", "password": "wrong",
                                                  "csrf_token": token}, environ_base=address))
    assert [a.status_code for a in answers] == [401, 429, 429]
    assert answers[1].headers["Retry-After"] == "2"


def test_password_reset_works_while_logins_are_throttled(client, auth, time_machine):
    from market.accounts import companies
    from models import AccountToken

    factories.customer_admin(email="anna@example.test")
    time_machine.move_to(datetime.datetime(2026, 11, 29, 10, 0), tick=False)
    auth.login("anna@example.test", "wrong")
    assert auth.login("anna@example.test").status_code == 429
    raw = companies.request_password_reset(client.application.config, "anna@example.test")
    assert AccountToken.select().count() == 1
    response = auth.post(f"/reset/{raw}", {"password": "a-new-password-1"})
    assert response.status_code == 303


def test_failed_logins_are_throttled_per_address(client, auth, time_machine):
    moment = datetime.datetime(2026, 11, 29, 10, 0)
    for n in range(30):
        time_machine.move_to(moment + datetime.timedelta(seconds=n), tick=False)
        auth.login(f"nobody{n}@example.test", "wrong")
    factories.customer_admin(email="anna@example.test")
    response = auth.login("anna@example.test")
    assert response.status_code == 429 and int(response.headers["Retry-After"]) > 60


@pytest.mark.parametrize("target", ["https://evil.test/", "//evil.test", "/\\evil.test", "javascript:alert(1)",
                                    "/\t/evil.test"])
def test_next_only_to_local_paths(client, auth, target):
    factories.customer_admin(email="anna@example.test")
    page = client.get("/login")
    from tests.conftest import form_csrf

    token = form_csrf(page.get_data(as_text=True))
    response = client.post("/login", query_string={"next": target},
                           data={"email": "anna@example.test", "password": "demo-pass-123", "csrf_token": token})
    assert response.status_code == 303
    assert response.headers["Location"] == "/"


def test_next_keeps_a_local_path(client):
    factories.customer_admin(email="anna@example.test")
    from tests.conftest import form_csrf

    token = form_csrf(client.get("/login").get_data(as_text=True))
    response = client.post("/login?next=/apps/x%3Fy", data={"email": "anna@example.test",
                                                            "password": "demo-pass-123", "csrf_token": token})
    assert response.headers["Location"] == "/apps/x?y"


def test_security_headers_on_pages_and_errors(client):
    for path in ("/login", "/healthz", "/no-such-page"):
        response = client.get(path)
        csp = response.headers["Content-Security-Policy"]
        for part in ("object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'", "script-src 'self'"):
            assert part in csp
        assert "unsafe-eval" not in csp and "unsafe-inline" not in csp and "form-action" not in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
        assert "Strict-Transport-Security" not in response.headers


def test_unknown_page_is_a_friendly_404(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert "Not found" in response.get_data(as_text=True)


def test_passwords_are_argon2id():
    from market.accounts import auth as accounts

    accounts.configure_hasher(cheap=False)
    try:
        assert accounts.hash_password("x").startswith("$argon2id$")
    finally:
        accounts.configure_hasher(cheap=True)
