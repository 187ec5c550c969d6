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

from market.billing import company_mail, connect, dunning, gateway, invoice_records, ledger, signals
from market.billing import history as subscription_history
from market.billing.company_mail import tell_company_admins, tell_developer, tell_platform_admins
from market.billing.transactions import write_transaction
from market.core import words
from market.core.clock import format_day
from market.data.database import is_postgres
from market.outbound import mail
from models import (
    App,
    CheckoutAttempt,
    Company,
    Developer,
    DisputeReversal,
    IntegrityError,
    LedgerEntry,
    Plan,
    StripeEvent,
    Subscription,
    db,
    utcnow,
)

SIGNATURE_TOLERANCE = 300
log = logging.getLogger(__name__)

SUBSCRIPTION_EVENTS = ("customer.subscription.created", "customer.subscription.updated",
                       "customer.subscription.deleted", "customer.subscription.paused",
                       "customer.subscription.resumed")
INVOICE_PAID_EVENTS = ("invoice.paid", "invoice.payment_succeeded")
REFUND_EVENTS = ("charge.refund.updated", "refund.created", "refund.updated", "refund.failed")
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


MAX_BODY_BYTES = 1024 * 1024  # Stripe's events are a few kB; anything near this is not one
MAX_DEPTH = 64  # Stripe's objects nest a handful of levels (expanded ones a few more)


def webhook_secrets(config, connect=False):
    """The signing secrets of one endpoint: the platform's (`STRIPE_WEBHOOK_SECRET`) or, for
    `?connect=1`, the connected accounts' (`STRIPE_CONNECT_WEBHOOK_SECRET`); each a
    comma-separated list, old and new during a rotation. Never each other's."""
    name = "STRIPE_CONNECT_WEBHOOK_SECRET" if connect else "STRIPE_WEBHOOK_SECRET"
    return [s.strip() for s in (config.get(name) or "").split(",") if s.strip()]


def _too_deep(value, limit=MAX_DEPTH):
    """Whether a parsed JSON value nests beyond `limit` (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(node, dict):
            stack.extend((child, depth + 1) for child in node.values() if isinstance(child, dict | list))
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node if isinstance(child, dict | list))
    return False


def verify(payload, header, secrets, connect=False):
    """The event (a dict) if `header` signs `payload` with any of `secrets` within 300 s and
    the event belongs on this endpoint: one of a connected account (`account` set) only on
    the Connect endpoint, one of the platform only on the platform's."""
    if not header or not secrets:
        raise InvalidEvent("missing signature")
    if len(payload) > MAX_BODY_BYTES:
        raise InvalidEvent("body too large")
    try:
        text = payload.decode("utf-8") if isinstance(payload, bytes | bytearray) else payload
    except UnicodeDecodeError:
        raise InvalidEvent("body is not UTF-8") from None
    for secret in secrets:
        if not gateway.signature_valid(text, header, secret, SIGNATURE_TOLERANCE):
            continue
        try:
            event = json.loads(text)
        except (ValueError, RecursionError):
            raise InvalidEvent("body is not JSON (or nested too deeply)") from None
        if _too_deep(event):
            raise InvalidEvent(f"body nested deeper than {MAX_DEPTH}")
        if not isinstance(event, dict) or not isinstance(event.get("id"), str) or not isinstance(
                event.get("type"), str) or not isinstance((event.get("data") or {}).get("object"), dict):
            raise InvalidEvent("not a Stripe event")
        account = event.get("account")
        if account is not None and not isinstance(account, str):
            raise InvalidEvent("not a Stripe event")
        if connect and not account:
            raise InvalidEvent("a platform event (no account) sent to the Connect endpoint")
        if not connect and account:
            raise InvalidEvent("a connected account's event sent to the platform endpoint")
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


