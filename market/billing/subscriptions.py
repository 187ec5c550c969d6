"""A company's subscriptions after Buy: which one is current, cancel and resume at period end,
plan changes (an upgrade now, a downgrade waiting for the period's end), Stripe's billing
portal and invoices, Remove app, and what My apps says about each.

Stripe is asked first and the market mirrors what Stripe answered (webhooks.apply_subscription),
so the row never claims what Stripe did not do; imported history has nothing at Stripe and is
changed here alone.
"""
import datetime
import logging

from peewee import JOIN

from market.billing import (
    catalogue,
    company_mail,
    dunning,
    gateway,
    invoice_records,
    ledger,
    signals,
    webhooks,
)
from market.billing.refusals import BuyRefused, InvalidChoice, NotFound
from market.billing.transactions import write_transaction
from market.core import money, words
from market.core.clock import utcnow
from market.data import prepared
from market.outbound import mail
from models import App, Connection, PendingPlanChange, Plan, Subscription

# A pending downgrade is switched at Stripe this long before the period ends, so the renewal
# invoice Stripe makes at the period end is already at the lower price (the sweep runs hourly).
PLAN_CHANGE_LEAD = datetime.timedelta(hours=1)


def current_subscription(company, app):
    """The company's newest subscription to the app that is not over, or None."""
    if company is None or app is None:
        return None
    # On every app page a customer opens: its SQL is built once (prepared.py).
    return prepared.first("current_subscription", lambda company_id, app_id: (
        Subscription.select()
        .where(Subscription.company == company_id, Subscription.app == app_id,
               Subscription.status.in_(Subscription.LIVE_STATUSES))
        .order_by(Subscription.created_at.desc(), Subscription.id.desc()).limit(1)),
        getattr(company, "id", company), getattr(app, "id", app))


# ---------------------------------------------------------------------------- cancel and resume
def cancel_at_period_end(config, company, app):
    """Cancel the company's live subscription to the app when the paid period ends."""
    subscription = current_subscription(company, app)
    if subscription is None:
        raise NotFound(words.marked("Your company has no subscription to this app to cancel."))
    if subscription.cancel_at_period_end:
        return subscription
    return set_cancel_at_period_end(config, subscription, True, "cancel")


def resume(config, company, app):
    """Undo a cancellation at period end while the period has not ended."""
    subscription = current_subscription(company, app)
    if subscription is None:
        raise NotFound(words.marked("Your company has no subscription to this app to keep."))
    if not subscription.cancel_at_period_end:
        return subscription
    if not app.is_free and not catalogue.active_plans(app):
        # Every plan retired (billing.retirement): it ends with its period, like everyone's.
        raise BuyRefused(words.marked("%(app)s is no longer sold: its subscription ends with the paid period."),
                         app=app.name)
    if app.status == "suspended" or app.developer.stripe_deauthorized_at is not None:
        # Renewing would charge for an app that cannot be used, or pay a developer whose Stripe
        # account left the platform (issue O).
        raise BuyRefused(words.marked("%(app)s cannot be renewed now: it cannot be bought in the App Market."),
                         app=app.name)
    return set_cancel_at_period_end(config, subscription, False, "resume")


def set_cancel_at_period_end(config, subscription, value, purpose, now=None):
    """At Stripe first (imported history has nothing there), then the market's mirror of what
    Stripe answered, with the app told in the same transaction. `purpose` names the request
    in its idempotency key (cancel, resume, suspend, restore)."""
    now = now or utcnow()
    if subscription.stripe_subscription_id and not subscription.imported:
        # The key names the state the change starts from, so cancel → undo → cancel again is
        # three requests, while a double click is one.
        updated = gateway.stripe_client(config).v1.subscriptions.update(
            subscription.stripe_subscription_id, {"cancel_at_period_end": value},
            gateway.options(purpose, subscription.stripe_subscription_id, subscription.updated_at.isoformat()))
        # A cancellation's mail (webhooks.apply_subscription) goes out after the commit.
        with mail.held_until_done(), write_transaction():
            row = webhooks.apply_subscription(config, updated.to_dict(), 0, now)
        return row
    with mail.held_until_done(), write_transaction():
        Subscription.update(cancel_at_period_end=value, updated_at=now).where(
            Subscription.id == subscription.id).execute()
        row = Subscription.get_by_id(subscription.id)
        signals.subscription_changed.send(row, kind="subscription.updated", config=config, now=now)
        if purpose == "cancel" and value:
            company_mail.tell_cancellation(config, row)
        elif not value:
            company_mail.forget(company_mail.cancel_key(row))
    return row


