"""Issue 17, attack 8 and Deliver 5 (ratings): only a verified customer (DESIGN.md §3) rates,
only its rating counts and only it is an active customer for Recommended; a full refund takes
the company's rating out; the admin sees ratings that arrived in bursts and removes them."""
import datetime
import re

from market.billing import ledger
from market.jobs import rebuild
from market.reviews import bursts, customers
from models import AppStats, Company, Connection, Review, User, utcnow
from tests import factories
from tests.oauth.test_oauth_support import REDIRECT_URI, SECRET, basic, query_of

PASSWORD = "long-enough-pw"


def _register_customer(auth, n, address="192.0.2.50"):
    email = f"buyer{n}@sock.test"
    response = auth.post("/register", {"kind": "customer", "email": email, "password": PASSWORD, "name": f"Sock {n}",
                                       "company_name": f"Sock {n} AB", "org_number": factories.luhn_org_number(5000 + n),
                                       "industry": "construction", "size": "1-9"},
                         environ_base={"REMOTE_ADDR": address})
    assert response.status_code == 303
    assert Company.get(Company.name == f"Sock {n} AB").registered_from == address
    if "confirmed_at" in User._meta.fields:
        # Each confirms its address (a fresh address is easy to have): not what stops the burst.
        User.update(confirmed_at=utcnow()).where(User.email == email).execute()
    auth.logout()
    return email


