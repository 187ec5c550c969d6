"""Price changes with notice (issue U, Deliver 1): a developer announces a plan's new price
ahead, and subscribers keep the price they agreed to until the notice has run.

- `schedule`: a new price from `effective_on` (a date in Europe/Stockholm), at least
  PRICE_NOTICE_DAYS ahead for a rise and from tomorrow for a cut. Every subscriber paying the
  plan's current Stripe price is told at once: mail to its admins, the app event
  `subscription.price_change_scheduled` (billing.signals.price_change_told, old_amount,
  new_amount in öre, effective_on) and a notice in its My apps row. Not a listing revision: the
  notice protects the customer, so no approval is needed.
- Until the date new buyers pay the current price, with the coming one shown beside the plan and
  in Checkout; they pay the same Stripe price as the subscribers told, so they move with them.
- `apply_due` (the sweep): from the date the plan takes the new price and a new Stripe price
  (the store generation bumped); each subscription still on the old Stripe price is switched
  shortly before its first renewal on or after the date (never before), without proration and
  outside any transaction, under a key derived from the subscription and the change. A
  subscription set to cancel, or with a downgrade waiting (its agreed price wins), is not moved.
- `withdraw`: before it applies, subscribers told (`subscription.price_change_withdrawn`).

A subscriber keeps its agreed price except through this path: only subscriptions on the Stripe
price the notice named (old_stripe_price_id) move, so one that agreed to another price (a
pending downgrade, an earlier price) keeps it.
"""
import datetime
import logging
import re

from market.billing import catalogue, company_mail, gateway, refusals, signals, webhooks
from market.billing.refusals import InvalidChoice, NotFound
from market.billing.subscriptions import PLAN_CHANGE_LEAD
from market.billing.transactions import write_transaction
from market.catalog import listings
from market.core import clock, money, words
from market.core.clock import STOCKHOLM, format_day, local_date, utcnow
from market.data import prepared
from market.data.database import is_postgres
from models import PendingPlanChange, Plan, PlanPriceChange, ScheduledPriceChange, Subscription, db

log = logging.getLogger("market.billing")

SCHEDULED = "subscription.price_change_scheduled"
WITHDRAWN = "subscription.price_change_withdrawn"
LATEST_DAYS = 730  # how far ahead a change may be announced
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
ANNOUNCED = words.marked("%(plan)s already has a price change announced: withdraw it first.")
NOTHING_TO_WITHDRAW = words.marked("%(plan)s has no price change announced to withdraw.")


class PriceChangeRefused(InvalidChoice):
    """The scheduled change cannot be made or withdrawn as asked; nothing was changed. `field`
    names the form's field the refusal is about (price_kr, effective_on), or None."""

    def __init__(self, message, field=None, **values):
        super().__init__(message, **values)
        self.field = field


def today(now=None):
    """The date in Stockholm now."""
    return local_date(now or utcnow())


def effective_start(change):
    """00:00 in Stockholm of the change's date, as the naive UTC datetime the tables store."""
    midnight = datetime.datetime.combine(change.effective_on, datetime.time(), STOCKHOLM)
    return midnight.astimezone(datetime.UTC).replace(tzinfo=None)


def open_change(plan):
    """The plan's change announced and not yet applied nor withdrawn, or None."""
    return (ScheduledPriceChange.select()
            .where(ScheduledPriceChange.plan == plan, ScheduledPriceChange.withdrawn_at.is_null(),
                   ScheduledPriceChange.applied_at.is_null())
            .order_by(ScheduledPriceChange.id.desc()).first())


def open_changes(app_id):
    """{plan id: open change} of an app's plans (the plans page, the store, Checkout)."""
    rows = (ScheduledPriceChange.select(ScheduledPriceChange).join(Plan)
            .where(Plan.app == app_id, ScheduledPriceChange.withdrawn_at.is_null(),
                   ScheduledPriceChange.applied_at.is_null()))
    return {row.plan_id: row for row in rows}


def notice_words(change):
    """"Från 2 jan. 2027: 249 kr/mån exkl. moms" ("From 2 Jan 2027: …"): the coming price,
    beside the plan, in each reader's language."""
    return words.Phrase(words.marked("From %(date)s: %(price)s"),
                        date=lambda locale: clock.format_day(change.effective_on, locale),
                        price=lambda locale: money.format_price(change.new_price_ore, locale))


