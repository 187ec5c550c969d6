"""The market's own record of each subscription's invoices (issue R, models.SubscriptionInvoice).

My apps lists a subscription's invoices from this table and never asks Stripe while it renders.
The rows are kept from the `invoice.*` webhook events the market receives, applied inside the
webhook's transaction (market.billing.webhooks calls `record`, or `on_invoice` for the events it
has no other use for), from the invoice object as Stripe sent it in the event. Stripe delivers
events more than once and in any order, so the upsert is idempotent and never moves an
invoice's status backwards: draft → open → uncollectible → paid | void, the last two final (a
late `open` after `paid` changes nothing but a missing number or link).

Subscriptions that existed before this table have their invoices fetched from Stripe once by
`backfill` (`flask --app app invoices-backfill`).
"""
import logging

from peewee import Select, fn

from market.billing import gateway
from market.billing.transactions import write_transaction
from market.core.clock import utcnow
from market.data import prepared
from market.data.database import is_postgres
from models import Subscription, SubscriptionInvoice, db

log = logging.getLogger(__name__)

# The events that carry an invoice and matter to no other part of the market; invoice.paid,
# invoice.payment_succeeded and invoice.payment_failed are webhooks' own and record as well.
RECORD_ONLY_EVENTS = ("invoice.created", "invoice.finalized", "invoice.updated", "invoice.voided",
                      "invoice.marked_uncollectible", "invoice.payment_action_required", "invoice.deleted")

# How far along its life an invoice is; a status never gives way to one of a lower rank.
_RANK = {"draft": 0, "open": 1, "uncollectible": 2, "paid": 3, "void": 3}
_FINAL = ("paid", "void")


def subscription_id_of(invoice):
    """The Stripe subscription an invoice bills (the current API names it under `parent`)."""
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    sub = details.get("subscription") or invoice.get("subscription")
    return sub if isinstance(sub, str) or sub is None else sub.get("id")


def _moves_forward(old, new):
    if new == old:
        return True
    if old in _FINAL:
        return False  # paid and void are final at Stripe: whatever says otherwise is stale
    return _RANK.get(new, -1) >= _RANK.get(old, -1)


def record(subscription, invoice, event_created=None, now=None):
    """Upsert the row of `invoice` (a Stripe invoice as a dict) of `subscription` (its row).
    Runs inside the caller's transaction; concurrent deliveries of the same invoice meet on the
    unique `stripe_invoice_id` (and the row lock on PostgreSQL). Returns the row, or None for an
    object that is no invoice."""
    invoice_id = invoice.get("id")
    if not isinstance(invoice_id, str) or not invoice_id:
        return None
    now = now or utcnow()
    status = invoice.get("status") or "draft"
    created = (gateway.from_timestamp(invoice.get("created")) or gateway.from_timestamp(event_created) or now)
    number = invoice.get("number") or ""
    url = invoice.get("hosted_invoice_url") or ""
    total = int(invoice.get("total") or 0)
    SubscriptionInvoice.insert(
        subscription=subscription.id, company=subscription.company_id, stripe_invoice_id=invoice_id,
        number=number, status=status, total_ore=total, created=created, hosted_invoice_url=url,
        updated_at=now).on_conflict_ignore().execute()
    query = SubscriptionInvoice.select().where(SubscriptionInvoice.stripe_invoice_id == invoice_id)
    if is_postgres(db):
        query = query.for_update()  # SQLite's write transactions are exclusive already
    row = query.get()
    changes = {}
    if _moves_forward(row.status, status):
        changes.update(status=status, total_ore=total)
        if number:
            changes["number"] = number
        if url:
            changes["hosted_invoice_url"] = url
    else:
        # A stale event still fills what the newer ones did not carry.
        if number and not row.number:
            changes["number"] = number
        if url and not row.hosted_invoice_url:
            changes["hosted_invoice_url"] = url
    changes = {name: value for name, value in changes.items() if getattr(row, name) != value}
    if changes:
        SubscriptionInvoice.update(**changes, updated_at=now).where(SubscriptionInvoice.id == row.id).execute()
        for name, value in changes.items():
            setattr(row, name, value)
    return row