def _prefetch(config, event):
    kind = event["type"]
    fetched = {}
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
    """Store and apply one verified event: "handled", "duplicate", "ignored" (a type the market
    does not follow) or "foreign" (about nothing of this installation: acknowledged, logged).
    What must reach Stripe after the event is stored (a lost dispute's transfer reversal, a
    deauthorized developer's subscriptions) is billing.after_events', run by its caller."""
    if StripeEvent.select().where(StripeEvent.event_id == event["id"]).exists():
        return "duplicate"
    fetched = _prefetch(config, event)
    try:
        return _apply(config, event, fetched)
    except IntegrityError:
        # Stripe sends a new subscription's first events at once; on PostgreSQL a concurrent one
        # may have made the same row (a Subscription, a ledger entry) between our read and our
        # insert. Our transaction was rolled back whole, event row included: apply it again,
        # now over the winner's row. A second conflict is a real fault and is raised.
        log.info("webhook %s %s: a concurrent event made the same row first; applied again",
                 event["id"], event["type"])
        return _apply(config, event, fetched)


def _apply(config, event, fetched):
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
            outcome = handler(config, event, event["data"]["object"], fetched)
            if outcome == "foreign":
                log.info("webhook %s %s: foreign (nothing of this installation), acknowledged",
                         event["id"], event["type"])
                return "foreign"
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
    ours = bool(metadata.get("installation") or metadata.get("company_id") or metadata.get("app_id")
                or metadata.get("plan_id"))
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
    if not ours and company is None and plan is None:
        # Made in the Stripe account by someone else (the dashboard, another system): not
        # the market's, and no delivery of it will ever be (QUALITY.md 18: answered 2xx).
        return None
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
    query = Subscription.select().where(Subscription.stripe_subscription_id == sub["id"])
    if is_postgres(db):
        # The market's own mirror of Stripe's answer and the webhook of the same change may
        # apply at once: one waits for the other, so the change is told once (SQLite's write
        # transactions are exclusive already).
        query = query.for_update()
    row = query.first()
    if row is None:
        owner = _owner(sub)
        if owner is None:
            return None
        company, app, plan = owner
        row = Subscription(company=company, app=app, plan=plan, status=sub["status"],
                           stripe_subscription_id=sub["id"], created_at=now)
        previous = None
        told_before = None
        was_canceling = False
    else:
        previous = row.status
        told_before = tuple(getattr(row, name) for name in _TOLD_FIELDS)
        was_canceling = bool(row.cancel_at_period_end)
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
    _tell_cancellation(config, row, previous, was_canceling)
    return row


def _tell_cancellation(config, row, previous, was_canceling):
    """The company's own cancellation (My apps, or Stripe's billing portal) is mailed once; one
    the market made (a suspension, a developer gone from Stripe, an app no longer sold) is
    mailed by what made it, with its reason."""
    if previous is None:
        return
    if was_canceling and not row.cancel_at_period_end and row.status in Subscription.LIVE_STATUSES:
        company_mail.forget(company_mail.cancel_key(row))  # kept: a later cancellation is mailed again
        return
    canceling = row.cancel_at_period_end and not was_canceling and row.status in Subscription.LIVE_STATUSES
    ended = (row.status == "canceled" and previous in Subscription.LIVE_STATUSES and not was_canceling)
    if not (canceling or ended):
        return
    app = row.app
    if (app.status == "suspended" or app.developer.stripe_deauthorized_at is not None
            or (not app.is_free and not Plan.select().where(Plan.app == app, Plan.active == True).exists())):  # noqa: E712
        return
    company_mail.tell_cancellation(config, row)


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
    if _require_subscription(config, event, fetched) is None:
        return "foreign"


def on_checkout_completed(config, event, session, fetched):
    if session.get("mode") != "subscription":
        return
    CheckoutAttempt.update(status="complete", completed_at=utcnow()).where(
        CheckoutAttempt.stripe_session_id == session["id"]).execute()
    if _require_subscription(config, event, fetched) is None:
        return "foreign"


def on_checkout_expired(config, event, session, fetched):
    CheckoutAttempt.update(status="expired").where(
        CheckoutAttempt.stripe_session_id == session["id"], CheckoutAttempt.status == "open").execute()


