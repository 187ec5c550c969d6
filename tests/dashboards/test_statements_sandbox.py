"""A month's statement against the Stripe sandbox (issue U item 4): after a purchase, a partial
refund, a lost dispute, a payout of the developer's account and a renewal, each month's statement
equals the ledger and the dashboard to the öre, the payouts are read with Stripe-Account, and a
closed month does not change after a later refund."""
import csv
import datetime
import io

import pytest

from market.billing import gateway, ledger
from market.billing import refunds as money_back
from market.dashboards import figures, statements
from models import Developer, LedgerEntry, StatementMonth
from tests import factories
from tests.billing.conftest import live_port, market, sandbox, sandbox_config  # noqa: F401  (the live fixtures)
from tests.billing.test_lifecycle import admin_login, bought, login_at
from tests.billing.test_purchase import buy, pay

HEADER = ("date;kind;company;org_number;app;plan;invoice;net_ore;moms_ore;gross_ore;platform_fee_ore;"
          "developer_share_ore;stripe_fee_ore")
NAMES = ("net_ore", "moms_ore", "gross_ore", "platform_fee_ore", "developer_share_ore")


@pytest.fixture
def app_config(sandbox, live_port):  # noqa: F811
    return sandbox_config(sandbox, live_port)


def read_csv(http, market, month):  # noqa: F811
    response = http.get(f"{market.url}/developer/statements/{month}.csv", timeout=20)
    assert response.status_code == 200, response.text[:300]
    text = response.content.decode("utf-8")
    assert text.splitlines()[0] == HEADER
    return text, list(csv.DictReader(io.StringIO(text), delimiter=";"))


def sums(rows):
    return {name: sum(int(r[name]) for r in rows if r["kind"] in ("payment", "refund", "dispute")) for name in NAMES}


def the_ledger(developer, month):
    since, until = statements.bounds(month)
    t = ledger.totals(since, until, developer=developer)
    return {"net_ore": t["net"], "moms_ore": t["moms"], "gross_ore": t["gross"], "platform_fee_ore": t["platform"],
            "developer_share_ore": t["developer"]}


def the_dashboard(developer, month):
    last = statements.next_month(month) - datetime.timedelta(days=1)
    t = figures.developer_figures(developer, figures.Period(month, last))["total"]
    return {"net_ore": t["net_ore"], "moms_ore": t["moms_ore"], "gross_ore": t["gross_ore"],
            "platform_fee_ore": t["platform_ore"], "developer_share_ore": t["developer_ore"]}