def _parse(data, plan, config, now):
    try:
        new_price = listings.parse_kronor(data.get("price_kr"))
    except ValueError as problem:
        raise PriceChangeRefused(str(problem), "price_kr") from None  # a msgid of the catalogues (parse_kronor)
    raw = str(data.get("effective_on") or "").strip()
    try:
        if not _ISO_DATE.fullmatch(raw):
            raise ValueError
        effective_on = datetime.date.fromisoformat(raw)
    except ValueError:
        raise PriceChangeRefused(words.marked("Enter the date the new price applies from as YYYY-MM-DD, like "
                                              "2027-01-31."), "effective_on") from None
    if new_price == plan.price_ore:
        raise PriceChangeRefused(words.marked("%(plan)s already costs %(price)s."), "price_kr", plan=plan.name,
                                 price=refusals.price(new_price))
    first_day = today(now)
    notice_days = config["PRICE_NOTICE_DAYS"]
    earliest = first_day + datetime.timedelta(days=notice_days if new_price > plan.price_ore else 1)
    if effective_on < earliest:
        if new_price > plan.price_ore:
            raise PriceChangeRefused(words.marked("A higher price needs %(days)s days' notice to subscribers: choose "
                                                  "%(date)s or later. Nothing was changed."), "effective_on",
                                     days=notice_days, date=refusals.day(earliest))
        raise PriceChangeRefused(words.marked("A lower price can apply from tomorrow at the earliest: choose %(date)s "
                                              "or later. Nothing was changed."), "effective_on",
                                 date=refusals.day(earliest))
    if effective_on > first_day + datetime.timedelta(days=LATEST_DAYS):
        raise PriceChangeRefused(words.marked("A price change can be announced at most %(days)s days ahead."),
                                 "effective_on", days=LATEST_DAYS)
    return new_price, effective_on


def _told(change):
    """The subscriptions a change addresses, not over: those on the plan at the Stripe price it
    names, and those with a downgrade to the plan waiting at that price (they will pay it)."""
    waiting = PendingPlanChange.select(PendingPlanChange.subscription).where(
        PendingPlanChange.plan == change.plan_id, PendingPlanChange.stripe_price_id == change.old_stripe_price_id,
        PendingPlanChange.dropped_at.is_null())
    on_plan = ((Subscription.plan == change.plan_id)
               & (Subscription.stripe_price_id == change.old_stripe_price_id))
    return list(Subscription.select()
                .where(on_plan | Subscription.id.in_(waiting),
                       Subscription.status.in_(Subscription.LIVE_STATUSES))
                .order_by(Subscription.id))


def _lock_plan(plan):
    if is_postgres(db):
        Plan.select(Plan.id).where(Plan.id == plan.id).for_update().execute()


def schedule(config, listing, plan, data, now=None):
    """Announce `plan`'s new price (form fields price_kr, effective_on). Raises
    PriceChangeRefused with a message for the developer. Returns the ScheduledPriceChange."""
    now = now or utcnow()
    if listing.is_free or not plan.active:
        raise PriceChangeRefused(words.marked("Only a plan that is sold can have a price change."))
    new_price, effective_on = _parse(data, plan, config, now)
    if open_change(plan) is not None:
        raise PriceChangeRefused(ANNOUNCED, plan=plan.name)
    # Stripe first, outside the transaction: the price subscribers pay now (what the notice
    # names) and the one they will pay.
    old_price_id = catalogue.ensure_price(config, plan, listing)
    new_price_id = catalogue.new_price(config, plan, listing, new_price, "scheduled-price", plan.id, new_price,
                                       effective_on.isoformat())
    with write_transaction():
        _lock_plan(plan)
        current = Plan.get_by_id(plan.id)
        if open_change(plan) is not None:
            raise PriceChangeRefused(ANNOUNCED, plan=plan.name)
        if not current.active or current.price_ore != plan.price_ore or current.stripe_price_id != old_price_id:
            raise PriceChangeRefused(words.marked("%(plan)s changed meanwhile; look at it again and retry."),
                                     plan=plan.name)
        change = ScheduledPriceChange.create(
            plan=plan, old_price_ore=plan.price_ore, new_price_ore=new_price, old_stripe_price_id=old_price_id,
            new_stripe_price_id=new_price_id, effective_on=effective_on, created_at=now)
        told = _told(change)
        for subscription in told:
            signals.price_change_told.send(subscription, kind=SCHEDULED, change=change, config=config, now=now)
        listings.store_changed(listing)  # the store shows the coming price beside the plan
    for subscription in told:
        _mail_scheduled(config, listing, plan, change, subscription)
    return change


