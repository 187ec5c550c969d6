"""Stripe's webhook events (DESIGN.md §5, QUALITY.md 15–19).

Each event is verified on the raw body, stored once under its id and handled in the same
transaction, so a failure rolls both back and Stripe's redelivery starts clean. The Stripe
objects an event needs (the subscription's current state, the fee taken on a payment) are
fetched before the transaction opens, so no write lock is held across an HTTP call.
Subscriptions are applied from the re-fetched object, which is Stripe's current state, so an
event delivered late never moves a subscription backwards.
"""
import json
import logging

from market.billing import connect, dunning, gateway, ledger, signals
from market.billing import history as subscription_history
from market.billing.company_mail import tell_company_admins
from market.billing.transactions import write_transaction
from market.outbound import mail
from models import (
    App,
    CheckoutAttempt,
    Company,
    IntegrityError,
    Plan,
    StripeEvent,
    Subscription,
    db,
    utcnow,
)

SIGNATURE_TOLERANCE = 300

SUBSCRIPTION_EVENTS = ("customer.subscription.created", "customer.subscription.updated",
                       "customer.subscription.deleted", "customer.subscription.paused",
                       "customer.subscription.resumed")
INVOICE_PAID_EVENTS = ("invoice.paid", "invoice.payment_succeeded")
DISPUTE_EVENTS = ("charge.dispute.created", "charge.dispute.updated", "charge.dispute.closed")
# What the app is told as subscription.canceled: ended for good at Stripe. `unpaid` (ended
# for the market too) is told as an update: a paid invoice brings it back.
_TOLD_AS_CANCELED = Subscription.CLOSED_STATUSES
# What the app is told about: a change in any of these is a subscription.updated.
_TOLD_FIELDS = ("status", "plan_id", "price_ore", "current_period_end", "cancel_at_period_end", "trial_end")


class InvalidEvent(Exception):
    """Not signed by Stripe with one of our secrets (or too old): answered 400."""


class RetryLater(Exception):
    """The market cannot handle this event yet; 5xx so that Stripe delivers it again."""


class _Duplicate(Exception):
    pass


def webhook_secrets(config):
    return [s.strip() for s in (config.get("STRIPE_WEBHOOK_SECRET") or "").split(",") if s.strip()]


def verify(payload, header, secrets):
    """The event (a dict) if `header` signs `payload` with any of `secrets` within 300 s."""
    if not header or not secrets:
        raise InvalidEvent("missing signature")
    try:
        text = payload.decode("utf-8") if isinstance(payload, bytes | bytearray) else payload
    except UnicodeDecodeError:
        raise InvalidEvent("body is not UTF-8") from None
    for secret in secrets:
        if not gateway.signature_valid(text, header, secret, SIGNATURE_TOLERANCE):
            continue
        try:
            event = json.loads(text)
        except ValueError:
            raise InvalidEvent("body is not JSON") from None
        if not isinstance(event, dict) or not isinstance(event.get("id"), str) or not isinstance(
                event.get("type"), str) or not isinstance((event.get("data") or {}).get("object"), dict):
            raise InvalidEvent("not a Stripe event")
        return event
    raise InvalidEvent("no valid signature")


# ---------------------------------------------------------------------------- fetching (patchable)
def fetch_subscription(config, subscription_id):
    return gateway.plain(gateway.stripe_client(config).v1.subscriptions.retrieve(subscription_id))


def fetch_payment(config, invoice):
    """The charge that paid the invoice and the application fee Stripe actually took on it,
    reached as the current API does: invoice payments → payment intent → charge → fee."""
    client = gateway.stripe_client(config)
    payments = gateway.plain(client.v1.invoice_payments.list({"invoice": invoice["id"], "limit": 10}))
    for payment in payments.get("data") or []:
        ref = payment.get("payment") or {}
        if payment.get("status") != "paid" or ref.get("type") != "payment_intent":
            continue
        intent_id = ref.get("payment_intent")
        intent_id = intent_id if isinstance(intent_id, str) else (intent_id or {}).get("id")
        if not intent_id:
            continue
        intent = gateway.plain(client.v1.payment_intents.retrieve(
            intent_id, {"expand": ["latest_charge.application_fee"]}))
        charge = intent.get("latest_charge")
        if not charge:
            continue
        if isinstance(charge, str):
            charge = gateway.plain(client.v1.charges.retrieve(charge, {"expand": ["application_fee"]}))
        fee = charge.get("application_fee")
        if isinstance(fee, str):
            fee = gateway.plain(client.v1.application_fees.retrieve(fee))
        amount = fee.get("amount") if fee else charge.get("application_fee_amount")
        return {"charge": charge.get("id"), "fee": amount}
    return {"charge": None, "fee": None}


