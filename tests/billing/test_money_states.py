"""Issue O: the two webhook endpoints told apart, bodies that cannot be parsed safely, and the
money states Stripe moves through (refunds pending → succeeded / failed, deauthorized Connect
accounts, account.updated in order, a lost dispute's transfer reversal once ever) — each over
HTTP with signed events, on both databases (QUALITY.md 46, 47)."""
import datetime
import json
import time

from market.billing import after_events
from models import (
    Developer,
    DisputeReversal,
    LedgerEntry,
    OutboxMail,
    StripeEvent,
    Subscription,
    utcnow,
)
from tests import factories
from tests.billing.conftest import (
    CONNECT_SECRET,
    SECRET,
    event,
    invoice_object,
    post_event,
    sign,
    subscription_object,
)


def counts():
    return (StripeEvent.select().count(), Subscription.select().count(), LedgerEntry.select().count(),
            Developer.select().where(Developer.payouts_enabled == True).count())  # noqa: E712


def account_object(developer, transfers="active"):
    return {"id": developer.stripe_account_id, "object": "account", "details_submitted": True,
            "charges_enabled": True, "capabilities": {"transfers": transfers, "card_payments": "active"}}


def paid_invoice(client, fake_stripe, paid_app, customer, name="mo"):
    """An invoice of 199 kr + moms paid by charge ch_<name>: the ledger's payment row."""
    listing, plan, _ = paid_app
    _, company = customer
    sub = subscription_object(f"sub_{name}", "active", company, listing, plan)
    fake_stripe.subscriptions[sub["id"]] = sub
    invoice = invoice_object(f"in_{name}", sub, 19900)
    fake_stripe.payments[invoice["id"]] = {"charge": f"ch_{name}", "fee": 9950}
    assert post_event(client, event("invoice.paid", invoice)).status_code == 200
    return LedgerEntry.get(LedgerEntry.stripe_ref == invoice["id"])


# ---------------------------------------------------------------------------- finding 5: two endpoints
def test_each_endpoint_accepts_only_its_own_secret(client, fake_stripe, paid_app):
    _, _, developer = paid_app
    platform_event = event("radar.early_fraud_warning.created", {"id": "issfr_1", "object": "x"})
    connect_event = event("account.updated", account_object(developer, "inactive"),
                          account=developer.stripe_account_id)
    # The other endpoint's secret is refused on each, and nothing is written.
    assert post_event(client, platform_event, secret=CONNECT_SECRET, connect=False).status_code == 400
    assert post_event(client, connect_event, secret=SECRET, connect=True).status_code == 400
    assert counts() == (0, 0, 0, 1)
    # Each with its own secret is taken.
    assert post_event(client, platform_event).status_code == 200
    assert post_event(client, connect_event).status_code == 200
    assert StripeEvent.select().count() == 2


def test_an_event_on_the_wrong_endpoint_is_refused_and_writes_nothing(client, fake_stripe, paid_app):
    _, _, developer = paid_app
    # A connected account's event (account set), signed with the platform's secret, on the
    # platform endpoint: it used to be processed as a platform event.
    connect_event = event("account.updated", account_object(developer, "inactive"),
                          account=developer.stripe_account_id)
    assert post_event(client, connect_event, secret=SECRET, connect=False).status_code == 400
    # A platform event (no account) on the Connect endpoint, signed with the Connect secret.
    platform_event = event("account.updated", account_object(developer, "inactive"))
    assert post_event(client, platform_event, secret=CONNECT_SECRET, connect=True).status_code == 400
    assert counts() == (0, 0, 0, 1)  # the developer still has payouts
    assert Developer.get_by_id(developer.id).payouts_enabled is True


