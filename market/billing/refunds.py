"""Money given back: the admin's refunds (the developer's transfer and the platform's fee are
reversed in proportion at Stripe, DESIGN.md §5) and the disputes Stripe reported."""
import datetime
import json

from market.accounts.companies import parse_id
from market.billing import company_mail, gateway, ledger
from market.billing.refusals import RefundRefused, kronor
from market.billing.transactions import write_transaction
from market.core import money, words
from market.core.clock import utcnow
from market.outbound import mail
from models import LedgerEntry, StripeEvent


def refund(config, entry_id, amount_text, reason, now=None):
    """Refund (part of) a paid invoice: the developer's transfer and the platform's fee are
    reversed in proportion at Stripe, and the ledger gets the negative row at once (the
    charge.refunded webhook finds it made)."""
    now = now or utcnow()
    wanted = parse_id(entry_id or "")
    entry = None if wanted is None else LedgerEntry.get_or_none(LedgerEntry.id == wanted,
                                                                 LedgerEntry.kind == "payment")
    if entry is None:
        raise RefundRefused(words.marked("Choose a payment from the list."))
    if not entry.stripe_charge_id:
        raise RefundRefused(words.marked("This payment has no Stripe charge to refund."))
    left = entry.gross_ore - ledger.reversed_so_far(entry)
    amount = money.parse_kronor(amount_text) if (amount_text or "").strip() else left
    if amount is None:
        raise RefundRefused(words.marked("Write the amount in kronor, e.g. 248,75."))
    if amount <= 0 or amount > left:
        raise RefundRefused(words.marked("The amount must be more than 0 and at most %(amount)s (what is left of "
                                         "this payment)."), amount=kronor(left))
    reason = (reason or "").strip()
    if not reason or len(reason) > 500 or "\x00" in reason:
        raise RefundRefused(words.marked("Give a reason (at most 500 characters)."))
    return refund_payment(config, entry, amount, reason, now)


def refund_payment(config, entry, amount, reason, now, purpose="refund"):
    """Give back `amount` öre of a paid invoice at Stripe, the developer's transfer and the
    platform's fee reversed in proportion, and book it (outside any transaction: Stripe first).
    The row follows the refund's state (a failed one is booked back); the webhooks find it made.
    Raises gateway.StripeError when Stripe refused or could not be reached: nothing was booked."""
    made = gateway.stripe_client(config).v1.refunds.create({
        "charge": entry.stripe_charge_id, "amount": amount, "reverse_transfer": True,
        "refund_application_fee": True, "reason": "requested_by_customer",
        "metadata": {"reason": reason[:500], "ledger_entry": str(entry.id), "installation": gateway.installation_id()},
    }, gateway.options(purpose, entry.id, ledger.reversed_so_far(entry), amount))
    # The customer's mail goes out after the commit (the webhook of this refund finds it sent).
    with mail.held_until_done(), write_transaction():
        row = ledger.record_reversal("refund", entry, made.amount, made.id, now, refund_status=made.status)
        if row is not None and made.status in ("failed", "canceled"):
            ledger.undo_reversal(row, made.status, now)
        elif row is not None:
            company_mail.tell_refund(config, row)
        return row


def disputes(developer=None, limit=100):
    """Disputes as Stripe last told the market (charge.dispute.* events, stored once each),
    newest first, with the payment they concern; a developer sees only its own."""
    latest = {}
    events = (StripeEvent.select().where(StripeEvent.type.startswith("charge.dispute."))
              .order_by(StripeEvent.created, StripeEvent.id))
    for row in events:
        dispute = json.loads(row.payload)["data"]["object"]
        latest[dispute["id"]] = dispute
    out = []
    for dispute in latest.values():
        payment = LedgerEntry.get_or_none(LedgerEntry.stripe_charge_id == dispute.get("charge"),
                                          LedgerEntry.kind == "payment")
        if developer is not None and (payment is None or payment.developer_id != developer.id):
            continue
        out.append({"id": dispute["id"], "amount_ore": int(dispute.get("amount") or 0),
                    "status": dispute.get("status"), "reason": dispute.get("reason") or "",
                    "created": gateway.from_timestamp(dispute.get("created")), "payment": payment})
    out.sort(key=lambda d: (d["created"] or datetime.datetime.min), reverse=True)
    return out[:limit]