def forget_draft(invoice_id):
    """invoice.deleted: Stripe deletes only drafts; a row that moved on stays."""
    SubscriptionInvoice.delete().where(SubscriptionInvoice.stripe_invoice_id == invoice_id,
                                       SubscriptionInvoice.status == "draft").execute()


def on_invoice(config, event, invoice, fetched):
    """The webhook handler of RECORD_ONLY_EVENTS (market.billing.webhooks.HANDLERS), from the
    event alone. An invoice of a subscription the market has not mirrored yet is recorded by
    its invoice.paid or invoice.payment_failed, which bring the subscription with them."""
    sub_id = subscription_id_of(invoice)
    row = Subscription.get_or_none(Subscription.stripe_subscription_id == sub_id) if sub_id else None
    if row is None:
        details = (invoice.get("parent") or {}).get("subscription_details") or {}
        theirs = (details.get("metadata") or {}).get("installation")
        if not sub_id or (theirs and theirs != gateway.installation_id()):
            return "foreign"
        return None
    if event["type"] == "invoice.deleted":
        forget_draft(invoice.get("id"))
        return None
    record(row, invoice, event.get("created"))
    return None


def _shown(row):
    return {"id": row.stripe_invoice_id, "number": row.number or row.stripe_invoice_id, "status": row.status,
            "total_ore": row.total_ore, "created": row.created, "url": row.hosted_invoice_url or None}


def recorded_invoices(subscription, limit=12):
    """The subscription's invoices as rows for My apps, newest first: id, number, status,
    total_ore, created, url (without the refunds, which the ledger adds)."""
    return recorded_invoices_of([subscription.id], limit)[subscription.id]


def recorded_invoices_of(subscription_ids, limit=12):
    """{subscription id: `recorded_invoices`} for many subscriptions in one query (My apps): the
    newest `limit` of each, picked by the database (ROW_NUMBER per subscription), so the cost
    does not grow with a subscription's history. Every id asked for has a list."""
    ids = sorted({int(i) for i in subscription_ids})
    out = {i: [] for i in ids}
    if not ids:
        return out
    si = SubscriptionInvoice

    def build(count, sub_ids):
        newest = (si.select(si.id, fn.ROW_NUMBER().over(partition_by=[si.subscription],
                                                        order_by=[si.created.desc(), si.id.desc()]).alias("n"))
                  .where(si.subscription.in_(sub_ids)).alias("newest"))
        shown = Select([newest], [newest.c.id]).where(newest.c.n <= count)
        return si.select().where(si.id.in_(shown)).order_by(si.created.desc(), si.id.desc())

    # On every My apps render: its SQL is built once per number of subscriptions (prepared.py).
    for row in prepared.select_listed("recorded_invoices_of", build, (int(limit),), ids):
        out[row.subscription_id].append(_shown(row))
    return out


# ---------------------------------------------------------------------------- the backfill
def backfill(config, echo=print):
    """Once, for a deployment that had subscriptions before this table: each live-at-Stripe
    subscription's invoices are fetched from Stripe and recorded. Every Stripe call is made
    outside any database transaction; each subscription's rows are then written in one short
    transaction of their own (the same upsert as the webhooks', so running it again, or while
    events arrive, changes nothing they already said). Imported history has nothing at Stripe
    and is skipped. Returns (subscriptions, invoices) done; a subscription Stripe cannot list
    is logged and left for the next run."""
    client = gateway.stripe_client(config)
    subscriptions = list(Subscription.select()
                         .where(Subscription.imported == False,  # noqa: E712
                                Subscription.stripe_subscription_id.is_null(False))
                         .order_by(Subscription.id))
    done = invoices = 0
    for subscription in subscriptions:
        try:
            listing = client.v1.invoices.list({"subscription": subscription.stripe_subscription_id, "limit": 100})
            fetched = [gateway.plain(invoice) for invoice in listing.auto_paging_iter()]
        except gateway.StripeError as error:
            log.warning("invoices of subscription %s not backfilled: %s", subscription.id, error)
            echo(f"subscription {subscription.id}: {error}")
            continue
        with write_transaction():
            for invoice in fetched:
                record(subscription, invoice)
        done += 1
        invoices += len(fetched)
    return done, invoices