def _subscription_id_of(event):
    obj = event["data"]["object"]
    kind = event["type"]
    if kind in SUBSCRIPTION_EVENTS:
        return obj.get("id")
    if kind == "checkout.session.completed":
        return obj.get("subscription") if isinstance(obj.get("subscription"), str) else (
            (obj.get("subscription") or {}).get("id"))
    if kind.startswith("invoice."):
        parent = obj.get("parent") or {}
        details = parent.get("subscription_details") or {}
        sub = details.get("subscription") or obj.get("subscription")
        return sub if isinstance(sub, str) or sub is None else sub.get("id")
    return None


def fetch_refunds(config, charge_id):
    client = gateway.stripe_client(config)
    listing = client.v1.refunds.list({"charge": charge_id, "limit": 100})
    return [gateway.plain(refund) for refund in listing.auto_paging_iter()]


def reverse_developer_share_of_lost_dispute(config, dispute):
    """A lost dispute is paid by the platform at Stripe (destination charges); the developer
    gives back what it kept of the disputed amount (all but the application fee's share), as
    with a refund. Keyed by the dispute, so a redelivered event reverses nothing twice."""
    client = gateway.stripe_client(config)
    charge = gateway.plain(client.v1.charges.retrieve(dispute["charge"]))
    transfer_id = charge.get("transfer")
    transfer_id = transfer_id if isinstance(transfer_id, str) or transfer_id is None else transfer_id.get("id")
    if not transfer_id or not charge.get("amount"):
        return None
    transfer = gateway.plain(client.v1.transfers.retrieve(transfer_id))
    fee = charge.get("application_fee_amount") or 0
    disputed = int(dispute.get("amount") or 0)
    kept_share = disputed - (2 * fee * disputed + charge["amount"]) // (2 * charge["amount"])
    amount = min(kept_share, int(transfer["amount"]) - int(transfer.get("amount_reversed") or 0))
    if amount <= 0:
        return None
    try:
        return gateway.plain(client.v1.transfers.reversals.create(
            transfer_id, {"amount": amount, "metadata": {"dispute": dispute["id"]}},
            {"idempotency_key": gateway.idempotency_key("dispute-lost", dispute["id"])}))
    except gateway.InvalidRequestError as error:
        # Already reversed by hand in Stripe's dashboard, say: the ledger still records the loss.
        logging.getLogger(__name__).warning("transfer of lost dispute %s not reversed: %s", dispute["id"], error)
        return None


def _prefetch(config, event):
    kind = event["type"]
    fetched = {}
    obj = event["data"]["object"]
    if kind == "charge.dispute.closed" and obj.get("status") == "lost" and ledger.payment_of_charge(obj.get("charge")):
        try:
            fetched["transfer_reversal"] = reverse_developer_share_of_lost_dispute(config, obj)
        except gateway.StripeError as error:
            raise RetryLater(f"could not reverse the developer's share: {error}") from error
        return fetched
    if kind == "charge.refunded":
        charge_id = event["data"]["object"].get("id")
        if charge_id and ledger.payment_of_charge(charge_id) is not None:
            try:
                fetched["refunds"] = fetch_refunds(config, charge_id)
            except gateway.StripeError as error:
                raise RetryLater(f"could not fetch refunds from Stripe: {error}") from error
        return fetched
    if not (kind in SUBSCRIPTION_EVENTS or kind == "checkout.session.completed"
            or kind in INVOICE_PAID_EVENTS or kind == "invoice.payment_failed"):
        return fetched
    subscription_id = _subscription_id_of(event)
    if not subscription_id:
        return fetched
    if not _concerns_us(event, subscription_id):
        return fetched
    try:
        fetched["subscription"] = fetch_subscription(config, subscription_id)
        if kind in INVOICE_PAID_EVENTS and int(event["data"]["object"].get("total") or 0) > 0:
            fetched["payment"] = fetch_payment(config, event["data"]["object"])
    except gateway.StripeError as error:
        raise RetryLater(f"could not fetch from Stripe: {error}") from error
    return fetched