# ---------------------------------------------------------------------------- plan changes
def change_plan(config, company, app, plan_id, now=None):
    """Upgrade now, prorated and invoiced at once. A downgrade waits for the end of the paid
    period (a PendingPlanChange the sweep applies shortly before renewal), so the company keeps
    what it paid for and nothing is credited; Stripe hears nothing now. Returns
    (subscription, "upgraded" | "downgraded")."""
    now = now or utcnow()
    subscription = current_subscription(company, app)
    if subscription is None:
        raise NotFound(words.marked("Your company has no subscription to this app to change."))
    plan = catalogue.choose_plan(app, plan_id)
    if plan.id == subscription.plan_id and plan.stripe_price_id == subscription.stripe_price_id:
        raise InvalidChoice(words.marked("Your company is already on the %(plan)s plan."), plan=plan.name)
    if subscription.imported or not subscription.stripe_subscription_id:
        raise BuyRefused(words.marked("This subscription was imported from the old billing system and cannot "
                                      "change plan here. Cancel it and buy the plan you want when it ends."))
    if subscription.status in Subscription.DUNNING_STATUSES:
        raise BuyRefused(words.marked("A payment for this app failed. Update your card before changing plan."))
    if subscription.cancel_at_period_end:
        raise BuyRefused(words.marked("This subscription is set to cancel. Keep it first, then change plan."))
    if plan.price_ore <= subscription.price_ore:
        if subscription.current_period_end is None:
            raise BuyRefused(words.marked("This subscription has no paid period to end yet; try again in a minute."))
        # The price agreed is the price paid: the Stripe price and amount shown now are stored
        # and applied exactly, whatever the developer does to the plan's price meanwhile.
        price_id = catalogue.ensure_price(config, plan, app)
        with write_transaction():
            if not Plan.get_by_id(plan.id).active:
                raise InvalidChoice(words.marked("The %(plan)s plan was just retired; choose another plan."), plan=plan.name)
            # One pending change per subscription: the latest choice replaces an earlier one.
            PendingPlanChange.delete().where(PendingPlanChange.subscription == subscription).execute()
            PendingPlanChange.create(subscription=subscription, plan=plan, stripe_price_id=price_id,
                                     price_ore=plan.price_ore,
                                     effective_at=subscription.current_period_end, created_at=now)
        return subscription, "downgraded"
    tax_rate = catalogue.ensure_tax_rate(config)
    catalogue.ensure_price(config, plan, app)
    client = gateway.stripe_client(config)
    current = client.v1.subscriptions.retrieve(subscription.stripe_subscription_id)
    item = {"id": current["items"]["data"][0]["id"], "price": plan.stripe_price_id}
    if tax_rate:
        item["tax_rates"] = [tax_rate]
    params = {"items": [item], "metadata": {"plan_id": str(plan.id)}, "proration_behavior": "always_invoice"}
    updated = client.v1.subscriptions.update(
        subscription.stripe_subscription_id, params,
        gateway.options("plan", subscription.stripe_subscription_id, plan.id, subscription.updated_at.isoformat()))
    with write_transaction():
        PendingPlanChange.delete().where(PendingPlanChange.subscription == subscription).execute()
        row = webhooks.apply_subscription(config, updated.to_dict(), 0)
    return row, "upgraded"


def plan_changes_of(subscriptions):
    """{subscription id: its PendingPlanChange, with the plan chosen} for all of `subscriptions`
    (rows or ids; None left out) in one query: at most one per subscription, waiting (dropped_at
    null) or dropped because the developer retired its plan."""
    ids = {getattr(s, "id", s) for s in subscriptions if s is not None}
    if not ids:
        return {}
    # On every My apps render: its SQL is built once per number of rows (prepared.py).
    return {change.subscription_id: change for change in prepared.select_listed(
        "plan_changes_of", lambda sub_ids: PendingPlanChange.select(PendingPlanChange, Plan).join(Plan)
        .where(PendingPlanChange.subscription.in_(sub_ids)), (), sorted(ids))}


def pending_plan_change(subscription, changes=None):
    """The downgrade waiting for the end of this subscription's period, or None. `changes`
    (plan_changes_of) saves the query when the caller has them for many subscriptions."""
    if subscription is None:
        return None
    change = (plan_changes_of([subscription]) if changes is None else changes).get(subscription.id)
    return change if change is not None and change.dropped_at is None else None


def dropped_plan_change(subscription, changes=None):
    """The downgrade the developer's retiring its plan dropped (My apps says so), or None."""
    if subscription is None:
        return None
    change = (plan_changes_of([subscription]) if changes is None else changes).get(subscription.id)
    return change if change is not None and change.dropped_at is not None else None


