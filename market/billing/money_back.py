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
from market.data import prepared
from models import IntegrityError, LedgerEntry, MoneyBack, Subscription

log = logging.getLogger(__name__)

REASON = "Money back within the refund window (customer's request from My apps)"
ONCE = words.marked("Your company already had its money back for %(app)s once; it is given once per company "
                    "and app.")


class Facts:
    """What the money-back rules read for some of one company's apps and subscriptions, loaded
    in three queries whatever their number (My apps asks for all of its rows at once): the
    claims (MoneyBack rows), the payments, and what was given back of each payment."""

    def __init__(self, company=None, app_ids=(), subscription_ids=(), claims=True, reversals=True):
        company_id = getattr(company, "id", company)
        app_ids = sorted({int(i) for i in app_ids}) if company_id is not None else []
        subscription_ids = sorted({int(i) for i in subscription_ids})
        self.claims_by_app, self.claims_by_subscription = {}, {}
        self.payments_by_subscription, self.payments_by_app = {}, {}
        self.reversed = {}
        app_set, sub_set = set(app_ids), set(subscription_ids)
        if not app_ids and not subscription_ids:
            return
        shape = f"{bool(app_ids)}/{bool(subscription_ids)}"
        company_arg = (company_id,) if app_ids else ()  # every value given must be in the SQL
        if claims:
            # On every My apps render: its SQL is built once per number of rows (prepared.py).
            for claim in prepared.select_listed("money_back_claims/" + shape, lambda *values: (
                    MoneyBack.select().where(_of_company_or_subscriptions(MoneyBack, *values))),
                    company_arg, app_ids, subscription_ids):
                if claim.company_id == company_id and claim.app_id in app_set:
                    self.claims_by_app.setdefault(claim.app_id, claim)
                if claim.subscription_id in sub_set:
                    self.claims_by_subscription.setdefault(claim.subscription_id, claim)
        payments = prepared.select_listed("money_back_payments/" + shape, lambda *values: (
            LedgerEntry.select().where(LedgerEntry.kind == "payment", LedgerEntry.gross_ore > 0,
                                       _of_company_or_subscriptions(LedgerEntry, *values))
            .order_by(LedgerEntry.occurred_at, LedgerEntry.id)), company_arg, app_ids, subscription_ids)
        for p in payments:
            if p.subscription_id in sub_set:
                self.payments_by_subscription.setdefault(p.subscription_id, []).append(p)
            if p.company_id == company_id and p.app_id in app_set:
                self.payments_by_app.setdefault(p.app_id, []).append(p)
        if reversals:
            self.reversed = ledger.reversed_by_payment(payments)

    def paid_invoices(self, subscription):
        return self.payments_by_subscription.get(getattr(subscription, "id", subscription), [])

    def left_to_refund(self, subscription):
        return sum(p.gross_ore - self.reversed[p.id] for p in self.paid_invoices(subscription))

    def fully_refunded_before(self, app):
        """Did an admin already give back in full a payment of the company for the app?"""
        return any(self.reversed[p.id] >= p.gross_ore for p in self.payments_by_app.get(getattr(app, "id", app), []))


def _of_company_or_subscriptions(model, *values):
    """`model`'s rows of the company's apps or of the subscriptions: (company, app ids,
    subscription ids), without the company when no app is asked for."""
    company, apps, subs = values if len(values) == 3 else (None, *values)
    by_app = (model.company == company) & model.app.in_(apps) if apps else None
    by_sub = model.subscription.in_(subs) if subs else None
    if by_app is None or by_sub is None:
        return by_app if by_sub is None else by_sub
    return by_app | by_sub


def paid_invoices(subscription):
    """The subscription's payments (ledger rows of paid invoices that moved money), oldest first."""
    return Facts(subscription_ids=[getattr(subscription, "id", subscription)], claims=False,
                 reversals=False).paid_invoices(subscription)


