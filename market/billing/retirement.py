"""A developer retires a plan (its Retire button, issue N): what that means for the money.

- A pending plan change to the retired plan is dropped (the one event that drops it, DESIGN.md
  §3), and the customer is told by mail and in its My apps row (`data-notice="plan-retired"`).
  Subscribers of the retired plan keep it at their agreed price.
- Retiring an app's last plan while companies still renew a subscription to it needs the
  developer's choice to end those subscriptions at period end (`end_subscriptions`): the app is
  never free to some and paid by others. Until the last of them has ended the app stays "not
  sold" (neither bought nor free), then it becomes free. Every subscriber is told by mail and in
  My apps (`data-notice="no-longer-sold"`).

Stripe is called outside any transaction: the plan is retired and the app closed in one short
transaction, then each subscription is set to cancel at Stripe; one Stripe could not take is
picked up by the sweep (`end_unsold_subscriptions`), and its company told then.
"""
import logging

from market.billing import catalogue, company_mail, gateway, subscriptions
from market.billing.refusals import InvalidChoice
from market.billing.transactions import write_transaction
from market.catalog import listings
from market.core import money, words
from market.core.clock import format_day, utcnow
from models import App, PendingPlanChange, Plan, Subscription

log = logging.getLogger("market.billing")


class EndSubscriptionsFirst(InvalidChoice):
    """Retiring the last plan would leave paying subscribers of an app that is no longer sold."""


# Why, by how many companies still renew (Swedish counts as English does: one, or more).
LAST_PLAN_ONE = words.marked(
    "%(plan)s is the last plan of %(app)s and %(n)s company subscribes to it. Retiring it stops selling the app: "
    "tick “End those subscriptions at the end of their paid period” to go on. Nothing was changed.")
LAST_PLAN_MANY = words.marked(
    "%(plan)s is the last plan of %(app)s and %(n)s companies subscribe to it. Retiring it stops selling the "
    "app: tick “End those subscriptions at the end of their paid period” to go on. Nothing was changed.")


def _renewing(app):
    """The app's subscriptions that would renew: live and not set to cancel."""
    return list(Subscription.select()
                .where(Subscription.app == app, Subscription.status.in_(Subscription.LIVE_STATUSES),
                       Subscription.cancel_at_period_end == False)  # noqa: E712
                .order_by(Subscription.id))


def _has_live_subscriptions(app):
    return Subscription.select().where(Subscription.app == app,
                                       Subscription.status.in_(Subscription.LIVE_STATUSES)).exists()


def is_last_plan(app, plan):
    return not Plan.select().where(Plan.app == app, Plan.active == True, Plan.id != plan.id).exists()  # noqa: E712


def no_longer_sold(app, plans=None):
    """Paid once, every plan retired: neither sold nor free (its subscriptions are ending).
    `plans` (all of the app's, catalogue.plans_of) saves their query."""
    if app.is_free:
        return False
    plans = catalogue.plans_of([app])[app.id] if plans is None else plans
    return bool(plans) and not catalogue.active_of(plans)


def retire_plan(config, listing, plan, end_subscriptions=False, now=None):
    """Retire `plan` of `listing`. Raises EndSubscriptionsFirst when it is the last plan, some
    company still renews, and the developer did not choose to end those subscriptions.
    Returns {"dropped": pending changes dropped, "ending": subscriptions set to end}."""
    now = now or utcnow()
    last = is_last_plan(listing, plan)
    renewing = _renewing(listing) if last else []
    if renewing and not end_subscriptions:
        count = len(renewing)
        raise EndSubscriptionsFirst(LAST_PLAN_ONE if count == 1 else LAST_PLAN_MANY, plan=plan.name,
                                    app=listing.name, n=count)
    with write_transaction():
        listings.retire_plan(listing, plan)
        if last and _has_live_subscriptions(listing):
            # Not free while anyone still pays for the period they have: "not sold" until the
            # last subscription has ended (the sweep then makes it free).
            App.update(is_free=False).where(App.id == listing.id).execute()
            listing.is_free = False
            listings.store_changed(listing)  # the store's index must not list it as free
    dropped = drop_changes_to_retired_plans(config, now, plan)
    ending = end_unsold_subscriptions(config, listing, now) if last else 0
    return {"dropped": dropped, "ending": ending}


