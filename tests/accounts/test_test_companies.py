"""Issue 17, Deliver 1: every developer has a test company ("<vendor> (test)", the developer its
only admin). It is never billed and cannot Buy, is entitled to its developer's own apps only,
and is never a customer: no rating, no active customer, no stats, dashboard, ledger or
Recommended."""
import datetime
import importlib

from market.accounts import companies
from market.jobs import rebuild
from market.stats import app_stats
from models import AppStats, CheckoutAttempt, Company, CoUsage, SegmentUsage, User, db, utcnow
from tests import factories
from tests.accounts.test_hardening import confirmation_link

PASSWORD = "long-enough-pw"


def _register_developer(auth, email="dev@vendor.test", vendor="Vendor AB"):
    response = auth.post("/register", {"kind": "developer", "email": email, "password": PASSWORD,
                                       "vendor_name": vendor}, environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert response.status_code == 303
    assert auth.post(confirmation_link(email)).status_code == 303  # its address confirmed
    return User.get(User.email == email)


def test_registration_gives_the_developer_a_test_company_it_alone_administers(client, auth):
    user = _register_developer(auth)
    company = Company.get(Company.test_of_developer == user.developer_id)
    assert (company.name, company.org_number) == ("Vendor AB (test)", f"TEST-{user.developer_id}")
    assert company.registered_from == "198.51.100.7"
    assert [(u.id, u.company_role) for u in company.users] == [(user.id, "admin")]
    # Made once: asking again gives the same company.
    assert companies.create_test_company(user.developer).id == company.id


def test_a_customer_registration_keeps_its_address(client, auth):
    response = auth.post("/register", {"kind": "customer", "email": "c@customer.test", "password": PASSWORD,
                                       "company_name": "Kund AB", "org_number": factories.luhn_org_number(777),
                                       "industry": "construction", "size": "1-9"},
                         environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert response.status_code == 303
    assert Company.get(Company.name == "Kund AB").registered_from == "203.0.113.9"


def test_a_test_company_cannot_buy_and_nothing_is_charged(client, auth):
    user = _register_developer(auth)
    own = factories.app_listing(developer_obj=user.developer, price_ore=19900)
    other = factories.app_listing(developer_obj=factories.developer(payouts_enabled=True, stripe_account_id="acct_x"),
                                  price_ore=19900)
    for listing in (own, other):
        response = auth.post(f"/apps/{listing.slug}/buy")
        assert 400 <= response.status_code < 500
        assert "test company is never billed" in response.get_data(as_text=True)
    assert CheckoutAttempt.select().count() == 0
    assert Company.get(Company.test_of_developer == user.developer_id).stripe_customer_id is None


def test_a_test_company_is_entitled_to_its_developers_apps_only(client, auth):
    user = _register_developer(auth)
    own_paid = factories.app_listing(developer_obj=user.developer, price_ore=19900)
    foreign_free = factories.app_listing()
    factories.oauth_client(own_paid, client_id="own-paid")
    factories.oauth_client(foreign_free, client_id="foreign-free")
    own_response = auth.post(f"/apps/{own_paid.slug}/activate")
    assert own_response.status_code == 303 and own_response.headers["Location"].startswith(own_paid.landing_url)
    foreign = auth.post(f"/apps/{foreign_free.slug}/activate")
    assert foreign.status_code == 403
    assert "only its own developer" in foreign.get_data(as_text=True)


def test_a_test_company_is_no_customer_anywhere(app, client, auth):
    user = _register_developer(auth)
    test_company = Company.get(Company.test_of_developer == user.developer_id)
    listing = factories.app_listing(developer_obj=user.developer)
    other = factories.app_listing(developer_obj=user.developer)
    for used in (listing, other):
        factories.connection(test_company, used, last_used_at=utcnow(), use_days=5)
    # It may not rate its own app: a test company is never a verified customer.
    response = auth.post(f"/apps/{listing.slug}/reviews", {"stars": "5", "text": "Best app ever"})
    assert response.status_code == 403
    app_stats.refresh_app(listing.id, grace_days=7)
    assert AppStats.get_by_id(listing.id).active_customers == 0
    rebuild.rebuild_everything(7)
    row = AppStats.get_by_id(listing.id)
    assert (row.active_customers, row.new_customers_30d, row.rating_count) == (0, 0, 0)
    assert CoUsage.select().count() == 0
    assert not SegmentUsage.select().where(SegmentUsage.industry == test_company.industry,
                                           SegmentUsage.size == test_company.size).exists()
    # The developer's customer list and dashboard figures leave it out.
    csv = client.get("/developer/export/customers.csv").get_data(as_text=True)
    assert "(test)" not in csv
    assert client.get("/developer").status_code == 200


def test_migration_005_gives_every_existing_developer_a_test_company(app):
    migration = importlib.import_module("migrations.005_trust")  # a name no import statement can spell
    developer = factories.developer(name="Old Vendor AB")
    old_user = factories.developer_user(email="old@vendor.test", developer_obj=developer)
    migration.give_developers_test_companies(db.obj)
    company = Company.get(Company.test_of_developer == developer)
    assert (company.name, company.org_number) == ("Old Vendor AB (test)", f"TEST-{developer.id}")
    assert User.get_by_id(old_user.id).company_id == company.id
    migration.give_developers_test_companies(db.obj)  # run again: nothing more
    assert Company.select().where(Company.test_of_developer == developer).count() == 1
    assert company.created_at <= utcnow() + datetime.timedelta(seconds=1)