def _window_end(config, payments):
    days = int(config.get("REFUND_WINDOW_DAYS") or 0)
    if days <= 0 or not payments:
        return None
    return payments[0].occurred_at + datetime.timedelta(hours=24 * days)


def window_end(config, subscription):
    """When money back ends for the subscription: its first paid invoice's payment plus
    REFUND_WINDOW_DAYS × 24 h; None when it never paid or the window is off."""
    return _window_end(config, paid_invoices(subscription))


def given(company, app):
    """The company's money back for the app, or None."""
    return MoneyBack.get_or_none(MoneyBack.company == company, MoneyBack.app == app)


def _refusal(config, app, subscription, facts, now):
    """Why money back for `app` (its current `subscription`, or None) is refused now, as the
    exception to raise; None when it would be given. The rule, for `check` and My apps alike."""
    if facts.claims_by_app.get(app.id) is not None:
        return MoneyBackRefused(ONCE, app=app.name)
    if subscription is None:
        return NotFound(words.marked("Your company has no subscription to %(app)s to refund."), app=app.name)
    if int(config.get("REFUND_WINDOW_DAYS") or 0) <= 0:
        return MoneyBackRefused(words.marked("The App Market does not offer money back now. You can cancel the "
                                             "subscription at the end of the paid period."))
    if subscription.imported or not subscription.stripe_subscription_id:
        return MoneyBackRefused(words.marked("This subscription was imported from the old billing system; it "
                                             "cannot be refunded here."))
    payments = facts.paid_invoices(subscription)
    if not payments:
        return MoneyBackRefused(words.marked("Nothing has been paid for %(app)s yet, so there is nothing to refund. "
                                             "You can cancel the trial and nothing is charged."), app=app.name)
    if facts.fully_refunded_before(app):
        return MoneyBackRefused(words.marked("A payment for %(app)s was already refunded in full; money back is "
                                             "given once per company and app."), app=app.name)
    end = _window_end(config, payments)
    if now > end:
        days = int(config["REFUND_WINDOW_DAYS"])
        return MoneyBackRefused(words.marked("Money back is possible for %(days)s days after the first payment; "
                                             "for %(app)s that ended on %(date)s. You can still cancel at the "
                                             "end of the paid period."), days=days, app=app.name, date=day(end))
    return None


def check(config, company, app, now=None):
    """The live subscription money back would end, or raise why not (NotFound, MoneyBackRefused)."""
    now = now or utcnow()
    subscription = subscriptions.current_subscription(company, app)
    facts = Facts(company, [app.id], [subscription.id] if subscription is not None else [])
    refused = _refusal(config, app, subscription, facts, now)
    if refused is not None:
        raise refused
    return subscription


def for_my_apps(config, company, listed, current, now=None):
    """My apps' money back for all of its rows at once (three queries): `listed` are the rows'
    (app, subscription or None), `current` {app id: current subscription} (subscriptions.
    current_by_app). Returns ({app id: is money back offered now (`check` would pass)},
    {subscription id: `state`})."""
    now = now or utcnow()
    apps = [app for app, _ in listed]
    shown = [sub for _, sub in listed if sub is not None]
    facts = Facts(company, [app.id for app in apps], [s.id for s in shown] + [s.id for s in current.values()])
    offered = {app.id: _refusal(config, app, current.get(app.id), facts, now) is None for app in apps}
    return offered, {sub.id: _state(sub, facts) for sub in shown}


def left_to_refund(subscription):
    """Öre of the subscription's payments not given back (yet): after money back, more than 0
    means a refund failed or is still to be made."""
    return Facts(subscription_ids=[subscription.id], claims=False).left_to_refund(subscription)


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
    return _state(subscription, Facts(subscription_ids=[subscription.id]))


def _state(subscription, facts):
    claim = facts.claims_by_subscription.get(subscription.id)
    if claim is None:
        return None
    return {"given": claim, "left_ore": facts.left_to_refund(subscription)}


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
