"""My apps lists a subscription's invoices from the market's own records, kept from Stripe's
`invoice.*` events (issue R, market.billing.invoice_records), and never asks Stripe while it
renders: through the sandbox (a purchase and a renewal, then Stripe unreachable) and with
hand-signed events (redelivery, order, concurrency, the backfill of older subscriptions)."""
import re
import time

import pytest
import stripe

from market.billing import gateway, invoice_records, subscriptions
from models import LedgerEntry, Subscription, SubscriptionInvoice
from tests.billing.conftest import (
    event,
    invoice_object,
    post_event,
    post_events_at_once,
    sandbox_config,
    subscription_object,
)
from tests.billing.test_lifecycle import bought, row_of, stripe_invoices


def _stripe_unreachable(monkeypatch):
    """Every Stripe call from here on fails as a network failure would."""
    def unreachable(config):
        raise stripe.APIConnectionError("Stripe cannot be reached (test)")

    monkeypatch.setattr(gateway, "stripe_client", unreachable)


def _listed(row_html):
    """(number, amount, status) of each invoice in a My apps row, as the page lists them."""
    return re.findall(r'<li data-invoice="([^"]+)">.*?· ([^·<]+ kr) · (\w+)', row_html, re.S)


# ---------------------------------------------------------------------------- through the sandbox
class TestThroughTheSandbox:
    @pytest.fixture
    def app_config(self, sandbox, live_port):
        return sandbox_config(sandbox, live_port)

    def test_purchase_and_renewal_are_listed_with_stripe_unreachable(self, market, monkeypatch):
        listing, plan, buyer, http, sub = bought(market)
        market.sandbox.advance(days=31)  # the first renewal
        at_stripe = sorted(stripe_invoices(market, sub), key=lambda i: (i.created, i.id), reverse=True)
        assert [i.status for i in at_stripe] == ["paid", "paid"]
        kept = list(SubscriptionInvoice.select().where(SubscriptionInvoice.subscription == sub.id)
                    .order_by(SubscriptionInvoice.created.desc(), SubscriptionInvoice.id.desc()))
        assert [(r.stripe_invoice_id, r.number, r.status, r.total_ore, r.hosted_invoice_url) for r in kept] == [
            (i.id, i.number, "paid", 24875, i.hosted_invoice_url) for i in at_stripe]
        assert all(r.company_id == buyer.company_id for r in kept)

        _stripe_unreachable(monkeypatch)
        page = http.get(market.url + "/account/apps", timeout=10)
        assert page.status_code == 200
        row = row_of(page.text, listing.slug)
        assert "Invoices cannot be shown right now" not in row
        assert _listed(row) == [(i.number, "248.75 kr", "paid") for i in at_stripe]
        assert re.findall(r'<a href="([^"]+/i/[^"]+)"', row) == [i.hosted_invoice_url for i in at_stripe]
        # The same rows the function gives, newest first, each with its refunds (none here).
        rows = subscriptions.invoices(market.app.config, Subscription.get_by_id(sub.id))
        assert [(r["id"], r["total_ore"], r["refunds"]) for r in rows] == [(i.id, 24875, []) for i in at_stripe]

    def test_backfill_records_what_the_events_would_have(self, market, runner):
        listing, plan, buyer, http, sub = bought(market)
        before = [(r.stripe_invoice_id, r.number, r.status, r.total_ore, r.created, r.hosted_invoice_url)
                  for r in SubscriptionInvoice.select().order_by(SubscriptionInvoice.id)]
        assert len(before) == 1
        SubscriptionInvoice.delete().execute()  # a subscription from before the table
        result = runner.invoke(args=["invoices-backfill"])
        assert result.exit_code == 0, result.output
        assert "invoices: 1 recorded for 1 subscription(s)" in result.output
        after = [(r.stripe_invoice_id, r.number, r.status, r.total_ore, r.created, r.hosted_invoice_url)
                 for r in SubscriptionInvoice.select().order_by(SubscriptionInvoice.id)]
        assert after == before
        assert runner.invoke(args=["invoices-backfill"]).exit_code == 0  # again: nothing changes
        assert SubscriptionInvoice.select().count() == 1


# ---------------------------------------------------------------------------- hand-signed events
@pytest.fixture
def live_sub(client, fake_stripe, paid_app, customer):
    listing, plan, _ = paid_app
    _, company = customer
    sub = subscription_object("sub_rec", "active", company, listing, plan)
    fake_stripe.subscriptions["sub_rec"] = sub
    fake_stripe.payments["in_rec"] = {"charge": "ch_rec", "fee": 9950}
    return sub


def _invoice(sub, status="paid", **fields):
    invoice = invoice_object("in_rec", sub, 19900)
    invoice.update({"status": status, "number": "MKT-0001", "created": int(time.time()) - 60,
                    "hosted_invoice_url": "https://invoice.stripe.test/i/in_rec", **fields})
    return invoice


def _rows():
    return [(r.stripe_invoice_id, r.number, r.status, r.total_ore)
            for r in SubscriptionInvoice.select().order_by(SubscriptionInvoice.id)]


