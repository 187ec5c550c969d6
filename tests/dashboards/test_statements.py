"""Monthly statements (issue U item 4) from hand-made ledger rows: Stockholm calendar months,
the exact CSV, the org number only with the company's consent, totals equal to the ledger and
the dashboard, a month closing at 00:00 on the 3rd and never changing after, a late refund booked
in the open month naming its invoice, and bad month strings and other developers' apps → 404."""
import csv
import datetime
import io

import pytest

from market.billing import ledger
from market.dashboards import figures, statements
from models import Company, LedgerEntry, StatementMonth
from tests import factories

HEADER = ("date;kind;company;org_number;app;plan;invoice;net_ore;moms_ore;gross_ore;platform_fee_ore;"
          "developer_share_ore;stripe_fee_ore")
UTC = datetime.UTC


def at(time_machine, *args):
    time_machine.move_to(datetime.datetime(*args, tzinfo=UTC), tick=False)


def parse(response):
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.mimetype == "text/csv" and "charset=utf-8" in response.headers["Content-Type"]
    text = response.get_data().decode("utf-8")
    assert text.splitlines()[0] == HEADER
    return list(csv.DictReader(io.StringIO(text), delimiter=";"))


def ledger_sums(rows):
    names = ("net_ore", "moms_ore", "gross_ore", "platform_fee_ore", "developer_share_ore")
    kinds = ("payment", "refund", "dispute")
    return {name: sum(int(r[name]) for r in rows if r["kind"] in kinds) for name in names}


def as_ledger(totals):
    return {"net_ore": totals["net"], "moms_ore": totals["moms"], "gross_ore": totals["gross"],
            "platform_fee_ore": totals["platform"], "developer_share_ore": totals["developer"]}


@pytest.fixture
def shop(app):
    owner = factories.developer_user(email="owner@example.test")
    listing = factories.app_listing(developer_obj=owner.developer, price_ore=19900, slug="books", name="Books")
    agreed = factories.company(name="Agreed AB", share_org_number=True)
    private = factories.company(name="Private AB", share_org_number=False)
    rival = factories.developer_user(email="rival@example.test")
    factories.app_listing(developer_obj=rival.developer, slug="rival-app", name="Rival")
    return {"owner": owner, "app": listing, "agreed": agreed, "private": private}


def test_bad_month_strings_and_other_developers_apps_are_not_found(shop, auth, client):
    auth.login("owner@example.test")
    for name in ("2026-13", "2026-00", "2026-1", "2026-012", "20261-01", "abcd-ef", "1999-12", "2101-01",
                 "2026-12.pdf", "2026-12.csv.csv", "2026-12 ", "%00", "2026-12%00", "x" * 500, "2026_12",
                 "２０２６-１２", "2026-13.csv", ".csv", "-2026-12"):
        response = client.get(f"/developer/statements/{name}")
        assert response.status_code == 404, name
    assert client.get("/developer/statements/2026-12?app=rival-app").status_code == 404
    assert client.get("/developer/statements/2026-12.csv?app=rival-app").status_code == 404
    assert client.get("/developer/statements/2026-12?app=books").status_code == 200
    assert StatementMonth.select().count() == 0


def test_not_developers_are_refused(shop, auth, client):
    assert client.get("/developer/statements/2026-12.csv").status_code in (302, 303)
    factories.customer_admin(email="buyer@example.test")
    auth.login("buyer@example.test")
    assert client.get("/developer/statements").status_code == 403
    assert client.get("/developer/statements/2026-12.csv").status_code == 403