# ---------------------------------------------------------------------------- finding 10: deep and huge bodies
def test_deeply_nested_or_huge_signed_bodies_get_400_never_500(client, fake_stripe):
    for depth in (65, 5000, 200000):
        nested = "[" * depth + "]" * depth
        payload = (f'{{"id": "evt_deep{depth}", "object": "event", "type": "x.y", "created": 1, '
                   f'"data": {{"object": {{"id": "x", "deep": {nested}}}}}}}')
        response = client.post("/stripe/webhook", data=payload, content_type="application/json",
                               headers={"Stripe-Signature": sign(payload)})
        assert response.status_code == 400, (depth, response.status_code)
    huge = json.dumps(event("x.y", {"id": "x", "pad": "a" * (1024 * 1024)}))
    response = client.post("/stripe/webhook", data=huge, content_type="application/json",
                           headers={"Stripe-Signature": sign(huge)})
    assert response.status_code == 400
    assert StripeEvent.select().count() == 0
    # Stripe's own nesting (a handful of levels) is fine.
    shallow = event("x.y", {"id": "x", "a": {"b": {"c": {"d": [[{"e": 1}]]}}}})
    assert post_event(client, shallow).status_code == 200


# ---------------------------------------------------------------------------- finding 12: refunds
def test_refund_pending_then_failed_is_undone_in_the_ledger(client, fake_stripe, paid_app, customer):
    payment = paid_invoice(client, fake_stripe, paid_app, customer, "rfail")
    refund = {"id": "re_fail", "object": "refund", "amount": 10000, "charge": payment.stripe_charge_id,
              "status": "pending", "created": int(time.time()), "currency": "sek", "metadata": {}}
    assert post_event(client, event("charge.refund.updated", refund)).status_code == 200
    row = LedgerEntry.get(LedgerEntry.stripe_ref == "re_fail")
    assert row.gross_ore == -10000 and row.refund_status == "pending"
    failed = dict(refund, status="failed", failure_reason="expired_or_canceled_card")
    assert post_event(client, event("refund.failed", failed)).status_code == 200
    assert LedgerEntry.get_by_id(row.id).refund_status == "failed"
    undone = LedgerEntry.get(LedgerEntry.stripe_ref == "re_fail:failed")
    assert (undone.gross_ore, undone.developer_share_ore, undone.platform_fee_ore, undone.moms_ore) == (
        -row.gross_ore, -row.developer_share_ore, -row.platform_fee_ore, -row.moms_ore)
    from market.billing import ledger

    # As if the refund had never been: every total and what is left to refund.
    assert ledger.totals()["gross"] == payment.gross_ore
    assert ledger.totals()["developer"] == payment.developer_share_ore
    assert ledger.reversed_so_far(payment) == 0
    # Redelivered, or a stale `pending` arriving late: nothing more.
    assert post_event(client, event("refund.failed", failed)).status_code == 200
    assert post_event(client, event("charge.refund.updated", refund)).status_code == 200
    assert LedgerEntry.select().where(LedgerEntry.stripe_ref.startswith("re_fail")).count() == 2
    assert ledger.totals()["gross"] == payment.gross_ore


def test_refund_pending_then_succeeded_follows_once(client, fake_stripe, paid_app, customer):
    payment = paid_invoice(client, fake_stripe, paid_app, customer, "rok")
    refund = {"id": "re_ok", "object": "refund", "amount": 24875, "charge": payment.stripe_charge_id,
              "status": "pending", "created": int(time.time())}
    assert post_event(client, event("refund.created", refund)).status_code == 200
    assert LedgerEntry.get(LedgerEntry.stripe_ref == "re_ok").refund_status == "pending"
    assert post_event(client, event("refund.updated", dict(refund, status="succeeded"))).status_code == 200
    assert post_event(client, event("refund.updated", refund)).status_code == 200  # stale pending
    row = LedgerEntry.get(LedgerEntry.stripe_ref == "re_ok")
    assert row.refund_status == "succeeded" and row.gross_ore == -24875
    assert LedgerEntry.select().where(LedgerEntry.kind == "refund").count() == 1