def _concerns_us(event, subscription_id):
    """Events of another installation sharing the Stripe account carry its id in metadata."""
    metadata = _metadata_of(event["data"]["object"])
    theirs = metadata.get("installation")
    return not theirs or theirs == gateway.installation_id()


def _metadata_of(obj):
    if obj.get("object") == "invoice":
        details = (obj.get("parent") or {}).get("subscription_details") or {}
        return details.get("metadata") or {}
    return obj.get("metadata") or {}


# ---------------------------------------------------------------------------- entry point
def handle(config, event):
    """Store and apply one verified event: "handled", "duplicate" or "ignored"."""
    if StripeEvent.select().where(StripeEvent.event_id == event["id"]).exists():
        return "duplicate"
    fetched = _prefetch(config, event)
    try:
        # Mail (dunning) goes out once the event is committed, and its failure is only logged:
        # Stripe would otherwise retry an event whose change was already made.
        with mail.held_until_done(), write_transaction():
            try:
                with db.atomic():
                    StripeEvent.create(event_id=event["id"], type=event["type"],
                                       account=event.get("account"), created=int(event.get("created") or 0),
                                       payload=json.dumps(event, separators=(",", ":")))
            except IntegrityError:
                raise _Duplicate() from None
            handler = HANDLERS.get(event["type"])
            if handler is None:
                return "ignored"
            handler(config, event, event["data"]["object"], fetched)
            return "handled"
    except _Duplicate:
        return "duplicate"


# ---------------------------------------------------------------------------- subscriptions
def _owner(sub):
    """(company, app, plan) a Stripe subscription belongs to: its metadata, else its customer
    and price. None when it is another installation's."""
    metadata = sub.get("metadata") or {}
    if metadata.get("installation") and metadata["installation"] != gateway.installation_id():
        return None
    company = app = plan = None
    try:
        if metadata.get("company_id"):
            company = Company.get_or_none(Company.id == int(metadata["company_id"]))
        if metadata.get("app_id"):
            app = App.get_or_none(App.id == int(metadata["app_id"]))
        if metadata.get("plan_id"):
            plan = Plan.get_or_none(Plan.id == int(metadata["plan_id"]))
    except ValueError:
        pass
    if company is None and sub.get("customer"):
        customer = sub["customer"] if isinstance(sub["customer"], str) else sub["customer"]["id"]
        company = Company.get_or_none(Company.stripe_customer_id == customer)
    price_id = _price_of(sub)[0]
    if plan is None and price_id:
        plan = Plan.get_or_none(Plan.stripe_price_id == price_id)
    if app is None and plan is not None:
        app = plan.app
    if company is None or app is None:
        raise RetryLater(f"subscription {sub.get('id')} belongs to no company or app the market knows yet")
    return company, app, plan


def _items(sub):
    items = sub.get("items") or {}
    return items.get("data") or [] if isinstance(items, dict) else []


def _price_of(sub):
    items = _items(sub)
    if not items:
        return None, 0
    item = items[0]
    price = item.get("price") or {}
    if isinstance(price, str):
        return price, 0
    return price.get("id"), int(price.get("unit_amount") or 0) * int(item.get("quantity") or 1)


def _plan_of_metadata(sub, app_id):
    """The plan the market named when it set the price: a price the plan no longer sells (its
    price was edited since, the agreed price kept) maps to no plan's current price."""
    try:
        plan_id = int((sub.get("metadata") or {}).get("plan_id") or 0)
    except ValueError:
        return None
    return Plan.get_or_none(Plan.id == plan_id, Plan.app == app_id) if plan_id else None


