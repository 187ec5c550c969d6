"""Money back (issue T): within REFUND_WINDOW_DAYS × 24 h after a subscription's first paid
invoice was paid, an admin of the entitled company ends it with a full refund from My apps.

Once per company and app, ever: a MoneyBack row is committed before Stripe is asked, so a double
click or two servers cannot both refund. Then, outside any transaction, Stripe first: the
subscription is canceled at once without proration (the webhook mirror ends the entitlement,
revokes the connection and tells the app `subscription.canceled` with `"reason": "refunded"`),
and every paid invoice of it is refunded in full of what is still unrefunded, the developer's
transfer and the platform's fee reversed (refunds.refund_payment, the admin's refund). The ledger
follows each refund's state as the webhooks report it; a refund that failed leaves its payment
with money left to refund, which My apps shows the customer and /admin/refunds the admin (who
refunds the rest there). The entitlement does not come back.
"""
import datetime
import logging

from market.billing import company_mail, gateway, ledger, refunds, subscriptions, webhooks
from market.billing.refusals import MoneyBackRefused, NotFound, day
from market.billing.transactions import write_transaction
from market.core import money, words
from market.core.clock import utcnow
from models import IntegrityError, LedgerEntry, MoneyBack, Subscription

log = logging.getLogger(__name__)

REASON = "Money back within the refund window (customer's request from My apps)"
ONCE = words.marked("Your company already had its money back for %(app)s once; it is given once per company "
                    "and app.")


def paid_invoices(subscription):
    """The subscription's payments (ledger rows of paid invoices that moved money), oldest first."""
    return list(LedgerEntry.select().where(LedgerEntry.subscription == subscription, LedgerEntry.kind == "payment",
                                           LedgerEntry.gross_ore > 0)
                .order_by(LedgerEntry.occurred_at, LedgerEntry.id))


def window_end(config, subscription):
    """When money back ends for the subscription: its first paid invoice's payment plus
    REFUND_WINDOW_DAYS × 24 h; None when it never paid or the window is off."""
    days = int(config.get("REFUND_WINDOW_DAYS") or 0)
    payments = paid_invoices(subscription)
    if days <= 0 or not payments:
        return None
    return payments[0].occurred_at + datetime.timedelta(hours=24 * days)


def given(company, app):
    """The company's money back for the app, or None."""
    return MoneyBack.get_or_none(MoneyBack.company == company, MoneyBack.app == app)


def _fully_refunded_before(company, app):
    """Did an admin already give back in full a payment of the company for the app?"""
    payments = LedgerEntry.select().where(LedgerEntry.company == company, LedgerEntry.app == app,
                                          LedgerEntry.kind == "payment", LedgerEntry.gross_ore > 0)
    return any(ledger.reversed_so_far(p) >= p.gross_ore for p in payments)


def check(config, company, app, now=None):
    """The live subscription money back would end, or raise why not (NotFound, MoneyBackRefused)."""
    now = now or utcnow()
    if given(company, app) is not None:
        raise MoneyBackRefused(ONCE, app=app.name)
    subscription = subscriptions.current_subscription(company, app)
    if subscription is None:
        raise NotFound(words.marked("Your company has no subscription to %(app)s to refund."), app=app.name)
    if int(config.get("REFUND_WINDOW_DAYS") or 0) <= 0:
        raise MoneyBackRefused(words.marked("The App Market does not offer money back now. You can cancel the "
                                            "subscription at the end of the paid period."))
    if subscription.imported or not subscription.stripe_subscription_id:
        raise MoneyBackRefused(words.marked("This subscription was imported from the old billing system; it "
                                            "cannot be refunded here."))
    payments = paid_invoices(subscription)
    if not payments:
        raise MoneyBackRefused(words.marked("Nothing has been paid for %(app)s yet, so there is nothing to refund. "
                                            "You can cancel the trial and nothing is charged."), app=app.name)
    if _fully_refunded_before(company, app):
        raise MoneyBackRefused(words.marked("A payment for %(app)s was already refunded in full; money back is "
                                            "given once per company and app."), app=app.name)
    end = window_end(config, subscription)
    if now > end:
        days = int(config["REFUND_WINDOW_DAYS"])
        raise MoneyBackRefused(words.marked("Money back is possible for %(days)s days after the first payment; "
                                            "for %(app)s that ended on %(date)s. You can still cancel at the "
                                            "end of the paid period."), days=days, app=app.name, date=day(end))
    return subscription


