"""Factories for test data (Warehouse style): each makes one valid row with overridable
fields. Every test builds exactly what it needs."""
import itertools

from market.accounts import auth as accounts
from models import App, AppStats, Category, Company, Developer, Plan, User, utcnow

_seq = itertools.count(1)
PASSWORD = "demo-pass-123"


def luhn_org_number(seed):
    """A Swedish org number (NNNNNN-NNNN) whose last digit is the Luhn check digit."""
    from market.accounts import companies

    return companies.org_number_from(f"{556000000 + seed:09d}"[-9:])


def company(**fields):
    n = next(_seq)
    fields.setdefault("name", f"Company {n} AB")
    fields.setdefault("org_number", luhn_org_number(n))
    fields.setdefault("industry", "construction")
    fields.setdefault("size", "10-49")
    return Company.create(**fields)


def developer(**fields):
    n = next(_seq)
    fields.setdefault("name", f"Vendor {n} AB")
    return Developer.create(**fields)


def user(email=None, password=PASSWORD, **fields):
    n = next(_seq)
    fields.setdefault("confirmed_at", utcnow())  # as the seed's and invited accounts are (issue N)
    fields.setdefault("language", "en")  # mail in the words the suite reads (issue Q)
    return User.create(email=email or f"user{n}@example.test",
                       password_hash=accounts.hash_password(password), **fields)


def customer_admin(email=None, company_obj=None, **fields):
    return user(email=email, company=company_obj or company(), company_role="admin", **fields)


def developer_user(email=None, developer_obj=None, **fields):
    return user(email=email, developer=developer_obj or developer(), **fields)


def category(slug=None, name=None):
    n = next(_seq)
    slug = slug or f"category-{n}"
    return Category.get_or_none(Category.slug == slug) or Category.create(slug=slug, name=name or slug.title())


def app_listing(developer_obj=None, price_ore=None, stats=True, **fields):
    """A published app; `price_ore` makes it paid with one plan."""
    n = next(_seq)
    fields.setdefault("slug", f"app-{n}")
    fields.setdefault("name", f"App {n}")
    fields.setdefault("tagline", f"Tagline of app {n}")
    fields.setdefault("description", f"Description of app {n}")
    fields.setdefault("description_html", f"<p>Description of app {n}</p>")
    fields.setdefault("status", "published")
    fields.setdefault("landing_url", f"https://app{n}.example.test/landing")
    fields.setdefault("published_at", utcnow())
    if "category" not in fields:
        fields["category"] = category("bookkeeping", "Bookkeeping")
    listing = App.create(developer=developer_obj or developer(), is_free=price_ore is None,
                         min_price_ore=price_ore or 0, **fields)
    if price_ore is not None:
        Plan.create(app=listing, name="Standard", price_ore=price_ore)
    if stats:
        AppStats.create(app=listing)
    __import__("market.catalog.store", fromlist=["_"]).index_app(listing)  # searchable like a published listing
    return listing


def oauth_client(app, redirect_uris="https://client.example.test/callback",
                 scopes="companyinformation customer invoice", secret="client-secret-for-tests",
                 is_public=False, client_id=None, secret_key="test-secret-key"):
    """The app's OAuthClient; returns (row, plain secret). `secret_key` must be the app's
    SECRET_KEY (the test configuration's by default)."""
    from market.core import credentials
    from models import OAuthClient

    row = OAuthClient.create(
        app=app, client_id=client_id or f"client-{next(_seq)}",
        client_secret_hash=None if is_public else credentials.hash_client_secret(secret_key, secret),
        redirect_uris=redirect_uris, scopes=scopes, is_public=is_public)
    return row, (None if is_public else secret)


# --- the platform API (issue F) ------------------------------------------------------------

def api_connection(company_obj, app_obj, scopes="companyinformation customer invoice", use_days=3, **fields):
    """A company's consented grant to an app, with the app's OAuth client made if it has none;
    used on `use_days` past days (a free app's verified customer has 3, DESIGN.md §3)."""
    from models import Connection, OAuthClient

    if OAuthClient.get_or_none(OAuthClient.app == app_obj) is None:
        OAuthClient.create(app=app_obj, client_id=f"client-{app_obj.slug}", scopes=scopes,
                           redirect_uris=f"https://{app_obj.slug}.example.test/callback")
    made = Connection.create(company=company_obj, app=app_obj, scopes=scopes, **fields)
    used_on_days(made, use_days)
    return made