def _connect_and_call(client, auth, email, listing):
    """Log in, consent over HTTP, redeem the code and call the API once (one day of use)."""
    auth.logout()
    login = auth.login(email, PASSWORD)
    assert login.status_code == 303, login.get_data(as_text=True)[-2000:]
    query = {"response_type": "code", "client_id": "new-app", "redirect_uri": REDIRECT_URI,
             "scope": "companyinformation", "state": "s"}
    assert client.get("/oauth-v1/auth", query_string=query).status_code == 200
    allowed = auth.post("/oauth-v1/auth", data={"decision": "allow"}, query_string=query)
    code = query_of(allowed.headers["Location"])["code"]
    token = client.post("/oauth-v1/token", data={"grant_type": "authorization_code", "code": code,
                                                 "redirect_uri": REDIRECT_URI},
                        headers=basic("new-app", SECRET)).get_json()["access_token"]
    assert client.get("/api/v1/companyinformation", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def _recommended(client):
    return re.findall(r'data-app="([^"]+)"', client.get("/recommended").get_data(as_text=True))


def test_ten_fresh_companies_rating_a_new_app_do_not_make_it_recommended(app, client, auth):
    listing = factories.app_listing(slug="brand-new")
    factories.oauth_client(listing, client_id="new-app", secret=SECRET, scopes="companyinformation")
    emails = [_register_customer(auth, n) for n in range(10)]
    for email in emails:
        _connect_and_call(client, auth, email, listing)
        refused = auth.post("/apps/brand-new/reviews", {"stars": "5", "text": "Amazing"})
        assert refused.status_code == 403
    stats = AppStats.get_by_id(listing.id)
    assert (stats.rating_count, stats.active_customers) == (0, 0)
    auth.logout()
    assert "brand-new" not in _recommended(client)

    # The same companies, having used the app on three days, are verified: their ratings count
    # and the app qualifies (the rule is not "never").
    for connection in Connection.select().where(Connection.app == listing):
        factories.used_on_days(connection, 2)
    for email in emails:
        auth.logout()
        auth.login(email, PASSWORD)
        assert auth.post("/apps/brand-new/reviews", {"stars": "5", "text": "Amazing"}).status_code == 303
    auth.logout()
    rebuild.rebuild_everything(7)
    stats = AppStats.get_by_id(listing.id)
    assert (stats.rating_count, stats.active_customers) == (10, 10)
    assert "brand-new" in _recommended(client)

    # They registered together from one address: the admin sees the burst and removes it.
    factories.user(email="root@market.test", is_platform_admin=True)
    auth.login("root@market.test")
    page = client.get("/admin/reports").get_data(as_text=True)
    found = re.search(r'data-burst="([^"]+)" data-app="brand-new" data-ratings="10"', page)
    assert found, page
    assert auth.post("/admin/reports/bursts/remove", {"burst": found.group(1)}).status_code == 303
    assert AppStats.get_by_id(listing.id).rating_count == 0
    assert Review.select().where(Review.removed_at.is_null()).count() == 0
    assert 'data-app="brand-new" data-ratings' not in client.get("/admin/reports").get_data(as_text=True)
    auth.logout()
    assert "brand-new" not in _recommended(client)


def test_the_burst_page_is_for_admins_only_and_remove_needs_csrf(client, auth):
    assert client.get("/admin/reports").status_code in (302, 303, 403)
    customer = factories.customer_admin(email="c@example.test")
    auth.login(customer.email)
    assert client.get("/admin/reports").status_code in (403, 404)
    assert auth.post("/admin/reports/bursts/remove", {"burst": "1-1"}).status_code in (403, 404)
    auth.logout()
    factories.user(email="root@market.test", is_platform_admin=True)
    auth.login("root@market.test")
    assert client.post("/admin/reports/bursts/remove", data={"burst": "1-1"}).status_code == 400
    assert auth.post("/admin/reports/bursts/remove", {"burst": "no-such"}).status_code == 404


def test_companies_registered_apart_from_many_addresses_are_no_burst(app):
    listing = factories.app_listing()
    now = utcnow()
    for n in range(4):
        company = factories.company(registered_from=f"198.51.100.{n}",
                                    created_at=now - datetime.timedelta(days=10 * (n + 1)))
        factories.connection(company, listing, last_used_at=now)
        Review.create(company=company, app=listing, stars=5)
    assert bursts.suspected_bursts() == []


def test_a_full_refund_takes_the_companys_rating_out_of_the_totals(app, client, auth):
    listing = factories.app_listing(price_ore=19900)
    buyer = factories.customer_admin(email="payer@example.test")
    factories.subscription(buyer.company, listing, imported=False)
    payment = factories.ledger_entry(listing, buyer.company, stripe_charge_id="ch_1")
    factories.connection(buyer.company, listing, last_used_at=utcnow())
    assert customers.is_verified_customer(buyer.company, listing)
    auth.login(buyer.email)
    assert auth.post(f"/apps/{listing.slug}/reviews", {"stars": "4", "text": "Good"}).status_code == 303
    assert AppStats.get_by_id(listing.id).rating_count == 1
    ledger.record_reversal("refund", payment, 10000, "re_part", utcnow())
    assert AppStats.get_by_id(listing.id).rating_count == 1  # a part refund: still paid
    rest = ledger.record_reversal("refund", payment, payment.gross_ore, "re_rest", utcnow())
    assert AppStats.get_by_id(listing.id).rating_count == 0
    assert not customers.is_verified_customer(buyer.company, listing)
    assert auth.post(f"/apps/{listing.slug}/reviews", {"stars": "5", "text": "x"}).status_code == 403
    rebuild.rebuild_everything(7)
    assert AppStats.get_by_id(listing.id).rating_count == 0
    # The last refund failed: the payment stands, and so does the rating.
    ledger.undo_reversal(rest, "failed", utcnow())
    assert customers.is_verified_customer(buyer.company, listing)
    assert AppStats.get_by_id(listing.id).rating_count == 1


def test_a_trial_that_never_paid_is_no_verified_customer(app):
    listing = factories.app_listing(price_ore=19900)
    company = factories.company()
    factories.subscription(company, listing, status="trialing", imported=False)
    factories.connection(company, listing, last_used_at=utcnow())
    assert not customers.is_verified_customer(company, listing)
    imported = factories.company()
    factories.subscription(imported, listing, status="active")  # imported history counts as paid
    assert customers.is_verified_customer(imported, listing)
    assert not customers.is_verified_customer(Company.create(name="T (test)", org_number="TEST-999", industry="it",
                                                             size="1-9", test_of_developer=listing.developer_id),
                                              listing)