# ---------------------------------------------------------------------------- finding 12: deauthorization
def test_deauthorized_developer_is_not_buyable_and_everyone_is_told(client, auth, fake_stripe, paid_app, customer):
    listing, plan, developer = paid_app
    admin, company = customer
    dev_user = factories.user(email="vendor@example.test", developer=developer)
    platform_admin = factories.user(email="root@example.test", is_platform_admin=True)
    renewing = factories.subscription(company, listing, plan=plan,
                                      current_period_end=utcnow() + datetime.timedelta(days=12))
    body = event("account.application.deauthorized",
                 {"id": "ca_platform", "object": "application", "name": "App Market"},
                 account=developer.stripe_account_id)
    assert post_event(client, body).status_code == 200
    row = Developer.get_by_id(developer.id)
    assert row.payouts_enabled is False and row.stripe_deauthorized_at is not None
    mailed = {m.to for m in OutboxMail.select()}
    assert {dev_user.email, platform_admin.email, admin.email} <= mailed
    assert Subscription.get_by_id(renewing.id).cancel_at_period_end is True
    told = OutboxMail.get(OutboxMail.to == admin.email)
    assert listing.name in told.subject and "renew" in told.body
    # Redelivered: told once.
    assert post_event(client, body).status_code == 200
    assert OutboxMail.select().where(OutboxMail.to == admin.email).count() == 1
    # A late account.updated that still says transfers are active does not bring payouts back.
    late = event("account.updated", account_object(developer, "active"), account=developer.stripe_account_id)
    assert post_event(client, late).status_code == 200
    assert Developer.get_by_id(developer.id).payouts_enabled is False
    # Keeping the subscription is refused too: it would pay a developer that left the platform.
    auth.login(admin.email)
    kept = auth.post(f"/account/apps/{listing.slug}/resume")
    assert kept.status_code == 409, kept.status_code
    assert Subscription.get_by_id(renewing.id).cancel_at_period_end is True
    auth.logout()
    # Buy is refused (before any call to Stripe).
    other_admin = factories.customer_admin()
    auth.login(other_admin.email)
    response = auth.post(f"/apps/{listing.slug}/buy")
    assert response.status_code == 409
    assert "payouts" in response.get_data(as_text=True)


# ---------------------------------------------------------------------------- finding 12: account.updated order
def test_account_updated_out_of_order_keeps_the_newest(client, fake_stripe, paid_app, monkeypatch):
    _, _, developer = paid_app
    from market.billing import gateway

    def no_stripe(*args, **kwargs):
        raise AssertionError("the handler called Stripe")

    monkeypatch.setattr(gateway, "stripe_client", no_stripe)
    now = int(time.time())
    newer = event("account.updated", account_object(developer, "inactive"), created=now,
                  account=developer.stripe_account_id)
    older = event("account.updated", account_object(developer, "active"), created=now - 60,
                  account=developer.stripe_account_id)
    assert post_event(client, newer).status_code == 200
    assert post_event(client, older).status_code == 200  # delivered late
    row = Developer.get_by_id(developer.id)
    assert row.payouts_enabled is False and row.stripe_account_event_created == now
    newest = event("account.updated", account_object(developer, "active"), created=now + 5,
                   account=developer.stripe_account_id)
    assert post_event(client, newest).status_code == 200
    assert Developer.get_by_id(developer.id).payouts_enabled is True


# ---------------------------------------------------------------------------- finding 12: lost disputes
def test_lost_dispute_redelivered_after_its_event_row_is_lost_reverses_once(client, fake_stripe, paid_app,
                                                                             customer, monkeypatch):
    payment = paid_invoice(client, fake_stripe, paid_app, customer, "dsp")
    calls = []

    def reverse(config, dispute):
        # Called only once the event and the ledger's reversal are committed.
        assert StripeEvent.select().where(StripeEvent.type == "charge.dispute.closed").exists()
        assert LedgerEntry.select().where(LedgerEntry.stripe_ref == dispute["id"]).exists()
        calls.append(dispute)
        return {"id": f"trr_{len(calls)}", "object": "transfer_reversal"}

    monkeypatch.setattr(after_events, "reverse_developer_share_of_lost_dispute", reverse)
    dispute = {"id": "dp_once", "object": "dispute", "charge": payment.stripe_charge_id, "amount": 24875,
               "status": "lost", "reason": "fraudulent", "created": int(time.time())}
    closed = event("charge.dispute.closed", dispute)
    assert post_event(client, closed).status_code == 200
    assert [c["id"] for c in calls] == ["dp_once"] and calls[0]["amount"] == 24875
    assert DisputeReversal.get(DisputeReversal.dispute_id == "dp_once").status == "done"
    # The event row is gone (pruned, restored from a backup) and Stripe's 24 h idempotency
    # window has passed: the same event, and a new event about the same dispute, reverse nothing.
    StripeEvent.delete().execute()
    assert post_event(client, closed).status_code == 200
    assert post_event(client, event("charge.dispute.closed", dispute)).status_code == 200
    assert len(calls) == 1
    assert LedgerEntry.select().where(LedgerEntry.kind == "dispute").count() == 1