def used_on_days(connection_obj, days):
    """The connection's API use on `days` different past days (models.ConnectionUseDay)."""
    import datetime

    from models import ConnectionUseDay

    today = utcnow().date()
    for back in range(days):
        ConnectionUseDay.create(connection=connection_obj, day=today - datetime.timedelta(days=back + 1))


def issue_token(connection_obj, scope=None, ttl=3600):
    """An access token for the connection, stored as the OAuth server stores it (hash only);
    returns the plain token. `ttl` may be negative for an expired one."""
    import datetime

    from market.core import credentials
    from models import OAuthClient, OAuthToken

    client = OAuthClient.get(OAuthClient.app == connection_obj.app_id)
    plain = credentials.new_token()
    now = utcnow()
    OAuthToken.create(client=client, connection=connection_obj, family=credentials.new_token(16),
                      access_token_hash=credentials.token_hash(plain),
                      scope=connection_obj.scopes if scope is None else scope,
                      issued_at=now, access_expires_at=now + datetime.timedelta(seconds=ttl))
    return plain


def company_customer(company_obj, **fields):
    from models import CompanyCustomer

    n = next(_seq)
    fields.setdefault("customer_number", str(n))
    fields.setdefault("name", f"Customer {n} of {company_obj.name}")
    fields.setdefault("email", f"customer{n}@example.test")
    fields.setdefault("city", "Göteborg")
    return CompanyCustomer.create(company=company_obj, **fields)


def company_invoice(company_obj, customer_obj=None, **fields):
    import datetime

    from models import CompanyInvoice

    n = next(_seq)
    fields.setdefault("document_number", str(n))
    fields.setdefault("invoice_date", datetime.date(2026, 1, 15))
    fields.setdefault("due_date", datetime.date(2026, 2, 14))
    fields.setdefault("total_ore", 123450)
    return CompanyInvoice.create(company=company_obj, customer=customer_obj or company_customer(company_obj),
                                 **fields)


def connection(company_obj, app, last_used_at=None, revoked_at=None, created_at=None, use_days=3, **fields):
    """The grant a company gave an app (issue I: ratings and stats), used on `use_days` past
    days (a free app's verified customer has 3, DESIGN.md §3)."""
    from models import Connection

    created_at = created_at or utcnow()
    made = Connection.create(company=company_obj, app=app, last_used_at=last_used_at, revoked_at=revoked_at,
                             created_at=created_at, consented_at=created_at, **fields)
    used_on_days(made, use_days)
    return made


def subscription(company_obj, app, status="active", **fields):
    """A subscription as billing would mirror it from Stripe (imported: no Stripe objects)."""
    from models import Subscription

    fields.setdefault("price_ore", app.min_price_ore)
    fields.setdefault("imported", True)
    return Subscription.create(company=company_obj, app=app, status=status, **fields)


# --- the dashboards (issue J) ---------------------------------------------------------------

def ledger_entry(app, company_obj=None, gross_ore=24875, moms_ore=4975, kind="payment", subscription_obj=None,
                 occurred_at=None, platform_fee_percent=25, **fields):
    """A ledger row as ledger.record_payment would write it (split by money.split); negative
    amounts make a refund or dispute reversal."""
    from market.core import money
    from models import LedgerEntry

    n = next(_seq)
    amounts = money.split(gross_ore, moms_ore, platform_fee_percent)
    return LedgerEntry.create(kind=kind, company=company_obj, app=app, developer=app.developer_id,
                              subscription=subscription_obj, stripe_ref=fields.pop("stripe_ref", f"in_test_{n}"),
                              stripe_invoice_id=fields.pop("stripe_invoice_id", f"in_test_{n}"),
                              occurred_at=occurred_at or utcnow(), **amounts, **fields)


def subscription_price_change(subscription_obj, price_ore, at):
    """A plan change as webhooks.apply_subscription mirrors it: the new monthly price and its
    MRR history row, at `at`."""
    from market.billing import history as subscription_history
    from models import Subscription

    Subscription.update(price_ore=price_ore, updated_at=at).where(Subscription.id == subscription_obj.id).execute()
    return subscription_history.record(Subscription.get_by_id(subscription_obj.id), at)