def agreed_price(pending):
    """(Stripe price id, öre) the customer chose for a pending change; rows older than
    migration 007 had the plan's price filled in by it."""
    return pending.stripe_price_id, (pending.price_ore if pending.price_ore is not None else pending.plan.price_ore)


def undo_plan_change(company, app):
    """Forget the company's pending downgrade of `app`: it renews on the plan it has."""
    subscription = current_subscription(company, app)
    pending = pending_plan_change(subscription)
    if pending is None:
        raise NotFound(words.marked("Your company has no plan change waiting for this app."))
    PendingPlanChange.delete().where(PendingPlanChange.id == pending.id).execute()
    return subscription


def apply_due_plan_changes(config, now=None, log=None):
    """Switch each due pending downgrade's Stripe price without proration, then forget it; the
    customer.subscription.updated webhook records the new price as for any change. Changes of
    subscriptions that ended or are set to cancel are dropped; a Stripe failure keeps the row
    for the next sweep. Returns (applied, dropped, failed)."""
    log = log or logging.getLogger("market.billing")
    now = now or utcnow()
    applied = dropped = failed = 0
    # Dropped changes (their plan was retired) are kept only to tell the customer, until the
    # period they were for has ended.
    PendingPlanChange.delete().where(PendingPlanChange.dropped_at.is_null(False),
                                     PendingPlanChange.effective_at <= now).execute()
    # A change to a retired plan never applies (billing.retirement drops it and tells why).
    due = list(PendingPlanChange.select().join(Plan)
               .where(PendingPlanChange.effective_at <= now + PLAN_CHANGE_LEAD,
                      PendingPlanChange.dropped_at.is_null(), Plan.active == True)  # noqa: E712
               .order_by(PendingPlanChange.effective_at, PendingPlanChange.id))
    for pending in due:
        subscription = Subscription.get_by_id(pending.subscription_id)
        if (subscription.status not in Subscription.ENTITLING_STATUSES or subscription.cancel_at_period_end
                or not subscription.stripe_subscription_id):
            PendingPlanChange.delete().where(PendingPlanChange.id == pending.id).execute()
            dropped += 1
            continue
        plan = Plan.get_by_id(pending.plan_id)
        price_id, _ = agreed_price(pending)
        try:
            tax_rate = catalogue.ensure_tax_rate(config)
            # Exactly the price chosen; only a row from before migration 007 without one takes
            # the plan's.
            price_id = price_id or catalogue.ensure_price(config, plan, plan.app)
            client = gateway.stripe_client(config)
            current = client.v1.subscriptions.retrieve(subscription.stripe_subscription_id)
            item = {"id": current["items"]["data"][0]["id"], "price": price_id}
            if tax_rate:
                item["tax_rates"] = [tax_rate]
            client.v1.subscriptions.update(
                subscription.stripe_subscription_id,
                {"items": [item], "metadata": {"plan_id": str(plan.id)}, "proration_behavior": "none"},
                gateway.options("downgrade", subscription.stripe_subscription_id, pending.effective_at.isoformat()))
        except gateway.StripeError as error:
            log.warning("pending plan change of subscription %s stays for the next sweep: %s",
                        subscription.id, error)
            failed += 1
            continue
        PendingPlanChange.delete().where(PendingPlanChange.id == pending.id,
                                         PendingPlanChange.dropped_at.is_null()).execute()
        applied += 1
    return applied, dropped, failed


# ---------------------------------------------------------------------------- portal, Remove app
def billing_portal_url(config, company, return_url, locale=words.DEFAULT):
    """A Stripe billing portal session, in the reader's `locale`: update the card, see invoices,
    cancel or undo."""
    if not company.stripe_customer_id:
        raise NotFound(words.marked("Your company has no billing account yet: it is made with the first purchase."))
    session = gateway.stripe_client(config).v1.billing_portal.sessions.create(
        {"customer": company.stripe_customer_id, "return_url": return_url, "locale": gateway.stripe_locale(locale)})
    return session.url


def _connected(company, app):
    """Has the company a grant to the app that is not revoked? (The oauth room grants and
    revokes; billing only asks.)"""
    return Connection.select().where(Connection.company == company, Connection.app == app,
                                     Connection.revoked_at.is_null()).exists()


def remove_app(config, company, app, now=None):
    """Remove app (DESIGN.md §3): cancel at period end and revoke the connection at once (the
    oauth room hears signals.app_removed). Returns (subscription or None, whether a connection
    was revoked)."""
    now = now or utcnow()
    subscription = current_subscription(company, app)
    connected = _connected(company, app)
    if subscription is None and not connected:
        raise NotFound(words.marked("Your company has nothing of this app to remove."))
    if subscription is not None and not subscription.cancel_at_period_end:
        subscription = set_cancel_at_period_end(config, subscription, True, "cancel", now)
    with write_transaction():
        signals.app_removed.send(company, app=app, config=config, now=now)
    return subscription, connected