def apply_subscription(config, sub, event_created, now=None):
    """Mirror Stripe's subscription onto its row (made from metadata if new); returns the row
    or None when the subscription is not the market's."""
    now = now or utcnow()
    row = Subscription.get_or_none(Subscription.stripe_subscription_id == sub["id"])
    if row is None:
        owner = _owner(sub)
        if owner is None:
            return None
        company, app, plan = owner
        row = Subscription(company=company, app=app, plan=plan, status=sub["status"],
                           stripe_subscription_id=sub["id"], created_at=now)
        previous = None
        told_before = None
    else:
        previous = row.status
        told_before = tuple(getattr(row, name) for name in _TOLD_FIELDS)
    status = sub["status"]
    if previous == "canceled" and status != "canceled":
        return row  # canceled is final at Stripe: whatever says otherwise is stale
    if previous == "unpaid" and status == "past_due":
        status = "unpaid"  # the sweep ended the grace; only a payment brings it back
    price_id, price_ore = _price_of(sub)
    items = _items(sub)
    row.status = status
    if price_id:
        row.stripe_price_id = price_id
        row.price_ore = price_ore
        plan = Plan.get_or_none(Plan.stripe_price_id == price_id) or _plan_of_metadata(sub, row.app_id)
        if plan is not None:
            row.plan = plan
    if items:
        row.current_period_start = gateway.from_timestamp(items[0].get("current_period_start"))
        row.current_period_end = gateway.from_timestamp(items[0].get("current_period_end"))
    row.cancel_at_period_end = bool(sub.get("cancel_at_period_end"))
    row.trial_end = gateway.from_timestamp(sub.get("trial_end"))
    row.canceled_at = gateway.from_timestamp(sub.get("canceled_at"))
    row.ended_at = gateway.from_timestamp(sub.get("ended_at"))
    newly_past_due = status == "past_due" and row.past_due_since is None
    if status == "past_due":
        row.past_due_since = row.past_due_since or now
    elif status in Subscription.ENTITLING_STATUSES:
        row.past_due_since = None
    row.stripe_event_created = max(row.stripe_event_created or 0, int(event_created or 0))
    row.updated_at = now
    row.save()
    subscription_history.record(row, now)
    if previous in Subscription.LIVE_STATUSES and status not in Subscription.LIVE_STATUSES:
        signals.access_ended.send(row.company, app=row.app, config=config, now=now)
    _tell_app(config, row, previous, told_before, now)
    if newly_past_due:
        _tell_payment_failed(config, row, {})
    return row


def _tell_app(config, row, previous, told_before, now):
    """The app hears of the change and the store's counts follow (signals.subscription_changed:
    an outbox row and the app's counts, in this transaction)."""
    if told_before is None:
        kind = "subscription.created"
    elif row.status in _TOLD_AS_CANCELED and previous not in _TOLD_AS_CANCELED:
        kind = "subscription.canceled"
    elif told_before != tuple(getattr(row, name) for name in _TOLD_FIELDS):
        kind = "subscription.updated"
    else:
        return
    signals.subscription_changed.send(row, kind=kind, config=config, now=now)


def _require_subscription(config, event, fetched):
    sub = fetched.get("subscription")
    if sub is None:
        sub_id = _subscription_id_of(event)
        if not sub_id:
            return None
        row = Subscription.get_or_none(Subscription.stripe_subscription_id == sub_id)
        if row is None and _concerns_us(event, sub_id):
            raise RetryLater(f"subscription {sub_id} could not be fetched")
        return row
    return apply_subscription(config, sub, event.get("created"))


def on_subscription(config, event, obj, fetched):
    _require_subscription(config, event, fetched)


def on_checkout_completed(config, event, session, fetched):
    if session.get("mode") != "subscription":
        return
    CheckoutAttempt.update(status="complete", completed_at=utcnow()).where(
        CheckoutAttempt.stripe_session_id == session["id"]).execute()
    _require_subscription(config, event, fetched)