def test_a_month_reconciles_closes_and_never_changes(shop, auth, client, time_machine):
    listing, agreed, private = shop["app"], shop["agreed"], shop["private"]
    developer = listing.developer_id
    at(time_machine, 2026, 11, 20, 12, 0)
    paid = factories.ledger_entry(listing, agreed, stripe_fee_ore=9950, stripe_charge_id="ch_1")
    factories.ledger_entry(listing, private, gross_ore=12345, moms_ore=2469, stripe_fee_ore=4938,
                           stripe_charge_id="ch_2")
    # 00:30 on 1 December in Stockholm is still 30 November in UTC: it is December's.
    factories.ledger_entry(listing, private, occurred_at=datetime.datetime(2026, 11, 30, 23, 30),
                           stripe_fee_ore=9950, stripe_invoice_id="in_december", stripe_ref="in_december")
    # Another developer's money is never on the statement.
    rival_app = factories.app_listing(slug="elsewhere")
    factories.ledger_entry(rival_app, agreed, gross_ore=99999, moms_ore=20000)

    # 23:30 on 2 December in Stockholm: November is still open.
    at(time_machine, 2026, 12, 2, 22, 30)
    auth.login("owner@example.test")
    listing_page = client.get("/developer/statements").get_data(as_text=True)
    assert 'data-month="2026-11"' in listing_page and 'data-month="2026-12"' in listing_page
    rows = parse(client.get("/developer/statements/2026-11.csv"))
    assert [(r["kind"], r["company"], r["org_number"]) for r in rows] == [
        ("payment", "Agreed AB", agreed.org_number), ("payment", "Private AB", ""),
        ("transfer", "Agreed AB", agreed.org_number), ("application_fee", "Agreed AB", agreed.org_number),
        ("transfer", "Private AB", ""), ("application_fee", "Private AB", "")]
    first = rows[0]
    assert first["date"] == "2026-11-20" and first["app"] == "Books" and first["invoice"] == paid.stripe_invoice_id
    assert (first["net_ore"], first["moms_ore"], first["gross_ore"], first["platform_fee_ore"],
            first["developer_share_ore"], first["stripe_fee_ore"]) == ("19900", "4975", "24875", "4975", "14925", "9950")
    # The transfer less the application fee taken back is the developer's share.
    assert int(rows[2]["gross_ore"]) + int(rows[3]["gross_ore"]) == 14925
    assert rows[2]["net_ore"] == "" and rows[3]["stripe_fee_ore"] == ""
    since, until = statements.bounds(datetime.date(2026, 11, 1))
    assert ledger_sums(rows) == as_ledger(ledger.totals(since, until, developer=developer))
    # The dashboard says the same over the same rows.
    period = figures.Period(datetime.date(2026, 11, 1), datetime.date(2026, 11, 29))
    total = figures.developer_figures(developer, period)["total"]
    assert (total["net_ore"], total["developer_ore"], total["platform_ore"]) == (
        ledger_sums(rows)["net_ore"], ledger_sums(rows)["developer_share_ore"], ledger_sums(rows)["platform_fee_ore"])
    page = client.get("/developer/statements/2026-11").get_data(as_text=True)
    assert 'data-closed="false"' in page
    assert f'id="statement-total" data-net="{19900 + 9876}"' in page
    assert 'data-developer="22332"' in page  # 14925 + 7407 (75 % of 98,76 kr)
    december = parse(client.get("/developer/statements/2026-12.csv"))
    assert [r["invoice"] for r in december if r["kind"] == "payment"] == ["in_december"]
    assert december[0]["date"] == "2026-12-01"
    assert StatementMonth.select().count() == 0  # open months are not kept

    # 00:00 on 3 December in Stockholm: November is closed, kept at its first reading.
    at(time_machine, 2026, 12, 2, 23, 0)
    auth.login("owner@example.test")
    closed = client.get("/developer/statements/2026-11.csv").get_data()
    assert StatementMonth.select().count() == 1
    assert 'data-closed="true"' in client.get("/developer/statements/2026-11").get_data(as_text=True)

    # Later: a refund of November's invoice arrives (its Stripe time still in November), the
    # company renames itself and withdraws its consent.
    refund = ledger.record_reversal("refund", paid, 10000, "re_late", datetime.datetime(2026, 11, 30, 10, 0))
    Company.update(name="Renamed AB", share_org_number=False).where(Company.id == agreed.id).execute()
    assert client.get("/developer/statements/2026-11.csv").get_data() == closed
    # ... and is booked in the open month, naming the invoice it corrects.
    december = parse(client.get("/developer/statements/2026-12.csv"))
    late = [r for r in december if r["kind"] == "refund"]
    assert len(late) == 1 and late[0]["invoice"] == paid.stripe_invoice_id and late[0]["date"] == "2026-12-03"
    assert int(late[0]["gross_ore"]) == -10000 == refund.gross_ore
    assert late[0]["company"] == "Renamed AB" and late[0]["org_number"] == ""
    assert [r["kind"] for r in december if r["invoice"] == paid.stripe_invoice_id] == [
        "refund", "transfer_reversal", "application_fee_refund"]
    assert 'booked here' in client.get("/developer/statements/2026-12").get_data(as_text=True)
    # Every ledger row is on exactly one statement: the months add up to the whole ledger.
    november = parse(client.get("/developer/statements/2026-11.csv"))
    both = {name: ledger_sums(november)[name] + ledger_sums(december)[name] for name in ledger_sums(november)}
    assert both == as_ledger(ledger.totals(developer=developer))
    assert LedgerEntry.select().where(LedgerEntry.developer == developer).count() == 4


def test_another_developer_sees_only_its_own_statement(shop, auth, client):
    factories.ledger_entry(shop["app"], shop["agreed"], gross_ore=777777, moms_ore=155555)
    month = statements.label(statements.month_of(factories.utcnow()))
    auth.login("rival@example.test")
    for url in ("/developer/statements", f"/developer/statements/{month}", f"/developer/statements/{month}.csv"):
        response = client.get(url)
        assert response.status_code == 200, url
        text = response.get_data(as_text=True)
        assert "Agreed AB" not in text and "7777" not in text and "Books" not in text, url
    auth.logout()
    auth.login("owner@example.test")
    assert "777777" in client.get(f"/developer/statements/{month}.csv").get_data(as_text=True)


def test_stripe_down_is_a_clear_503_and_nothing_is_kept(shop, auth, client, monkeypatch, time_machine):
    from market.billing import gateway

    class Down:
        class v1:  # noqa: N801 - the client's shape
            class payouts:  # noqa: N801
                @staticmethod
                def list(**kwargs):
                    raise gateway.StripeError("Stripe is down")

    developer = shop["owner"].developer
    developer.stripe_account_id = "acct_statement_down"
    developer.save()
    monkeypatch.setattr(gateway, "stripe_client", lambda config: Down)
    at(time_machine, 2026, 12, 10, 12, 0)
    auth.login("owner@example.test")
    for url in ("/developer/statements/2026-11", "/developer/statements/2026-11.csv"):
        response = client.get(url)
        assert response.status_code == 503 and "Stripe" in response.get_data(as_text=True), url
    assert StatementMonth.select().count() == 0