def left_to_refund(subscription):
    """Öre of the subscription's payments not given back (yet): after money back, more than 0
    means a refund failed or is still to be made."""
    return sum(p.gross_ore - ledger.reversed_so_far(p) for p in paid_invoices(subscription))


def give(config, company, app, user, now=None):
    """End the company's subscription to the app with a full refund. Returns (MoneyBack row,
    öre refunded, öre whose refund failed). Raises NotFound or MoneyBackRefused (nothing
    changed), or gateway.StripeError when Stripe could not cancel (nothing changed either)."""
    now = now or utcnow()
    subscription = check(config, company, app, now)
    try:
        with write_transaction():
            claim = MoneyBack.create(company=company, app=app, subscription=subscription, user=user, created_at=now)
    except IntegrityError as error:
        raise MoneyBackRefused(ONCE, app=app.name) from error
    client = gateway.stripe_client(config)
    try:
        canceled = client.v1.subscriptions.cancel(
            subscription.stripe_subscription_id, {"prorate": False, "invoice_now": False},
            gateway.options("money-back-cancel", subscription.stripe_subscription_id))
    except gateway.StripeError:
        # Nothing happened at Stripe: the company may ask again.
        with write_transaction():
            MoneyBack.delete().where(MoneyBack.id == claim.id).execute()
        raise
    with write_transaction():
        webhooks.apply_subscription(config, canceled.to_dict(), 0, now)
    refunded = failed = 0
    errors = []
    for payment in paid_invoices(subscription):
        left = payment.gross_ore - ledger.reversed_so_far(payment)
        if left <= 0 or not payment.stripe_charge_id:
            continue
        try:
            row = refunds.refund_payment(config, payment, left, REASON, now, purpose="money-back")
        except gateway.StripeError as error:
            log.warning("money back: refund of payment %s failed: %s", payment.id, error)
            failed += left
            errors.append(f"{payment.stripe_invoice_id}: {getattr(error, 'user_message', None) or 'Stripe refused'}")
            continue
        if row is not None and row.refund_status in ("failed", "canceled"):
            failed += left
            errors.append(f"{payment.stripe_invoice_id}: refund {row.refund_status}")
        else:
            refunded += left
    if errors:
        with write_transaction():
            MoneyBack.update(error="; ".join(errors)[:2000]).where(MoneyBack.id == claim.id).execute()
    _tell_developer(config, subscription, company, app, refunded)
    return MoneyBack.get_by_id(claim.id), refunded, failed


def _tell_developer(config, subscription, company, app, refunded):
    company_mail.tell_developer(
        config, app.developer,
        lambda locale: words.say(locale, "%(company)s got its money back for %(app)s", company=company.name,
                                 app=app.name),
        lambda locale: words.say(
            locale, "%(company)s ended its subscription to %(app)s within the App Market's money-back window and "
                    "was refunded %(amount)s incl. VAT. Your share of it was reversed from your Stripe balance and "
                    "the platform's fee refunded. The company's access has ended and its connection was revoked; "
                    "your app was sent subscription.canceled with the reason \"refunded\".",
            company=company.name, app=app.name, amount=money.format_kr(refunded, locale)))


def state(subscription):
    """For My apps: None, or {"failed": öre still to refund} when money back was given for this
    subscription and a refund did not go through (the admin refunds the rest)."""
    if subscription is None:
        return None
    claim = MoneyBack.get_or_none(MoneyBack.subscription == subscription)
    if claim is None:
        return None
    return {"given": claim, "left_ore": left_to_refund(subscription)}


def unfinished():
    """For the admin's refunds page: money back given whose refunds did not all go through."""
    rows = []
    for claim in MoneyBack.select().order_by(MoneyBack.created_at.desc(), MoneyBack.id.desc()).limit(200):
        if claim.subscription_id is None:
            continue
        sub = Subscription.get_by_id(claim.subscription_id)
        left = left_to_refund(sub)
        if left > 0:
            rows.append({"given": claim, "subscription": sub, "left_ore": left})
    return rows
