"""Settings: defaults only where they are safe (DESIGN.md §4, §8)."""
import pytest

from market import config


def test_production_refuses_to_start_without_secrets(monkeypatch):
    for name in config.SETTINGS:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(RuntimeError) as error:
        config.load({"MARKET_ENV": "production"})
    for name in ("SECRET_KEY", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "STRIPE_CONNECT_WEBHOOK_SECRET",
                 "MARKET_URL", "PLATFORM_ORG_NUMBER", "PLATFORM_VAT_NUMBER"):
        assert name in str(error.value)


def test_production_takes_secrets_from_the_environment(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "s" * 40)
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_live_x")
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_a,whsec_b")
    monkeypatch.setenv("STRIPE_CONNECT_WEBHOOK_SECRET", "whsec_c")
    monkeypatch.setenv("MARKET_URL", "http://market.example")
    monkeypatch.setenv("PLATFORM_ORG_NUMBER", "556677-8899")
    monkeypatch.setenv("PLATFORM_VAT_NUMBER", "SE556677889901")
    with pytest.raises(RuntimeError):
        config.load({"MARKET_ENV": "production"})  # OAuth needs the https address
    monkeypatch.setenv("MARKET_URL", "https://market.example")
    monkeypatch.setenv("SMTP_URL", "smtps://mailer:pw@smtp.example:465")
    settings = config.load({"MARKET_ENV": "production"})
    assert settings["SECRET_KEY"] == "s" * 40
    assert settings["DEMO_CLIENT_SECRET"] is None  # no demo secret in production


def test_production_refuses_to_start_without_the_connect_webhook_secret(monkeypatch):
    """Issue O 5: the Connect endpoint has its own secret, which production must be given."""
    for name in config.SETTINGS:
        monkeypatch.delenv(name, raising=False)
    given = {"MARKET_ENV": "production", "SECRET_KEY": "s" * 40, "STRIPE_SECRET_KEY": "sk_live_x",
             "STRIPE_WEBHOOK_SECRET": "whsec_a", "MARKET_URL": "https://market.example", "MAIL_DISABLED": 1,
             "PLATFORM_ORG_NUMBER": "556677-8899", "PLATFORM_VAT_NUMBER": "SE556677889901"}
    with pytest.raises(RuntimeError) as error:
        config.load(given)
    assert "STRIPE_CONNECT_WEBHOOK_SECRET" in str(error.value)
    assert config.load({**given, "STRIPE_CONNECT_WEBHOOK_SECRET": "whsec_b"})["STRIPE_CONNECT_WEBHOOK_SECRET"] == "whsec_b"


def test_demo_has_defaults_and_contract_numbers(monkeypatch):
    for name in config.SETTINGS:
        monkeypatch.delenv(name, raising=False)
    settings = config.load({"MARKET_ENV": "demo"}, instance_path="/tmp/x")
    assert settings["SECRET_KEY"]
    assert settings["DATABASE_URL"].startswith("sqlite:///")
    expected = {"PLATFORM_FEE_PERCENT": 25, "VAT_PERCENT": 25, "OAUTH_CODE_TTL": 600,
                "OAUTH_ACCESS_TOKEN_TTL": 3600, "OAUTH_REFRESH_TOKEN_TTL": 3888000, "OAUTH_REFRESH_GRACE": 30,
                "BILLING_GRACE_DAYS": 7, "RECOMMEND_MIN_ACTIVE": 10, "RECOMMEND_MIN_RATING": 3.0}
    for name, value in expected.items():
        assert settings[name] == value


def test_environment_variables_are_typed(monkeypatch):
    monkeypatch.setenv("VAT_PERCENT", "0")
    monkeypatch.setenv("RECOMMEND_MIN_RATING", "3.25")
    settings = config.load({"MARKET_ENV": "test"})
    assert settings["VAT_PERCENT"] == 0 and settings["RECOMMEND_MIN_RATING"] == 3.25


def test_overrides_win_over_the_environment(monkeypatch):
    monkeypatch.setenv("VAT_PERCENT", "12")
    assert config.load({"MARKET_ENV": "test", "VAT_PERCENT": 0})["VAT_PERCENT"] == 0


def test_rating_threshold_with_more_than_two_decimals_is_refused(monkeypatch):
    monkeypatch.setenv("RECOMMEND_MIN_RATING", "3.333")
    with pytest.raises(ValueError):
        config.load({"MARKET_ENV": "test"})


def test_unknown_environment_is_refused():
    with pytest.raises(RuntimeError):
        config.load({"MARKET_ENV": "staging"})


def test_memory_sqlite_is_refused():
    from market.data import database

    with pytest.raises(RuntimeError):
        database.open_database("sqlite:///:memory:")


def test_production_app_sets_secure_cookies_and_hsts(monkeypatch, tmp_path):
    from app import create_app

    app = create_app({"MARKET_ENV": "production", "SECRET_KEY": "k" * 40, "STRIPE_SECRET_KEY": "sk_live_x",
                      "STRIPE_WEBHOOK_SECRET": "whsec_x", "STRIPE_CONNECT_WEBHOOK_SECRET": "whsec_y",
                      "DATABASE_URL": f"sqlite:///{tmp_path}/p.db",
                      "MARKET_URL": "https://market.example", "MAIL_DISABLED": 1,
                      "PLATFORM_ORG_NUMBER": "556677-8899", "PLATFORM_VAT_NUMBER": "SE556677889901"})
    assert app.config["SESSION_COOKIE_SECURE"] is True
    from market.data import database
    from models import db

    with db.connection_context():
        database.create_tables_for_tests(db)
    response = app.test_client().get("/healthz")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