def withdraw(config, listing, plan, now=None):
    """Withdraw the plan's announced change before it applies; subscribers are told."""
    now = now or utcnow()
    change = open_change(plan)
    if change is None:
        raise NotFound(NOTHING_TO_WITHDRAW, plan=plan.name)
    if now >= effective_start(change) - PLAN_CHANGE_LEAD:
        raise PriceChangeRefused(words.marked("The price change of %(plan)s applies from %(date)s and can no longer "
                                              "be withdrawn."), plan=plan.name, date=refusals.day(change.effective_on))
    with write_transaction():
        claimed = ScheduledPriceChange.update(withdrawn_at=now).where(
            ScheduledPriceChange.id == change.id, ScheduledPriceChange.withdrawn_at.is_null(),
            ScheduledPriceChange.applied_at.is_null()).execute()
        if not claimed:
            raise NotFound(NOTHING_TO_WITHDRAW, plan=plan.name)
        told = _told(change)
        for subscription in told:
            signals.price_change_told.send(subscription, kind=WITHDRAWN, change=change, config=config, now=now)
        listings.store_changed(listing)
    for subscription in told:
        _mail_withdrawn(config, listing, plan, change, subscription)
    return change


def _mail_scheduled(config, listing, plan, change, subscription):
    def values(locale):
        return {"app": listing.name, "plan": plan.name, "date": format_day(change.effective_on, locale),
                "old": money.format_price(change.old_price_ore, locale),
                "new": money.format_price(change.new_price_ore, locale)}

    company_mail.tell_company_admins(
        config, subscription.company,
        lambda locale: words.say(locale, "%(app)s: the %(plan)s plan costs %(new)s from %(date)s", **values(locale)),
        lambda locale: words.say(
            locale, "The developer of %(app)s changes the price of the %(plan)s plan from %(old)s to %(new)s from "
                    "%(date)s. Your company's subscription moves to the new price at its first renewal on or after "
                    "that date, never before. If you do not want it, you can cancel under My apps before then.",
            **values(locale)))


def _mail_withdrawn(config, listing, plan, change, subscription):
    company_mail.tell_company_admins(
        config, subscription.company,
        lambda locale: words.say(locale, "%(app)s: the price change of the %(plan)s plan is withdrawn",
                                 app=listing.name, plan=plan.name),
        lambda locale: words.say(
            locale, "The developer of %(app)s has withdrawn the price change of the %(plan)s plan announced for "
                    "%(date)s. Your company stays at %(old)s.",
            app=listing.name, plan=plan.name, date=format_day(change.effective_on, locale),
            old=money.format_price(change.old_price_ore, locale)))


# ---------------------------------------------------------------------------- what pages show
def notice_for(subscription):
    """The change that will move this subscription (not withdrawn, the subscription still on the
    Stripe price it named), for its My apps row; or None."""
    if subscription is None:
        return None
    return notices_for([subscription]).get(subscription.id)


def notices_for(subscriptions):
    """{subscription id: `notice_for`} for many subscriptions (None left out) in one query; a
    subscription no change moves has none."""
    moved = [s for s in subscriptions if s is not None and s.stripe_price_id and s.plan_id
             and s.status in Subscription.LIVE_STATUSES]
    if not moved:
        return {}
    newest = {}
    # On every My apps render: its SQL is built once per number of rows (prepared.py).
    for change in prepared.select_listed("price_notices_for", lambda plan_ids, price_ids: (
            ScheduledPriceChange.select()
            .where(ScheduledPriceChange.plan.in_(plan_ids), ScheduledPriceChange.old_stripe_price_id.in_(price_ids),
                   ScheduledPriceChange.withdrawn_at.is_null())
            .order_by(ScheduledPriceChange.id.desc())),
            (), sorted({s.plan_id for s in moved}), sorted({s.stripe_price_id for s in moved})):
        newest.setdefault((change.plan_id, change.old_stripe_price_id), change)
    out = {}
    for s in moved:
        change = newest.get((s.plan_id, s.stripe_price_id))
        if change is not None:
            out[s.id] = change
    return out


