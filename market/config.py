"""Settings, read from the environment, in one table (DESIGN.md §8).

Every setting has an environment variable of the same name. `create_app(config)` lets a dict
override both. Only `demo` and `test` have default secrets: production refuses to start
without them, so a forgotten variable is an error at boot, never a guessable key.
"""
import os
import sys

ENVIRONMENTS = ("demo", "test", "production")

# name: (type, default, secret). A secret's default applies only in demo and test.
SETTINGS = {
    "MARKET_ENV": (str, None, False),
    "DATABASE_URL": (str, None, False),
    "SECRET_KEY": (str, "demo-secret-key-not-for-production", True),
    "MARKET_URL": (str, None, False),
    "STRIPE_SECRET_KEY": (str, "sk_test_demo_market", True),
    "STRIPE_PUBLISHABLE_KEY": (str, "pk_test_demo_market", False),
    "STRIPE_WEBHOOK_SECRET": (str, "whsec_demo_market", True),
    "STRIPE_CONNECT_WEBHOOK_SECRET": (str, "whsec_demo_market_connect", True),
    "STRIPE_API_BASE": (str, None, False),
    "PLATFORM_FEE_PERCENT": (int, 25, False),
    "VAT_PERCENT": (int, 25, False),
    # The platform as seller on receipts. Demo/test values only: production must be given its own.
    "PLATFORM_ORG_NUMBER": (str, "559999-0017", True),
    "PLATFORM_VAT_NUMBER": (str, "SE559999001701", True),
    "OAUTH_CODE_TTL": (int, 600, False),
    "OAUTH_ACCESS_TOKEN_TTL": (int, 3600, False),
    "OAUTH_REFRESH_TOKEN_TTL": (int, 3888000, False),
    "OAUTH_REFRESH_GRACE": (int, 30, False),
    "STRIPE_SANDBOX_DATA": (str, None, False),
    "BILLING_GRACE_DAYS": (int, 7, False),
    # Days between telling subscribers of a higher price and the date it applies (issue U).
    "PRICE_NOTICE_DAYS": (int, 30, False),
    # Money back (issue T): days after a subscription's first paid invoice in which its company's
    # admin may end it with a full refund; 0 turns it off.
    "REFUND_WINDOW_DAYS": (int, 14, False),
    "RECOMMEND_MIN_ACTIVE": (int, 10, False),
    "RECOMMEND_MIN_RATING": (float, 3.0, False),
    "RATELIMIT_STORAGE_URI": (str, None, False),
    # Not in the contract, but operators need them.
    "DEMO_CLIENT_SECRET": (str, "demo-secret", True),
    "TRUST_PROXY_HOPS": (int, 0, False),
    # Mail (market/outbound/mail.py). Without SMTP_URL, demo and test keep mail in the outbox (/dev/outbox).
    "SMTP_URL": (str, None, True),
    "MAIL_FROM": (str, None, False),
    "MAIL_DISABLED": (int, 0, False),
    # Outbound calls (market/outbound/http.py): exact origins scheme://host:port let through the
    # public-address check; for the demo's sample integration and tests only. Production refuses it.
    "OUTBOUND_ALLOWED_ORIGINS": (str, "", False),
    # Registrations per address and hour (issue N); then 429 with Retry-After.
    "REGISTRATION_LIMIT_PER_HOUR": (int, 10, False),
}

# Secrets production must be given explicitly.
REQUIRED_IN_PRODUCTION = ("SECRET_KEY", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET",
                          "STRIPE_CONNECT_WEBHOOK_SECRET", "PLATFORM_ORG_NUMBER", "PLATFORM_VAT_NUMBER")


def default_environment():
    """`python app.py` and `flask` mean demo; gunicorn means production."""
    if os.path.basename(sys.argv[0] or "").startswith("gunicorn"):
        return "production"
    return "demo"


def _convert(name, kind, raw):
    if kind is int:
        return int(raw)
    if kind is float:
        value = float(raw)
        if name == "RECOMMEND_MIN_RATING" and round(value * 100) != value * 100:
            # The exact integer comparison of DESIGN.md §3 needs at most two decimals.
            raise ValueError(f"{name} may have at most two decimals, got {raw!r}")
        return value
    return raw


def load(overrides=None, instance_path="instance"):
    """The settings for one app: environment, then `overrides`, then per-environment defaults."""
    overrides = dict(overrides or {})
    env = overrides.get("MARKET_ENV") or os.environ.get("MARKET_ENV") or default_environment()
    if env not in ENVIRONMENTS:
        raise RuntimeError(f"MARKET_ENV must be one of {ENVIRONMENTS}, not {env!r}")
    settings = {"MARKET_ENV": env}
    missing = []
    for name, (kind, default, secret) in SETTINGS.items():
        if name == "MARKET_ENV":
            continue
        if name in overrides:
            value = overrides[name]
        elif os.environ.get(name) not in (None, ""):
            value = _convert(name, kind, os.environ[name])
        elif secret and env == "production":
            value = None
            if name in REQUIRED_IN_PRODUCTION:
                missing.append(name)
        else:
            value = default
        settings[name] = value
    if env == "production" and not str(settings["MARKET_URL"] or "").startswith("https://"):
        # OAuth2 (Authlib) and Secure cookies need the public https address of the market.
        missing.append("MARKET_URL (https://...)")
    if env == "production" and not settings["SMTP_URL"] and not settings["MAIL_DISABLED"]:
        # Password reset and dunning mail must reach people; switching mail off is a choice.
        missing.append("SMTP_URL (or MAIL_DISABLED=1 to run without mail)")
    if settings["SMTP_URL"] and not str(settings["SMTP_URL"]).startswith(("smtp://", "smtps://")):
        raise RuntimeError("SMTP_URL must look like smtp://user:pass@host:587 or smtps://user:pass@host:465")
    if env == "production" and str(settings["OUTBOUND_ALLOWED_ORIGINS"] or "").strip():
        # The market calls only public https addresses in production; no exceptions.
        raise RuntimeError("OUTBOUND_ALLOWED_ORIGINS must be empty in production: it lets the market call "
                           "local addresses, for the demo and tests only")
    if missing:
        raise RuntimeError("production needs these settings in the environment: " + ", ".join(missing))
    if settings["DATABASE_URL"] is None:
        name = "market-test.db" if env == "test" else "market.db"
        settings["DATABASE_URL"] = "sqlite:///" + os.path.join(os.path.abspath(instance_path), name)
    if settings["STRIPE_SANDBOX_DATA"] is None:
        settings["STRIPE_SANDBOX_DATA"] = os.path.join(os.path.abspath(instance_path), "stripe-sandbox.json")
    # Uploaded app icons: a folder beside the database unless the caller chose one.
    settings.setdefault("ICON_DIR", overrides.get("ICON_DIR") or os.path.join(os.path.abspath(instance_path), "icons"))
    # Anything else the caller passed (Flask's own keys, test switches) goes through as given.
    for name, value in overrides.items():
        settings.setdefault(name, value)
    return settings