def on_invoice_paid(config, event, invoice, fetched):
    row = _require_subscription(config, event, fetched)
    if row is None:
        return "foreign"
    invoice_records.record(row, invoice, event.get("created"))  # what My apps lists (issue R)
    if int(invoice.get("total") or 0) <= 0:
        return  # a trial's zero invoice moves no money
    payment = fetched.get("payment") or {}
    paid_at = gateway.from_timestamp((invoice.get("status_transitions") or {}).get("paid_at")) or gateway.from_timestamp(event.get("created"))
    ledger.record_payment(invoice, row, payment.get("fee"), payment.get("charge"), paid_at or utcnow(),
                          config["PLATFORM_FEE_PERCENT"])
    # Once per invoice: invoice.paid and invoice.payment_succeeded both come for each one.
    company_mail.tell_receipt(config, invoice, row)


def on_invoice_failed(config, event, invoice, fetched):
    row = _require_subscription(config, event, fetched)
    if row is None:
        return "foreign"
    invoice_records.record(row, invoice, event.get("created"))  # what My apps lists (issue R)
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

    def text(locale):
        body = words.say(locale, "We could not charge your card for %(app)s. Your company keeps using it until "
                                 "%(date)s; update your card before then under My apps (%(url)s, \"Update card and "
                                 "billing\") and the payment is retried at once.",
                         app=app.name, date=format_day(deadline, locale), url=f"{market}/account/apps")
        return body + ("\n\n" + words.say(locale, "The invoice: %(url)s", url=link) if link else "")

    tell_company_admins(
        config, row.company,
        lambda locale: words.say(locale, "Payment for %(app)s failed — update your card by %(date)s", app=app.name,
                                 date=format_day(deadline, locale)),
        text)


def _follow_refund(config, payment, refund, when):
    """One step of a refund (pending → succeeded, or → failed / canceled) in the ledger: a
    pending or succeeded refund is a negative row, a failed or canceled one is undone by the
    opposite row. A late `pending` after the outcome changes nothing."""
    status = refund.get("status")
    if status not in ("pending", "requires_action", "succeeded", "failed", "canceled"):
        return
    row = LedgerEntry.get_or_none(LedgerEntry.stripe_ref == refund["id"])
    if row is None:
        # Booked even when the first word is `failed`, so a stale `pending` delivered after it
        # finds the refund and its undoing and books nothing.
        row = ledger.record_reversal("refund", payment, int(refund.get("amount") or 0), refund["id"], when,
                                     refund_status=status)
        if row is None:
            return  # nothing left of the payment to give back (a lost dispute took it)
    if status not in ("failed", "canceled"):
        company_mail.tell_refund(config, row)  # once per refund id, whoever booked it first
    if status in ("failed", "canceled"):
        ledger.undo_reversal(row, status, when)
    elif not LedgerEntry.select().where(LedgerEntry.stripe_ref == ledger.undone_ref(row)).exists():
        ledger.follow_refund(row, status)


def on_charge_refunded(config, event, charge, fetched):
    """Each refund of a charge the ledger knows becomes one negative row (idempotent by the
    refund's id: the admin's refund page may have written it already), in its current state."""
    payment = ledger.payment_of_charge(charge.get("id"))
    if payment is None:
        return "foreign"
    for refund in sorted(fetched.get("refunds") or [], key=lambda r: (r.get("created") or 0, r["id"])):
        _follow_refund(config, payment, refund, gateway.from_timestamp(refund.get("created")) or utcnow())


def on_refund(config, event, refund, fetched):
    """`charge.refund.updated`, `refund.created|updated|failed`: the refund object itself, as it
    stood when the event was made."""
    charge = refund.get("charge")
    charge = charge if isinstance(charge, str) or charge is None else charge.get("id")
    payment = ledger.payment_of_charge(charge)
    if payment is None or not isinstance(refund.get("id"), str):
        if (refund.get("metadata") or {}).get("installation") == gateway.installation_id():
            # Ours (the admin's refund page names the installation), about a payment not
            # recorded yet: Stripe retries (QUALITY.md 18), never 200 and dropped.
            raise RetryLater(f"refund {refund.get('id')} of charge {charge} the ledger does not know yet")
        return "foreign"
    _follow_refund(config, payment, refund, gateway.from_timestamp(event.get("created")) or utcnow())