def drop_changes_to_retired_plans(config, now=None, plan=None):
    """Drop the pending changes to a retired plan (`plan`, or every retired one: the sweep's
    safety net for a plan retired another way) and tell each customer once. Returns how many."""
    now = now or utcnow()
    query = (PendingPlanChange.select(PendingPlanChange, Plan).join(Plan)
             .where(PendingPlanChange.dropped_at.is_null(), Plan.active == False))  # noqa: E712
    if plan is not None:
        query = query.where(Plan.id == plan.id)
    dropped = 0
    for pending in list(query.order_by(PendingPlanChange.id)):
        with write_transaction():
            # The guard makes the update the claim: two sweeps at once tell the customer once.
            claimed = PendingPlanChange.update(dropped_at=now).where(
                PendingPlanChange.id == pending.id, PendingPlanChange.dropped_at.is_null()).execute()
        if claimed:
            _tell_plan_retired(config, pending.plan.app, pending.plan, pending)
            dropped += 1
    return dropped


def _tell_plan_retired(config, listing, plan, pending):
    subscription = Subscription.get_by_id(pending.subscription_id)
    current = Plan.get_by_id(subscription.plan_id)
    company_mail.tell_company_admins(
        config, subscription.company,
        lambda locale: words.say(locale, "%(app)s: your plan change to %(plan)s will not happen",
                                 app=listing.name, plan=plan.name),
        lambda locale: words.say(
            locale, "The developer of %(app)s has retired the %(plan)s plan, so the change to it your company "
                    "chose for %(date)s will not happen. Your company stays on %(current)s at %(price)s. "
                    "You can choose another plan, or cancel, under My apps.",
            app=listing.name, plan=plan.name, date=format_day(pending.effective_at, locale), current=current.name,
            price=money.format_price(subscription.price_ore, locale)))


def end_unsold_subscriptions(config, app, now=None):
    """Set every renewing subscription of an app that is no longer sold to cancel at period
    end, telling each company once its subscription is set; a Stripe failure leaves it for the
    next sweep. Returns how many were set."""
    now = now or utcnow()
    ended = 0
    for subscription in _renewing(app):
        try:
            subscriptions.set_cancel_at_period_end(config, subscription, True, "unsold", now)
        except gateway.StripeError as error:
            log.warning("subscription %s of unsold app %s stays for the next sweep: %s",
                        subscription.id, app.slug, error)
            continue
        ended += 1
        _tell_no_longer_sold(config, app, Subscription.get_by_id(subscription.id))
    return ended


def _tell_no_longer_sold(config, app, subscription):
    until = subscription.current_period_end or subscription.trial_end

    def text(locale):
        if until:
            return words.say(locale, "The developer of %(app)s has stopped selling it. Your company's subscription "
                                     "ends on %(date)s, and nothing more will be charged for it. Until then the app "
                                     "works as before.", app=app.name, date=format_day(until, locale))
        return words.say(locale, "The developer of %(app)s has stopped selling it. Your company's subscription ends "
                                 "at the end of the paid period, and nothing more will be charged for it. Until then "
                                 "the app works as before.", app=app.name)

    company_mail.tell_company_admins(
        config, subscription.company, lambda locale: words.say(locale, "%(app)s is no longer sold", app=app.name),
        text)


def sweep_unsold_apps(config, now=None):
    """For the sweep: end what a Stripe failure left renewing, and make an app that is no longer
    sold free once its last subscription has ended. Returns (subscriptions ended, apps freed)."""
    now = now or utcnow()
    ended = freed = 0
    candidates = list(App.select().where(
        App.is_free == False,  # noqa: E712
        App.id.not_in(Plan.select(Plan.app).where(Plan.active == True)),  # noqa: E712
        App.id.in_(Plan.select(Plan.app))).order_by(App.id))
    for app in candidates:
        ended += end_unsold_subscriptions(config, app, now)
        if _has_live_subscriptions(app):
            continue
        with write_transaction():
            changed = App.update(is_free=True, min_price_ore=0, updated_at=now).where(
                App.id == app.id, App.is_free == False).execute()  # noqa: E712
            if changed:
                app.is_free = True
                listings.store_changed(app)
        freed += changed
    return ended, freed
