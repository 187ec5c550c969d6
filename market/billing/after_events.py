"""What a Stripe event sets off at Stripe once the event is stored (DESIGN.md §5: no Stripe
call inside a database transaction).

`process` is the webhook endpoints' entry point: billing.webhooks stores and applies the event
in one transaction, then this carries out what the transaction left recorded for Stripe:

- a lost dispute's reversal of the developer's transfer (a DisputeReversal row, unique per
  dispute): made at most once, ever, and never before the event is stored. A redelivery, or a
  delivery after the event row was lost and Stripe's 24-hour idempotency window passed, finds
  the row done and reverses nothing again;
- a deauthorized developer's subscriptions set to cancel at period end, customers told, as for
  a suspended app.

A failure here answers 5xx (RetryLater): Stripe redelivers, the event is a duplicate, and
this part is tried again.
"""
import logging

from market.billing import gateway, suspension, webhooks
from market.billing.transactions import write_transaction
from market.core import words
from market.core.clock import format_day, utcnow
from models import App, Developer, DisputeReversal

log = logging.getLogger(__name__)


def process(config, event):
    """Store and apply the event (billing.webhooks.handle), then what it sets off at Stripe."""
    outcome = webhooks.handle(config, event)
    finish(config, event)
    return outcome


def finish(config, event):
    kind = event["type"]
    obj = event["data"]["object"]
    if kind == "charge.dispute.closed" and isinstance(obj.get("id"), str):
        reverse_lost_dispute(config, obj["id"])
    elif kind == "account.application.deauthorized" and event.get("account"):
        wind_down_deauthorized(config, event["account"])


# ---------------------------------------------------------------------------- lost disputes
def reverse_developer_share_of_lost_dispute(config, dispute):
    """A lost dispute is paid by the platform at Stripe (destination charges); the developer
    gives back what it kept of the disputed amount (all but the application fee's share), as
    with a refund. `dispute`: id, charge, amount."""
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
        log.warning("transfer of lost dispute %s not reversed: %s", dispute["id"], error)
        return None


def reverse_lost_dispute(config, dispute_id):
    """Carry out the dispute's pending reversal, if there is one; done once, ever."""
    row = DisputeReversal.get_or_none(DisputeReversal.dispute_id == dispute_id,
                                      DisputeReversal.status == "pending")
    if row is None:
        return None
    try:
        reversal = reverse_developer_share_of_lost_dispute(
            config, {"id": row.dispute_id, "charge": row.charge_id, "amount": row.amount_ore})
    except gateway.StripeError as error:
        raise webhooks.RetryLater(f"could not reverse the developer's share of {dispute_id}: {error}") from error
    with write_transaction():
        DisputeReversal.update(status="done" if reversal else "skipped", done_at=utcnow(),
                               stripe_reversal_id=(reversal or {}).get("id")).where(
            DisputeReversal.id == row.id, DisputeReversal.status == "pending").execute()
    return reversal


# ---------------------------------------------------------------------------- deauthorization
def _deauthorized_text(locale, app, until):
    if until:
        return words.say(locale, "The developer of %(app)s no longer takes payments through the App Market. Your "
                                 "subscription will not renew: it ends at the end of the paid period on %(date)s, "
                                 "and you will not be charged again for it.",
                         app=app.name, date=format_day(until, locale))
    return words.say(locale, "The developer of %(app)s no longer takes payments through the App Market. Your "
                             "subscription will not renew: it ends at the end of the paid period, and you will not "
                             "be charged again for it.", app=app.name)


def wind_down_deauthorized(config, account_id, now=None):
    """Every live subscription to the deauthorized developer's apps is set to cancel at period
    end (the market can no longer pay the developer) and its company told. Returns how many."""
    developer = Developer.get_or_none(Developer.stripe_account_id == account_id)
    if developer is None or developer.stripe_deauthorized_at is None:
        return 0
    done = failed = 0
    for app in App.select().where(App.developer == developer).order_by(App.id):
        set_now, missed = suspension.cancel_renewals(
            config, app, "deauthorize", now,
            subject=lambda locale, app=app: words.say(locale, "%(app)s will not renew", app=app.name),
            text=_deauthorized_text)
        done += len(set_now)
        failed += missed
    if failed:
        raise webhooks.RetryLater(f"{failed} subscriptions of {account_id} not yet set to cancel at Stripe")
    return done