def on_checkout_expired(config, event, session, fetched):
    CheckoutAttempt.update(status="expired").where(
        CheckoutAttempt.stripe_session_id == session["id"], CheckoutAttempt.status == "open").execute()


def on_invoice_paid(config, event, invoice, fetched):
    row = _require_subscription(config, event, fetched)
    if row is None or int(invoice.get("total") or 0) <= 0:
        return  # a trial's zero invoice moves no money
    payment = fetched.get("payment") or {}
    paid_at = gateway.from_timestamp((invoice.get("status_transitions") or {}).get("paid_at")) or gateway.from_timestamp(event.get("created"))
    ledger.record_payment(invoice, row, payment.get("fee"), payment.get("charge"), paid_at or utcnow(),
                          config["PLATFORM_FEE_PERCENT"])


def on_invoice_failed(config, event, invoice, fetched):
    row = _require_subscription(config, event, fetched)
    if row is None:
        return
    failed_at = gateway.from_timestamp(event.get("created")) or utcnow()
    if row.past_due_since is None and row.status in (*Subscription.LIVE_STATUSES, "incomplete"):
        # The grace (DESIGN.md §3) counts from the first failure, not the latest retry.
        changes = {"past_due_since": failed_at}
        if row.status in Subscription.ENTITLING_STATUSES:
            changes["status"] = "past_due"
        Subscription.update(**changes).where(Subscription.id == row.id).execute()
        row = Subscription.get_by_id(row.id)
        if "status" in changes:
            subscription_history.record(row, failed_at)
            signals.subscription_changed.send(row, kind="subscription.updated", config=config, now=utcnow())
        if row.status in Subscription.DUNNING_STATUSES:
            _tell_payment_failed(config, row, invoice)


def _tell_payment_failed(config, row, invoice):
    deadline = dunning.grace_deadline(row, config["BILLING_GRACE_DAYS"])
    app = row.app
    market = config["MARKET_URL"].rstrip("/")
    link = invoice.get("hosted_invoice_url")
    tell_company_admins(
        config, row.company, f"Payment for {app.name} failed — update your card by {deadline:%Y-%m-%d}",
        f"We could not charge your card for {app.name}. Your company keeps using it until "
        f"{deadline:%Y-%m-%d}; update your card before then under My apps ({market}/account/apps, "
        f"\"Update card and billing\") and the payment is retried at once."
        + (f"\n\nThe invoice: {link}" if link else ""))


def on_charge_refunded(config, event, charge, fetched):
    """Each refund of a charge the ledger knows becomes one negative row (idempotent by the
    refund's id: the admin's refund page may have written it already)."""
    payment = ledger.payment_of_charge(charge.get("id"))
    if payment is None:
        return
    for refund in sorted(fetched.get("refunds") or [], key=lambda r: (r.get("created") or 0, r["id"])):
        if refund.get("status") not in ("succeeded", "pending"):
            continue
        ledger.record_reversal("refund", payment, int(refund["amount"]), refund["id"],
                               gateway.from_timestamp(refund.get("created")) or utcnow())


def on_dispute(config, event, dispute, fetched):
    """Recorded as the stored event (the admin's and developer's lists read them); a lost
    dispute gives the money back like a full refund of what was disputed."""
    if event["type"] != "charge.dispute.closed" or dispute.get("status") != "lost":
        return
    payment = ledger.payment_of_charge(dispute.get("charge"))
    if payment is None:
        return
    ledger.record_reversal("dispute", payment, int(dispute.get("amount") or 0), dispute["id"],
                           gateway.from_timestamp(event.get("created")) or utcnow())


def on_account(config, event, account, fetched):
    connect.record_account(account)


HANDLERS = {
    "checkout.session.completed": on_checkout_completed,
    "checkout.session.expired": on_checkout_expired,
    "invoice.paid": on_invoice_paid,
    "invoice.payment_succeeded": on_invoice_paid,
    "invoice.payment_failed": on_invoice_failed,
    "account.updated": on_account,
    "charge.refunded": on_charge_refunded,
    **{kind: on_dispute for kind in DISPUTE_EVENTS},
    **{kind: on_subscription for kind in SUBSCRIPTION_EVENTS},
}