def on_dispute(config, event, dispute, fetched):
    """Recorded as the stored event (the admin's and developer's lists read them); a lost
    dispute gives the money back like a full refund of what was disputed, and the developer's
    share of it is to be reversed at Stripe: a DisputeReversal row, once per dispute ever,
    carried out by after_events once this transaction has committed."""
    payment = ledger.payment_of_charge(dispute.get("charge"))
    if payment is None:
        return "foreign"
    if event["type"] != "charge.dispute.closed" or dispute.get("status") != "lost":
        return
    ledger.record_reversal("dispute", payment, int(dispute.get("amount") or 0), dispute["id"],
                           gateway.from_timestamp(event.get("created")) or utcnow())
    if not DisputeReversal.select().where(DisputeReversal.dispute_id == dispute["id"]).exists():
        try:
            with db.atomic():
                DisputeReversal.create(dispute_id=dispute["id"], charge_id=dispute.get("charge"),
                                       amount_ore=int(dispute.get("amount") or 0))
        except IntegrityError:
            pass  # a concurrent delivery made it


def on_account(config, event, account, fetched):
    """Applied from the event alone (no call to Stripe), in the order of `created`."""
    if not isinstance(account.get("id"), str) or not connect.record_account(account, int(event.get("created") or 0)):
        if not Developer.select().where(Developer.stripe_account_id == account.get("id")).exists():
            return "foreign"


def on_deauthorized(config, event, application, fetched):
    """The developer disconnected its Stripe account from the platform: no payouts and no Buy
    from now on, the developer and the platform's admins told. Its subscriptions are set to
    cancel at period end, with their customers told, by after_events (calls to Stripe)."""
    developer = connect.deauthorize(event.get("account"), utcnow())
    if developer is None:
        if not Developer.select().where(Developer.stripe_account_id == event.get("account")).exists():
            return "foreign"
        return
    market = config["MARKET_URL"].rstrip("/")
    tell_developer(
        config, developer,
        lambda locale: words.say(locale, "Your Stripe account was disconnected from the App Market"),
        lambda locale: words.say(
            locale, "Your Stripe account was disconnected from the App Market, so the market can no longer pay you. "
                    "Your paid apps cannot be bought until you set up payouts again (%(url)s), and your customers' "
                    "subscriptions will not renew: each ends at the end of its paid period.",
            url=f"{market}/developer/payouts"))
    tell_platform_admins(
        config,
        lambda locale: words.say(locale, "Developer %(developer)s disconnected its Stripe account",
                                 developer=developer.name),
        lambda locale: words.say(
            locale, "%(developer)s (Stripe account %(account)s) deauthorized the platform. Its paid apps can no "
                    "longer be bought, and its subscriptions are set to cancel at period end.",
            developer=developer.name, account=developer.stripe_account_id))


HANDLERS = {
    "checkout.session.completed": on_checkout_completed,
    "checkout.session.expired": on_checkout_expired,
    "invoice.paid": on_invoice_paid,
    "invoice.payment_succeeded": on_invoice_paid,
    "invoice.payment_failed": on_invoice_failed,
    **{kind: invoice_records.on_invoice for kind in invoice_records.RECORD_ONLY_EVENTS},
    "account.updated": on_account,
    "account.application.deauthorized": on_deauthorized,
    "charge.refunded": on_charge_refunded,
    **{kind: on_refund for kind in REFUND_EVENTS},
    **{kind: on_dispute for kind in DISPUTE_EVENTS},
    **{kind: on_subscription for kind in SUBSCRIPTION_EVENTS},
}