def test_lost_dispute_reversal_failing_at_stripe_is_retried_until_done(client, fake_stripe, paid_app, customer,
                                                                        monkeypatch):
    from market.billing import gateway

    payment = paid_invoice(client, fake_stripe, paid_app, customer, "dspf")
    outcomes = [gateway.StripeError("Stripe is down"), {"id": "trr_later", "object": "transfer_reversal"}]
    calls = []

    def reverse(config, dispute):
        calls.append(dispute["id"])
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    monkeypatch.setattr(after_events, "reverse_developer_share_of_lost_dispute", reverse)
    dispute = {"id": "dp_retry", "object": "dispute", "charge": payment.stripe_charge_id, "amount": 24875,
               "status": "lost", "created": int(time.time())}
    closed = event("charge.dispute.closed", dispute)
    assert post_event(client, closed).status_code >= 500  # stored, reversal pending: Stripe retries
    assert StripeEvent.select().count() == 2
    assert DisputeReversal.get(DisputeReversal.dispute_id == "dp_retry").status == "pending"
    response = post_event(client, closed)
    assert response.status_code == 200 and response.get_json()["outcome"] == "duplicate"
    row = DisputeReversal.get(DisputeReversal.dispute_id == "dp_retry")
    assert (row.status, row.stripe_reversal_id) == ("done", "trr_later")
    assert post_event(client, closed).status_code == 200
    assert calls == ["dp_retry", "dp_retry"]


# ---------------------------------------------------------------------------- the benchmark's scenario
def test_the_benchmarks_webhook_requests_are_taken_on_the_connect_endpoint(app, client):
    """bench/run.py's `webhook` scenario (not run here: its requests only) posts connected-account
    events to `?connect=1` signed with the Connect secret, and they stay 2xx."""
    import importlib.util
    import os

    path = os.path.join(os.path.dirname(__file__), "..", "..", "bench", "run.py")
    spec = importlib.util.spec_from_file_location("bench_run_for_test", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    factories.developer(stripe_account_id=bench.BENCH_ACCOUNT)
    app.config["STRIPE_CONNECT_WEBHOOK_SECRET"] = bench.CONNECT_WEBHOOK_SECRET
    for text in bench.webhook_lines(3, "t"):
        method, path, headers, body = text.split("\t")
        assert path == "/stripe/webhook?connect=1"
        response = client.open(path, method=method, data=body,
                               headers=dict(h.split(": ", 1) for h in headers.split("|")))
        assert response.status_code == 200, response.data
    assert Developer.get(Developer.stripe_account_id == bench.BENCH_ACCOUNT).payouts_enabled is True


def test_refund_event_of_this_installation_before_its_payment_is_retried(client, fake_stripe, paid_app, customer):
    """Issue S 6: this installation's metadata, about a charge the ledger has not recorded yet:
    5xx so Stripe retries; another's (or none) is acknowledged as foreign."""
    from market.billing import gateway

    refund = {"id": "re_early", "object": "refund", "amount": 10000, "charge": "ch_early", "status": "pending",
              "created": int(time.time()), "metadata": {"installation": gateway.installation_id()}}
    body = event("refund.updated", refund)
    assert post_event(client, body).status_code >= 500
    assert StripeEvent.select().count() == 0
    theirs = event("refund.updated", dict(refund, id="re_theirs", metadata={}))
    response = post_event(client, theirs)
    assert response.status_code == 200 and response.get_json()["outcome"] == "foreign"
    # Once the payment is recorded, the redelivery is booked.
    paid_invoice(client, fake_stripe, paid_app, customer, "early")
    assert post_event(client, body).status_code == 200
    assert LedgerEntry.get(LedgerEntry.stripe_ref == "re_early").gross_ore == -10000