def test_statements_equal_the_ledger_after_purchase_refund_dispute_and_renewal(market, time_machine):  # noqa: F811
    listing, plan, buyer, http, sub = bought(market)
    developer = Developer.get_by_id(listing.developer_id)
    client = gateway.stripe_client(market.app.config)
    first = LedgerEntry.get(LedgerEntry.kind == "payment")
    month = statements.month_of(first.occurred_at)
    # The developer's Stripe account pays part of its balance out (Stripe's payout).
    payout = client.v1.payouts.create(params={"amount": 5000, "currency": "sek"},
                                      options={"stripe_account": developer.stripe_account_id,
                                               "idempotency_key": "test-payout-1"})
    # A partial refund from the admin's page.
    admin = admin_login(market)
    assert market.post(admin, "/admin/refunds", {"payment": str(first.id), "amount": "100",
                                                 "reason": "Partly unused"}).status_code == 303
    market.settle()
    # Another company pays with a card that is disputed; the dispute is lost.
    other = factories.customer_admin(email="other@example.test")
    other_http = market.login(other.email)
    pay(market, buy(market, other_http, listing.slug).headers["Location"], card="4000 0000 0000 0259")
    market.settle()
    market.sandbox.lose_dispute(money_back.disputes()[0]["id"])
    market.settle()
    assert {e.kind for e in LedgerEntry.select()} == {"payment", "refund", "dispute"}

    dev = login_at(market, "dev@example.test", "/developer")
    text, rows = read_csv(dev, market, statements.label(month))
    kinds = [r["kind"] for r in rows]
    assert kinds.count("payment") == 2 and kinds.count("refund") == 1 and kinds.count("dispute") == 1
    assert sums(rows) == the_ledger(developer.id, month) == the_dashboard(developer.id, month)
    refund = next(r for r in rows if r["kind"] == "refund")
    assert int(refund["gross_ore"]) == -10000 and refund["invoice"] == first.stripe_invoice_id
    dispute = next(r for r in rows if r["kind"] == "dispute")
    assert sum(int(dispute[name]) for name in ("moms_ore", "platform_fee_ore", "developer_share_ore")) == -24875
    # The Stripe lines: each charge transferred whole, the application fee taken back; for each
    # payment their difference is the developer's share.
    for payment in (r for r in rows if r["kind"] == "payment"):
        lines = {r["kind"]: int(r["gross_ore"]) for r in rows
                 if r["invoice"] == payment["invoice"] and r["kind"] in ("transfer", "application_fee")}
        assert lines["transfer"] == int(payment["gross_ore"]) == 24875
        assert lines["transfer"] + lines["application_fee"] == int(payment["developer_share_ore"]) == 14925
        assert -lines["application_fee"] == int(payment["stripe_fee_ore"])
    # What Stripe moved matches: the transfers of the month at Stripe are the transfer lines.
    transfers = client.v1.transfers.list({"limit": 100}).data
    assert sorted(t.amount for t in transfers) == sorted(int(r["gross_ore"]) for r in rows if r["kind"] == "transfer")
    reversed_at_stripe = sum(t.amount_reversed for t in transfers)
    assert -sum(int(r["gross_ore"]) for r in rows if r["kind"] == "transfer_reversal") == reversed_at_stripe
    # The payout, read from the developer's account with Stripe-Account.
    payouts = [r for r in rows if r["kind"] == "payout"]
    assert [(r["invoice"], int(r["gross_ore"])) for r in payouts] == [(payout.id, -5000)]
    listed = market.sandbox.requests(path="/v1/payouts", method="GET")
    assert listed and all(r["stripe_account"] == developer.stripe_account_id for r in listed)
    page = dev.get(f"{market.url}/developer/statements/{statements.label(month)}", timeout=20).text
    assert f'data-payout="{payout.id}"' in page and 'data-closed="false"' in page

    # A renewal a month later is next month's.
    market.sandbox.advance(days=31)
    renewals = LedgerEntry.select().where(LedgerEntry.kind == "payment", LedgerEntry.id != first.id,
                                          LedgerEntry.occurred_at >= statements.bounds(month)[1])
    assert renewals.count() >= 1
    following = statements.next_month(month)
    _, next_rows = read_csv(dev, market, statements.label(following))
    assert first.stripe_invoice_id not in {r["invoice"] for r in next_rows}
    assert sums(next_rows) == the_ledger(developer.id, following) == the_dashboard(developer.id, following)
    assert sums(next_rows)["gross_ore"] == 24875 * renewals.count()

    # The month closes at 00:00 on the 3rd of the next; read then, it is kept.
    time_machine.move_to(statements.closes_at(month).replace(tzinfo=datetime.UTC) + datetime.timedelta(hours=1),
                         tick=True)
    dev = login_at(market, "dev@example.test", "/developer")
    closed, _ = read_csv(dev, market, statements.label(month))
    assert closed == text and StatementMonth.select().count() == 1
    # A later refund of the month's payment changes nothing in it.
    admin = login_at(market, "root@example.test", "/admin/refunds")
    assert market.post(admin, "/admin/refunds", {"payment": str(first.id), "amount": "20",
                                                 "reason": "Goodwill"}).status_code == 303
    market.settle()
    assert LedgerEntry.select().where(LedgerEntry.kind == "refund").count() == 2
    again, _ = read_csv(dev, market, statements.label(month))
    assert again == text
    # It is booked in an open month, naming its invoice; every row is on one statement.
    later = LedgerEntry.select().where(LedgerEntry.kind == "refund").order_by(LedgerEntry.id.desc()).get()
    booked = statements.booked_month(later.occurred_at, later.created_at)
    assert booked > month
    _, booked_rows = read_csv(dev, market, statements.label(booked))
    assert any(r["kind"] == "refund" and r["invoice"] == first.stripe_invoice_id and int(r["gross_ore"]) == -2000
               for r in booked_rows)
