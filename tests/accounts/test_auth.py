"""Login, logout, sessions and throttling (QUALITY.md 24, 25, 27, 28)."""
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


def test_bumped_session_epoch_ends_old_cookies(client, auth, app):
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


def test_failed_logins_are_throttled_per_account(client, auth):
    factories.customer_admin(email="anna@example.test")
    for _ in range(5):
        assert auth.login("anna@example.test", "wrong").status_code == 401
    response = auth.login("anna@example.test")  # even the right password waits
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0


def test_throttle_is_not_a_permanent_lockout(client, auth, time_machine):
    import datetime

    factories.customer_admin(email="anna@example.test")
    time_machine.move_to(datetime.datetime(2026, 11, 29, 10, 0), tick=False)
    for _ in range(5):
        auth.login("anna@example.test", "wrong")
    assert auth.login("anna@example.test").status_code == 429
    time_machine.move_to(datetime.datetime(2026, 11, 29, 10, 16), tick=False)
    assert auth.login("anna@example.test").status_code == 303


def test_failed_logins_are_throttled_per_address(client, auth):
    for n in range(30):
        auth.login(f"nobody{n}@example.test", "wrong")
    factories.customer_admin(email="anna@example.test")
    assert auth.login("anna@example.test").status_code == 429


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