# ---------------------------------------------------------------------------- what My apps shows
def invoices(config, subscription, limit=12):
    """The subscription's invoices, newest first, for My apps: from the market's own records,
    kept from Stripe's `invoice.*` events (billing.invoice_records), so no page waits for
    Stripe (issue R). None for imported history."""
    if subscription is None:
        return None
    return invoices_of(config, [subscription], limit)[subscription.id]


def invoices_of(config, subscriptions, limit=12):
    """{subscription id: `invoices`} for all of `subscriptions` (None left out), in two queries
    whatever their number: the invoices, then the refunds of them all."""
    subscriptions = [s for s in subscriptions if s is not None]
    kept = [s.id for s in subscriptions if not s.imported and s.stripe_subscription_id]
    recorded = invoice_records.recorded_invoices_of(kept, limit)
    # What was given back of each, from the market's own ledger (Stripe's invoice still says paid).
    refunds = ledger.refunds_by_invoice([row["id"] for rows in recorded.values() for row in rows])
    out = {}
    for s in subscriptions:
        rows = recorded.get(s.id)  # every kept subscription has a list, imported history None
        for row in rows or ():
            row["refunds"] = refunds.get(row["id"], [])
        out[s.id] = rows
    return out


def next_charge(subscription, vat_percent, pending=None):
    """(amount in öre including moms, date) of the next renewal, or None when none is coming.
    A pending downgrade (`pending`, a PendingPlanChange) is what that renewal will charge."""
    if subscription is None or subscription.status not in Subscription.LIVE_STATUSES:
        return None
    if subscription.cancel_at_period_end:
        return None
    when = subscription.trial_end if subscription.status == "trialing" else subscription.current_period_end
    price = agreed_price(pending)[1] if pending is not None else subscription.price_ore
    if when is None or not price:
        return None
    return money.with_moms(price, vat_percent), when


def status_words(subscription, grace_days):
    """The subscription's state as the customer reads it."""
    if subscription is None:
        return "free"
    s = subscription
    if s.status == "trialing":
        words = f"trial ends on {s.trial_end:%Y-%m-%d}" if s.trial_end else "trial"
    elif s.status == "active":
        words = "active"
        if s.current_period_end and not s.cancel_at_period_end:
            words += f", renews on {s.current_period_end:%Y-%m-%d}"
    elif s.status == "past_due":
        deadline = dunning.grace_deadline(s, grace_days)
        words = f"payment failed — update your card by {deadline:%Y-%m-%d}"
    elif s.status == "unpaid":
        return "payment failed — access ended; update your card"
    elif s.status == "canceled":
        return "canceled"
    elif s.status == "incomplete":
        return "payment pending"
    else:
        return s.status.replace("_", " ")
    if s.cancel_at_period_end and s.current_period_end:
        words += f", cancels on {s.current_period_end:%Y-%m-%d}"
    return words


def company_subscriptions(company):
    """Every subscription of the company, newest first, with its app and plan (one query)."""
    # On every My apps render: its SQL is built once (prepared.py).
    return prepared.select("company_subscriptions", lambda company_id: (
        Subscription.select(Subscription, App, Plan).join(App).switch(Subscription)
        .join(Plan, JOIN.LEFT_OUTER).where(Subscription.company == company_id)
        .order_by(Subscription.created_at.desc(), Subscription.id.desc())), getattr(company, "id", company))


def current_by_app(subscriptions):
    """{app id: the subscription current_subscription would pick} among a company's
    `subscriptions` (company_subscriptions: newest first)."""
    current = {}
    for s in subscriptions:
        if s.status in Subscription.LIVE_STATUSES:
            current.setdefault(s.app_id, s)
    return current


def company_apps(company, subscriptions=None):
    """The company's apps for My apps: its newest subscription per app, plus free apps it
    connected. Rows are (app, subscription or None). `subscriptions` (company_subscriptions)
    saves their query when the caller has them."""
    rows = {}
    for s in company_subscriptions(company) if subscriptions is None else subscriptions:
        rows.setdefault(s.app_id, (s.app, s))
    # On every My apps render: its SQL is built once (prepared.py).
    connections = prepared.select("company_free_connections", lambda company_id: (
        Connection.select(Connection, App).join(App)
        .where(Connection.company == company_id, Connection.revoked_at.is_null(),
               App.is_free == True)), getattr(company, "id", company))  # noqa: E712
    for c in connections:
        rows.setdefault(c.app_id, (c.app, None))
    return sorted(rows.values(), key=lambda row: row[0].name.lower())