def subscriber_notice(change):
    """What the subscriber's My apps row says (data-notice="price-change")."""
    return words.Phrase(words.marked("The price changes to %(price)s from %(date)s: your company pays it from its "
                                     "first renewal on or after that date, never before. You may cancel before then."),
                        date=lambda locale: clock.format_day(change.effective_on, locale),
                        price=lambda locale: money.format_price(change.new_price_ore, locale))


def renewal_moment(subscription):
    return subscription.trial_end if subscription.status == "trialing" else subscription.current_period_end


def next_charge(subscription, vat_percent, change, charge):
    """My apps' next charge (`charge`, from subscriptions.next_charge) with the announced price
    when that renewal is on or after the change's date."""
    if change is None or charge is None or charge[1] < effective_start(change):
        return charge
    return money.with_moms(change.new_price_ore, vat_percent), charge[1]


# ---------------------------------------------------------------------------- the sweep
def apply_due(config, now=None):
    """The plans whose date has come take the new price; subscriptions due to renew on or after
    their change's date are switched at Stripe. Returns {"plans_repriced", "subscriptions_moved",
    "failed"}."""
    now = now or utcnow()
    repriced = _reprice_plans(now)
    moved = failed = 0
    changes = list(ScheduledPriceChange.select().where(ScheduledPriceChange.withdrawn_at.is_null(),
                                                       ScheduledPriceChange.effective_on <= today(now + PLAN_CHANGE_LEAD))
                   .order_by(ScheduledPriceChange.id))
    for change in changes:
        start = effective_start(change)
        for subscription in _told(change):
            renewal = renewal_moment(subscription)
            if (subscription.plan_id != change.plan_id or subscription.stripe_price_id != change.old_stripe_price_id
                    or subscription.status not in Subscription.ENTITLING_STATUSES or subscription.cancel_at_period_end
                    or not subscription.stripe_subscription_id or subscription.imported or renewal is None
                    or renewal < start or renewal > now + PLAN_CHANGE_LEAD):
                continue
            if PendingPlanChange.select().where(PendingPlanChange.subscription == subscription,
                                                PendingPlanChange.dropped_at.is_null()).exists():
                continue  # the downgrade chosen applies at that renewal, at the price agreed
            try:
                _switch(config, subscription, change, now)
            except gateway.StripeError as error:
                log.warning("price change %s of subscription %s stays for the next sweep: %s",
                            change.id, subscription.id, error)
                failed += 1
                continue
            moved += 1
    return {"plans_repriced": repriced, "subscriptions_moved": moved, "failed": failed}


def _reprice_plans(now):
    due = list(ScheduledPriceChange.select().where(
        ScheduledPriceChange.withdrawn_at.is_null(), ScheduledPriceChange.applied_at.is_null(),
        ScheduledPriceChange.effective_on <= today(now)).order_by(ScheduledPriceChange.id))
    repriced = 0
    for change in due:
        with write_transaction():
            claimed = ScheduledPriceChange.update(applied_at=now).where(
                ScheduledPriceChange.id == change.id, ScheduledPriceChange.applied_at.is_null(),
                ScheduledPriceChange.withdrawn_at.is_null()).execute()
            if not claimed:
                continue
            plan = Plan.get_by_id(change.plan_id)
            PlanPriceChange.create(plan=plan, old_price_ore=plan.price_ore, new_price_ore=change.new_price_ore,
                                   changed_at=now)
            Plan.update(price_ore=change.new_price_ore, stripe_price_id=change.new_stripe_price_id).where(
                Plan.id == plan.id).execute()
            listing = plan.app
            listings.sync_price_summary(listing)
            listings.store_changed(listing)
        repriced += 1
    return repriced


def _switch(config, subscription, change, now):
    tax_rate = catalogue.ensure_tax_rate(config)
    client = gateway.stripe_client(config)
    current = client.v1.subscriptions.retrieve(subscription.stripe_subscription_id)
    item = {"id": current["items"]["data"][0]["id"], "price": change.new_stripe_price_id}
    if tax_rate:
        item["tax_rates"] = [tax_rate]
    updated = client.v1.subscriptions.update(
        subscription.stripe_subscription_id,
        {"items": [item], "metadata": {"plan_id": str(change.plan_id)}, "proration_behavior": "none"},
        gateway.options("price-notice", subscription.stripe_subscription_id, change.id))
    with write_transaction():
        webhooks.apply_subscription(config, updated.to_dict(), 0, now)