def test_redelivered_invoice_paid_makes_no_second_row(client, live_sub):
    paid = event("invoice.paid", _invoice(live_sub))
    assert post_event(client, paid).status_code == 200
    assert post_event(client, paid).status_code == 200  # Stripe's redelivery of the same event
    # Stripe sends invoice.payment_succeeded for the same invoice too: another event, one row.
    assert post_event(client, event("invoice.payment_succeeded", _invoice(live_sub))).status_code == 200
    assert _rows() == [("in_rec", "MKT-0001", "paid", 24875)]
    assert LedgerEntry.select().count() == 1


def test_an_older_open_event_after_paid_keeps_paid(client, live_sub):
    now = int(time.time())
    assert post_event(client, event("invoice.paid", _invoice(live_sub), created=now)).status_code == 200
    # invoice.created (a draft, no number yet) and invoice.finalized (open), delivered late.
    draft = _invoice(live_sub, status="draft", number=None, hosted_invoice_url=None)
    assert post_event(client, event("invoice.created", draft, created=now - 5)).status_code == 200
    assert post_event(client, event("invoice.finalized", _invoice(live_sub, status="open"),
                                    created=now - 4)).status_code == 200
    assert post_event(client, event("invoice.payment_failed", _invoice(live_sub, status="open"),
                                    created=now - 3)).status_code == 200
    assert _rows() == [("in_rec", "MKT-0001", "paid", 24875)]
    row = SubscriptionInvoice.get()
    assert row.hosted_invoice_url == "https://invoice.stripe.test/i/in_rec"


def test_in_order_events_move_the_invoice_forward(client, live_sub, fake_stripe):
    # The subscription is the market's already (as after checkout.session.completed).
    assert post_event(client, event("customer.subscription.created", live_sub)).status_code == 200
    draft = _invoice(live_sub, status="draft", number=None, hosted_invoice_url=None)
    assert post_event(client, event("invoice.created", draft)).status_code == 200
    assert _rows() == [("in_rec", "", "draft", 24875)]  # no number before it is finalized
    assert post_event(client, event("invoice.finalized", _invoice(live_sub, status="open"))).status_code == 200
    assert _rows() == [("in_rec", "MKT-0001", "open", 24875)]
    assert post_event(client, event("invoice.paid", _invoice(live_sub))).status_code == 200
    assert _rows() == [("in_rec", "MKT-0001", "paid", 24875)]
    # A void invoice of another subscription attempt stays void whatever comes late.
    other = _invoice(live_sub, status="void", id="in_void", number="MKT-0002")
    assert post_event(client, event("invoice.voided", other)).status_code == 200
    assert post_event(client, event("invoice.finalized", dict(other, status="open"))).status_code == 200
    assert SubscriptionInvoice.get(SubscriptionInvoice.stripe_invoice_id == "in_void").status == "void"


def test_an_invoice_of_no_subscription_of_ours_is_foreign(client, live_sub):
    theirs = _invoice(live_sub, status="open")
    theirs["parent"] = {"type": "subscription_details",
                        "subscription_details": {"subscription": "sub_elsewhere",
                                                 "metadata": {"installation": "inst_other"}}}
    assert post_event(client, event("invoice.finalized", theirs)).status_code == 200
    assert SubscriptionInvoice.select().count() == 0


def test_concurrent_events_of_one_invoice_make_one_row(app, client, live_sub):
    # The subscription is the market's already (checkout.session.completed made it): what races
    # here is the invoice's row alone.
    assert post_event(client, event("customer.subscription.created", live_sub)).status_code == 200
    kinds = ["invoice.paid", "invoice.payment_succeeded", "invoice.finalized", "invoice.paid"]
    bodies = [event(kind, _invoice(live_sub, status="open" if kind == "invoice.finalized" else "paid"))
              for kind in kinds]
    statuses = post_events_at_once(app, bodies)
    assert statuses == [200] * len(bodies)
    assert _rows() == [("in_rec", "MKT-0001", "paid", 24875)]


def test_my_apps_shows_the_records_without_asking_stripe(client, auth, live_sub, customer, monkeypatch):
    admin, _ = customer
    assert post_event(client, event("invoice.paid", _invoice(live_sub))).status_code == 200
    _stripe_unreachable(monkeypatch)
    auth.login(admin.email)
    page = client.get("/account/apps")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Invoices cannot be shown right now" not in html
    assert _listed(html) == [("MKT-0001", "248.75 kr", "paid")]
    assert 'href="https://invoice.stripe.test/i/in_rec"' in html


def test_imported_history_has_no_invoices(app, live_sub, client):
    assert post_event(client, event("invoice.paid", _invoice(live_sub))).status_code == 200
    sub = Subscription.get(Subscription.stripe_subscription_id == "sub_rec")
    assert subscriptions.invoices(app.config, sub)[0]["number"] == "MKT-0001"
    sub.imported = True
    assert subscriptions.invoices(app.config, sub) is None
    assert invoice_records.recorded_invoices(sub)[0]["url"] == "https://invoice.stripe.test/i/in_rec"
