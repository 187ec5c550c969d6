"""Stripe: the client, Connect onboarding, products and prices, Buy (Checkout) and cancel.

Webhook events are handled in webhooks.py, the ledger is ledger.py, the hourly sweep sweep.py.
Every Stripe POST carries an idempotency key derived from what the call does and prefixed with
the installation id (DESIGN.md §5), so a double-clicked Buy, a second tab or a retry after a
crash reaches Stripe as the same request, and two databases never share keys.
"""
import datetime
import threading
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import click
import stripe

from market.data import prepared
from market.data.database import is_postgres
from market.entitlement import rules as entitlements
from market.notifications import outbox as notifications
from models import (
    App,
    CheckoutAttempt,
    Company,
    Developer,
    MarketSetting,
    PendingPlanChange,
    Plan,
    Subscription,
    User,
    db,
    utcnow,
)

_clients = {}
_clients_lock = threading.Lock()

# Checkout sessions live 24 h at Stripe; the market treats one as spent a little earlier so it
# never sends a customer to a page that expires while they type their card number.
SESSION_SAFETY_MARGIN = datetime.timedelta(minutes=10)


class BuyRefused(Exception):
    """Buy cannot go ahead; the message is shown to the customer as it is."""

    def __init__(self, message, status=409):
        super().__init__(message)
        self.message = message
        self.status = status


class AlreadyEntitled(Exception):
    pass


class AlreadyPaid(Exception):
    """The open Checkout Session was completed at Stripe; the webhook is on its way."""


# ---------------------------------------------------------------------------- client and keys
def stripe_client(config):
    """One StripeClient per (key, base): the library's HTTP client keeps connections alive."""
    key = (config["STRIPE_SECRET_KEY"], config.get("STRIPE_API_BASE"))
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            kwargs = {}
            base = config.get("STRIPE_API_BASE")
            if base:
                base = base.rstrip("/")
                kwargs["base_addresses"] = {"api": base, "connect": base, "files": base}
            client = stripe.StripeClient(config["STRIPE_SECRET_KEY"], max_network_retries=2, **kwargs)
            _clients[key] = client
        return client


def installation_id():
    row = MarketSetting.get_or_none(MarketSetting.name == "installation_id")
    if row is None:
        raise RuntimeError("the database has no installation_id; run the migrations")
    return row.value


def idempotency_key(*parts):
    return ":".join([installation_id(), *(str(p) for p in parts)])


def _options(*parts):
    return {"idempotency_key": idempotency_key(*parts)}


def fee_percent(platform_fee_percent, vat_percent):
    """The application fee percent of the invoice total that leaves the platform its share of
    the net plus the moms it remits: 100 − (100 − fee) × 100 / (100 + moms) (DESIGN.md §2)."""
    exact = 100 - Fraction(100 - platform_fee_percent) * 100 / (100 + vat_percent)
    value = Decimal(exact.numerator) / Decimal(exact.denominator)
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def fee_percent_param(config):
    """As Stripe takes it: a number with at most two decimals, no trailing zeros."""
    value = fee_percent(config["PLATFORM_FEE_PERCENT"], config["VAT_PERCENT"])
    text = format(value.normalize(), "f")
    return text


# ---------------------------------------------------------------------------- catalogue sync
def _setting(name):
    row = MarketSetting.get_or_none(MarketSetting.name == name)
    return row.value if row else None


def _set_setting(name, value):
    MarketSetting.insert(name=name, value=value).on_conflict(
        conflict_target=[MarketSetting.name], update={MarketSetting.value: value}).execute()


def ensure_tax_rate(config):
    """The moms tax rate (exclusive, VAT_PERCENT), made once per installation and percent."""
    name = f"stripe_tax_rate_id:{config['VAT_PERCENT']}"
    existing = _setting(name)
    if existing:
        return existing
    if not config["VAT_PERCENT"]:
        return None
    rate = stripe_client(config).v1.tax_rates.create({
        "display_name": "Moms", "percentage": str(config["VAT_PERCENT"]), "inclusive": False,
        "country": "SE", "jurisdiction": "SE", "description": "Swedish VAT",
    }, _options("tax_rate", config["VAT_PERCENT"]))
    _set_setting(name, rate.id)
    _set_setting("stripe_tax_rate_id", rate.id)
    return rate.id


def ensure_product(config, app):
    if app.stripe_product_id:
        return app.stripe_product_id
    product = stripe_client(config).v1.products.create({
        "name": app.name, "metadata": {"app_id": str(app.id), "slug": app.slug},
    }, _options("product", app.id))
    App.update(stripe_product_id=product.id).where(App.id == app.id, App.stripe_product_id.is_null()).execute()
    app.stripe_product_id = App.get_by_id(app.id).stripe_product_id
    return app.stripe_product_id


def ensure_price(config, plan, app=None):
    """A plan whose price changed has stripe_price_id NULL: it gets a new Stripe price, while
    subscribers keep the one they bought until they change plan."""
    if plan.stripe_price_id:
        return plan.stripe_price_id
    app = app or plan.app
    product_id = ensure_product(config, app)
    price = stripe_client(config).v1.prices.create({
        "product": product_id, "currency": plan.currency, "unit_amount": plan.price_ore,
        "recurring": {"interval": "month"}, "tax_behavior": "exclusive", "nickname": plan.name,
        "metadata": {"plan_id": str(plan.id), "app_id": str(app.id)},
    }, _options("price", plan.id, plan.price_ore))
    Plan.update(stripe_price_id=price.id).where(Plan.id == plan.id, Plan.stripe_price_id.is_null()).execute()
    plan.stripe_price_id = Plan.get_by_id(plan.id).stripe_price_id
    return plan.stripe_price_id


def sync_app(config, app):
    """Product and prices of one paid app's active plans."""
    if app.is_free:
        return []
    ensure_product(config, app)
    return [ensure_price(config, plan, app) for plan in active_plans(app)]


def sync_all(config):
    """What `flask stripe-sync` does: create whatever is missing, idempotently."""
    tax_rate = ensure_tax_rate(config)
    # A list, not a lazy cursor: an open SELECT keeps an SQLite read snapshot that cannot be
    # upgraded to a write once a webhook has committed meanwhile.
    apps = list(App.select().where(App.is_free == False, App.status != "draft")  # noqa: E712
                .order_by(App.id))
    made = 0
    for app in apps:
        before = (app.stripe_product_id, [p.stripe_price_id for p in active_plans(app)])
        sync_app(config, app)
        after = (app.stripe_product_id, [p.stripe_price_id for p in active_plans(app)])
        made += before != after
    return {"tax_rate": tax_rate, "apps_changed": made}


def active_plans(app):
    return list(Plan.select().where(Plan.app == app, Plan.active == True)  # noqa: E712
                .order_by(Plan.position, Plan.id))


# ---------------------------------------------------------------------------- Connect
def ensure_connect_account(config, developer, email=None):
    """The developer's Express account, created once."""
    if developer.stripe_account_id:
        return developer.stripe_account_id
    account = stripe_client(config).v1.accounts.create({
        "type": "express", "country": "SE", "email": email or None,
        "capabilities": {"transfers": {"requested": True}, "card_payments": {"requested": True}},
        "business_profile": {"name": developer.name},
        "metadata": {"developer_id": str(developer.id), "installation": installation_id()},
    }, _options("account", developer.id))
    Developer.update(stripe_account_id=account.id).where(
        Developer.id == developer.id, Developer.stripe_account_id.is_null()).execute()
    developer.stripe_account_id = Developer.get_by_id(developer.id).stripe_account_id
    return developer.stripe_account_id


def onboarding_link(config, developer, email=None):
    """A fresh AccountLink (they expire within minutes, so one is made per visit)."""
    account_id = ensure_connect_account(config, developer, email)
    base = config["MARKET_URL"].rstrip("/")
    link = stripe_client(config).v1.account_links.create({
        "account": account_id, "type": "account_onboarding",
        "refresh_url": base + "/developer/payouts/refresh",
        "return_url": base + "/developer/payouts",
    })
    return link.url


def record_account(account):
    """From an `account.updated` (or a fetched account): can destination charges reach it?"""
    if hasattr(account, "to_dict"):
        account = account.to_dict()
    capabilities = account.get("capabilities") or {}
    enabled = capabilities.get("transfers") == "active"
    return Developer.update(payouts_enabled=enabled,
                            stripe_details_submitted=bool(account.get("details_submitted"))).where(
        Developer.stripe_account_id == account["id"]).execute()


def refresh_account(config, developer):
    """Ask Stripe directly (the developer returned from onboarding before the webhook came)."""
    if not developer.stripe_account_id:
        return developer
    account = stripe_client(config).v1.accounts.retrieve(developer.stripe_account_id)
    record_account(account)
    return Developer.get_by_id(developer.id)


# ---------------------------------------------------------------------------- customers
def ensure_customer(config, company, email=None):
    if company.stripe_customer_id:
        return company.stripe_customer_id
    customer = stripe_client(config).v1.customers.create({
        "name": company.name, "email": email or None,
        "metadata": {"company_id": str(company.id), "company": company.public_id,
                     "org_number": company.org_number, "installation": installation_id()},
    }, _options("customer", company.id))
    Company.update(stripe_customer_id=customer.id).where(
        Company.id == company.id, Company.stripe_customer_id.is_null()).execute()
    company.stripe_customer_id = Company.get_by_id(company.id).stripe_customer_id
    return company.stripe_customer_id


# ---------------------------------------------------------------------------- Buy
def choose_plan(app, plan_id=None):
    plans = active_plans(app)
    if not plans:
        raise BuyRefused("This app has no plan that can be bought right now.")
    if plan_id in (None, ""):
        return plans[0]
    try:
        wanted = int(plan_id)
    except (TypeError, ValueError):
        raise BuyRefused("Choose one of the app's plans.", status=400) from None
    for plan in plans:
        if plan.id == wanted:
            return plan
    raise BuyRefused("Choose one of the app's plans.", status=400)


def had_subscription(company, app):
    """One trial per company and app, ever."""
    return Subscription.select().where(Subscription.company == company, Subscription.app == app).exists()


def write_transaction():
    """A transaction that takes the write lock at once (BEGIN IMMEDIATE on SQLite, also through
    the proxy since database.py makes atomic() do so), so a transaction that reads first waits
    for other writers instead of failing with "database is locked"."""
    return db.atomic()


def _lock_company(company):
    """Serialise Buys of one company across servers (PostgreSQL); SQLite's write transactions
    are BEGIN IMMEDIATE and already exclusive."""
    if is_postgres(db):
        Company.select(Company.id).where(Company.id == company.id).for_update().execute()


def _session_params(config, company, app, plan, tax_rate):
    base = config["MARKET_URL"].rstrip("/")
    metadata = {"company_id": str(company.id), "app_id": str(app.id), "plan_id": str(plan.id),
                "installation": installation_id()}
    line_item = {"price": plan.stripe_price_id, "quantity": 1}
    if tax_rate:
        line_item["tax_rates"] = [tax_rate]
    subscription_data = {
        "application_fee_percent": fee_percent_param(config),
        "transfer_data": {"destination": app.developer.stripe_account_id},
        "metadata": metadata,
        "description": app.name,
    }
    if plan.trial_days and not had_subscription(company, app):
        subscription_data["trial_period_days"] = plan.trial_days
    return {
        "mode": "subscription",
        "customer": company.stripe_customer_id,
        "client_reference_id": company.public_id,
        "line_items": [line_item],
        "subscription_data": subscription_data,
        "metadata": metadata,
        "success_url": f"{base}/apps/{app.slug}/bought?session_id={{CHECKOUT_SESSION_ID}}",
        "cancel_url": f"{base}/apps/{app.slug}/checkout-canceled",
    }


def _from_timestamp(value):
    if value is None:
        return None
    return datetime.datetime.fromtimestamp(int(value), datetime.UTC).replace(tzinfo=None)


def start_checkout(config, company, user, app, plan_id=None, now=None):
    """The Checkout Session URL for this Buy: the open one when it fits, else a new one
    (at most one open per company and app, QUALITY.md 20)."""
    now = now or utcnow()
    if app.status == "suspended":
        raise BuyRefused(f"{app.name} has been suspended by the App Market and cannot be bought.", status=409)
    if app.status != "published":
        raise BuyRefused("This app is not available in the App Market.", status=404)
    if app.is_free:
        raise BuyRefused("This app is free: activate it instead of buying it.", status=400)
    if entitlements.is_entitled(company, app, config["BILLING_GRACE_DAYS"], now):
        raise AlreadyEntitled()
    plan = choose_plan(app, plan_id)
    developer = app.developer
    if not developer.stripe_account_id or not developer.payouts_enabled:
        raise BuyRefused(f"{app.name} cannot be bought yet: its developer has not finished setting up "
                         "payouts with Stripe. Nothing was charged; please try again later.")
    tax_rate = ensure_tax_rate(config)
    ensure_price(config, plan, app)
    ensure_customer(config, company, user.email if user else None)
    client = stripe_client(config)
    with write_transaction():
        _lock_company(company)
        open_attempt = (CheckoutAttempt.select()
                        .where(CheckoutAttempt.company == company, CheckoutAttempt.app == app,
                               CheckoutAttempt.status == "open")
                        .order_by(CheckoutAttempt.attempt.desc()).first())
        if open_attempt is not None:
            fresh = open_attempt.expires_at is None or open_attempt.expires_at - SESSION_SAFETY_MARGIN > now
            if open_attempt.plan_id == plan.id and fresh and open_attempt.url:
                return open_attempt.url
            _expire_at_stripe(client, open_attempt)
            CheckoutAttempt.update(status="expired").where(CheckoutAttempt.id == open_attempt.id).execute()
        last = (CheckoutAttempt.select(CheckoutAttempt.attempt)
                .where(CheckoutAttempt.company == company, CheckoutAttempt.app == app)
                .order_by(CheckoutAttempt.attempt.desc()).first())
        attempt = (last.attempt if last else 0) + 1
        session = client.v1.checkout.sessions.create(
            _session_params(config, company, app, plan, tax_rate),
            _options("checkout", company.id, app.id, plan.id, attempt))
        CheckoutAttempt.create(company=company, app=app, plan=plan, user=user.id if user else None,
                               attempt=attempt, stripe_session_id=session.id, url=session.url,
                               status="open", expires_at=_from_timestamp(session.expires_at))
        return session.url


def _expire_at_stripe(client, attempt):
    """Before a new session: the old one must not be payable any more."""
    if not attempt.stripe_session_id:
        return
    try:
        client.v1.checkout.sessions.expire(attempt.stripe_session_id, None,
                                           _options("expire", attempt.stripe_session_id))
    except stripe.InvalidRequestError:
        session = client.v1.checkout.sessions.retrieve(attempt.stripe_session_id)
        if session.status == "complete":
            raise AlreadyPaid() from None
        # Already expired at Stripe: nothing to do.


def cancel_at_period_end(config, company, app):
    """Cancel the company's live subscription to the app when the paid period ends."""
    subscription = entitlements.current_subscription(company, app)
    if subscription is None:
        raise BuyRefused("Your company has no subscription to this app to cancel.", status=404)
    if subscription.cancel_at_period_end:
        return subscription
    return _set_cancel_at_period_end(config, subscription, True, "cancel")


def resume(config, company, app):
    """Undo a cancellation at period end while the period has not ended."""
    subscription = entitlements.current_subscription(company, app)
    if subscription is None:
        raise BuyRefused("Your company has no subscription to this app to keep.", status=404)
    if not subscription.cancel_at_period_end:
        return subscription
    return _set_cancel_at_period_end(config, subscription, False, "resume")


def _set_cancel_at_period_end(config, subscription, value, purpose, now=None):
    """At Stripe first (imported history has nothing there), then the market's mirror of what
    Stripe answered, with the app told in the same transaction."""
    from market.billing import webhooks

    now = now or utcnow()
    if subscription.stripe_subscription_id and not subscription.imported:
        # The key names the state the change starts from, so cancel → undo → cancel again is
        # three requests, while a double click is one.
        updated = stripe_client(config).v1.subscriptions.update(
            subscription.stripe_subscription_id, {"cancel_at_period_end": value},
            _options(purpose, subscription.stripe_subscription_id, subscription.updated_at.isoformat()))
        with write_transaction():
            row = webhooks.apply_subscription(config, updated.to_dict(), 0, now)
        return row
    with write_transaction():
        Subscription.update(cancel_at_period_end=value, updated_at=now).where(
            Subscription.id == subscription.id).execute()
        row = Subscription.get_by_id(subscription.id)
        notifications.subscription_changed(row, "subscription.updated", now)
    return row


def change_plan(config, company, app, plan_id, now=None):
    """Upgrade now, prorated and invoiced at once. A downgrade waits for the end of the paid
    period (a PendingPlanChange the sweep applies shortly before renewal), so the company keeps
    what it paid for and nothing is credited; Stripe hears nothing now. Returns
    (subscription, "upgraded" | "downgraded")."""
    from market.billing import webhooks

    now = now or utcnow()
    subscription = entitlements.current_subscription(company, app)
    if subscription is None:
        raise BuyRefused("Your company has no subscription to this app to change.", status=404)
    plan = choose_plan(app, plan_id)
    if plan.id == subscription.plan_id and plan.stripe_price_id == subscription.stripe_price_id:
        raise BuyRefused(f"Your company is already on the {plan.name} plan.", status=400)
    if subscription.imported or not subscription.stripe_subscription_id:
        raise BuyRefused("This subscription was imported from the old billing system and cannot change "
                         "plan here. Cancel it and buy the plan you want when it ends.")
    if subscription.status == "past_due":
        raise BuyRefused("A payment for this app failed. Update your card before changing plan.")
    if subscription.cancel_at_period_end:
        raise BuyRefused("This subscription is set to cancel. Keep it first, then change plan.")
    if plan.price_ore <= subscription.price_ore:
        if subscription.current_period_end is None:
            raise BuyRefused("This subscription has no paid period to end yet; try again in a minute.")
        with write_transaction():
            # One pending change per subscription: the latest choice replaces an earlier one.
            PendingPlanChange.delete().where(PendingPlanChange.subscription == subscription).execute()
            PendingPlanChange.create(subscription=subscription, plan=plan,
                                     effective_at=subscription.current_period_end, created_at=now)
        return subscription, "downgraded"
    tax_rate = ensure_tax_rate(config)
    ensure_price(config, plan, app)
    client = stripe_client(config)
    current = client.v1.subscriptions.retrieve(subscription.stripe_subscription_id)
    item = {"id": current["items"]["data"][0]["id"], "price": plan.stripe_price_id}
    if tax_rate:
        item["tax_rates"] = [tax_rate]
    params = {"items": [item], "metadata": {"plan_id": str(plan.id)}, "proration_behavior": "always_invoice"}
    updated = client.v1.subscriptions.update(
        subscription.stripe_subscription_id, params,
        _options("plan", subscription.stripe_subscription_id, plan.id, subscription.updated_at.isoformat()))
    with write_transaction():
        PendingPlanChange.delete().where(PendingPlanChange.subscription == subscription).execute()
        row = webhooks.apply_subscription(config, updated.to_dict(), 0)
    return row, "upgraded"


def pending_plan_change(subscription):
    """The downgrade waiting for the end of this subscription's period, or None."""
    if subscription is None:
        return None
    return PendingPlanChange.get_or_none(PendingPlanChange.subscription == subscription)


def undo_plan_change(company, app):
    """Forget the company's pending downgrade of `app`: it renews on the plan it has."""
    subscription = entitlements.current_subscription(company, app)
    pending = pending_plan_change(subscription)
    if pending is None:
        raise BuyRefused("Your company has no plan change waiting for this app.", status=404)
    PendingPlanChange.delete().where(PendingPlanChange.id == pending.id).execute()
    return subscription


# A pending downgrade is switched at Stripe this long before the period ends, so the renewal
# invoice Stripe makes at the period end is already at the lower price (the sweep runs hourly).
PLAN_CHANGE_LEAD = datetime.timedelta(hours=1)


def apply_due_plan_changes(config, now=None, log=None):
    """Switch each due pending downgrade's Stripe price without proration, then forget it; the
    customer.subscription.updated webhook records the new price as for any change. Changes of
    subscriptions that ended or are set to cancel are dropped; a Stripe failure keeps the row
    for the next sweep. Returns (applied, dropped, failed)."""
    import logging

    log = log or logging.getLogger("market.billing")
    now = now or utcnow()
    applied = dropped = failed = 0
    due = list(PendingPlanChange.select()
               .where(PendingPlanChange.effective_at <= now + PLAN_CHANGE_LEAD)
               .order_by(PendingPlanChange.effective_at, PendingPlanChange.id))
    for pending in due:
        subscription = Subscription.get_by_id(pending.subscription_id)
        if (subscription.status not in ("active", "trialing") or subscription.cancel_at_period_end
                or not subscription.stripe_subscription_id):
            PendingPlanChange.delete().where(PendingPlanChange.id == pending.id).execute()
            dropped += 1
            continue
        plan = Plan.get_by_id(pending.plan_id)
        try:
            tax_rate = ensure_tax_rate(config)
            ensure_price(config, plan, plan.app)
            client = stripe_client(config)
            current = client.v1.subscriptions.retrieve(subscription.stripe_subscription_id)
            item = {"id": current["items"]["data"][0]["id"], "price": plan.stripe_price_id}
            if tax_rate:
                item["tax_rates"] = [tax_rate]
            client.v1.subscriptions.update(
                subscription.stripe_subscription_id,
                {"items": [item], "metadata": {"plan_id": str(plan.id)}, "proration_behavior": "none"},
                _options("downgrade", subscription.stripe_subscription_id, pending.effective_at.isoformat()))
        except stripe.StripeError as error:
            log.warning("pending plan change of subscription %s stays for the next sweep: %s",
                        subscription.id, error)
            failed += 1
            continue
        PendingPlanChange.delete().where(PendingPlanChange.id == pending.id).execute()
        applied += 1
    return applied, dropped, failed


def billing_portal_url(config, company, return_url):
    """A Stripe billing portal session: update the card, see invoices, cancel or undo."""
    if not company.stripe_customer_id:
        raise BuyRefused("Your company has no billing account yet: it is made with the first purchase.",
                         status=404)
    session = stripe_client(config).v1.billing_portal.sessions.create(
        {"customer": company.stripe_customer_id, "return_url": return_url})
    return session.url


def remove_app(config, company, app, now=None):
    """Remove app (DESIGN.md §3): cancel at period end and revoke the connection at once.
    Returns (subscription or None, whether a connection was revoked)."""
    from market.oauth import connections as oauth2
    from market.stats import app_stats as stats

    now = now or utcnow()
    subscription = entitlements.current_subscription(company, app)
    connection = oauth2.active_connection(company, app)
    if subscription is None and connection is None:
        raise BuyRefused("Your company has nothing of this app to remove.", status=404)
    if subscription is not None and not subscription.cancel_at_period_end:
        subscription = _set_cancel_at_period_end(config, subscription, True, "cancel", now)
    if connection is not None:
        with write_transaction():
            oauth2.revoke_connection(config, connection, now)
    stats.refresh_app(app.id, config["BILLING_GRACE_DAYS"], now)
    return subscription, connection is not None


def invoices(config, subscription, limit=12):
    """The subscription's invoices at Stripe, newest first, for My apps (nothing is cached:
    the hosted invoice URLs are Stripe's to give). None for imported history; raises
    stripe.StripeError when Stripe cannot be reached."""
    if subscription is None or subscription.imported or not subscription.stripe_subscription_id:
        return None
    listing = stripe_client(config).v1.invoices.list(
        {"subscription": subscription.stripe_subscription_id, "limit": limit})
    rows = []
    for invoice in (i.to_dict() for i in listing.data):
        rows.append({"number": invoice.get("number") or invoice["id"], "status": invoice.get("status"),
                     "total_ore": int(invoice.get("total") or 0), "created": _from_timestamp(invoice.get("created")),
                     "url": invoice.get("hosted_invoice_url")})
    return rows


def next_charge(subscription, vat_percent, pending=None):
    """(amount in öre including moms, date) of the next renewal, or None when none is coming.
    A pending downgrade (`pending`, a PendingPlanChange) is what that renewal will charge."""
    if subscription is None or subscription.status not in ("active", "trialing", "past_due"):
        return None
    if subscription.cancel_at_period_end:
        return None
    when = subscription.trial_end if subscription.status == "trialing" else subscription.current_period_end
    price = pending.plan.price_ore if pending is not None else subscription.price_ore
    if when is None or not price:
        return None
    moms = (price * vat_percent * 2 + 100) // 200
    return price + moms, when


def grace_deadline(subscription, grace_days):
    since = subscription.past_due_since or utcnow()
    return since + datetime.timedelta(days=grace_days)


def payment_problems(company, grace_days):
    """The company's subscriptions in dunning, for the banner on every page: [(app, deadline)]."""
    # On every page a company user sees: its SQL is built once (prepared.py).
    rows = prepared.select("payment_problems", _payment_problems_query, getattr(company, "id", company))
    return [(s.app, grace_deadline(s, grace_days)) for s in rows]


def _payment_problems_query(company_id):
    return (Subscription.select(Subscription, App).join(App)
            .where(Subscription.company == company_id, Subscription.status == "past_due")
            .order_by(Subscription.past_due_since))


def customers_in_dunning(developer, grace_days=7, app=None):
    """The developer's customers whose payment failed (past_due, in grace) or whose grace ended
    (unpaid): dicts with company, app, status, since and the grace deadline."""
    query = (Subscription.select(Subscription, App, Company).join(App).switch(Subscription).join(Company)
             .where(App.developer == developer, Subscription.status.in_(("past_due", "unpaid"))))
    if app is not None:
        query = query.where(Subscription.app == app)
    return [{"company": s.company, "app": s.app, "status": s.status, "since": s.past_due_since,
             "deadline": grace_deadline(s, grace_days) if s.past_due_since else None}
            for s in query.order_by(Subscription.past_due_since, Subscription.id)]


def lose_entitlement(company, app, now=None):
    """The company may no longer use the app: the entitlement-lost hooks revoke its tokens and
    connection (oauth2.py), which tells the app connection.revoked if one was live."""
    entitlements.entitlement_lost(company, app)


def tell_company_admins(config, company, subject, body):
    """Mail every admin of the company; a market that cannot send mail still goes on."""
    from market.outbound import mail

    admins = User.select().where(User.company == company, User.company_role == "admin").order_by(User.id)
    sent = 0
    for user in admins:
        try:
            mail.send_mail(config, user.email, subject, body)
            sent += 1
        except mail.MailNotSent:
            continue  # logged in mail.py; the other admins may still be reachable
        except mail.MailNotConfigured:
            break
    return sent


# ---------------------------------------------------------------------------- suspension
def _current_config():
    from flask import current_app

    return current_app.config


def _suspension_key(app):
    return f"suspension_canceled:{app.id}"


def on_app_suspended(config, app, now=None):
    """An admin suspended the app: every live subscription is set to cancel at period end (at
    Stripe, imported ones locally) and its company told. The ones this did are remembered, so
    a restore undoes exactly those. Returns how many were set. `config` None: the current app's
    (listings.py's admin action has none to pass)."""
    import json

    config = config if config is not None else _current_config()
    now = now or utcnow()
    live = list(Subscription.select().where(Subscription.app == app,
                                             Subscription.status.in_(entitlements.LIVE_STATUSES),
                                             Subscription.cancel_at_period_end == False)  # noqa: E712
                .order_by(Subscription.id))
    done = []
    for subscription in live:
        try:
            row = _set_cancel_at_period_end(config, subscription, True, "suspend", now)
        except stripe.StripeError as error:
            import logging

            logging.getLogger(__name__).warning("suspension of %s: subscription %s not canceled at Stripe: %s",
                                                app.slug, subscription.id, error)
            continue
        done.append(subscription.id)
        when = f" on {row.current_period_end:%Y-%m-%d}" if row.current_period_end else ""
        # The mail goes out after the transaction: no lock held while a mail server answers.
        with __import__("market.outbound.mail", fromlist=["_"]).held_until_done(), write_transaction():
            tell_company_admins(
                config, subscription.company, f"{app.name} has been suspended",
                f"{app.name} has been suspended by the App Market and can no longer be used. Your "
                f"subscription will not renew: it ends at the end of the paid period{when}, and you "
                f"will not be charged again for it.")
    with write_transaction():
        previous = json.loads(_setting(_suspension_key(app)) or "[]")
        _set_setting(_suspension_key(app), json.dumps(sorted(set(previous) | set(done))))
    return len(done)


def on_app_restored(config, app, now=None):
    """The suspension is lifted: the subscriptions it set to cancel, and that have not ended
    yet, renew again. Returns how many."""
    import json

    config = config if config is not None else _current_config()
    now = now or utcnow()
    ids = json.loads(_setting(_suspension_key(app)) or "[]")
    restored = 0
    for subscription in Subscription.select().where(Subscription.id.in_(ids or [0])).order_by(Subscription.id):
        if subscription.status not in entitlements.LIVE_STATUSES or not subscription.cancel_at_period_end:
            continue
        if subscription.current_period_end and subscription.current_period_end <= now:
            continue
        try:
            _set_cancel_at_period_end(config, subscription, False, "restore", now)
        except stripe.StripeError as error:
            import logging

            logging.getLogger(__name__).warning("restore of %s: subscription %s not resumed at Stripe: %s",
                                                app.slug, subscription.id, error)
            continue
        restored += 1
    with write_transaction():
        MarketSetting.delete().where(MarketSetting.name == _suspension_key(app)).execute()
    return restored


# ---------------------------------------------------------------------------- refunds and disputes
class RefundRefused(Exception):
    def __init__(self, message):
        super().__init__(message)
        self.message = message


def parse_kronor(text):
    """'199', '199,50' or '199.50' kronor → öre; None when it is not such an amount."""
    import re

    text = (text or "").strip().replace(" ", "").replace("\u00a0", "")
    match = re.fullmatch(r"(\d{1,9})(?:[.,](\d{1,2}))?", text)
    if not match:
        return None
    return int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0"))


def refund(config, entry_id, amount_text, reason, now=None):
    """Refund (part of) a paid invoice: the developer's transfer and the platform's fee are
    reversed in proportion at Stripe, and the ledger gets the negative row at once (the
    charge.refunded webhook finds it made)."""
    from market.billing import ledger
    from models import LedgerEntry

    now = now or utcnow()
    from market.accounts.companies import parse_id

    wanted = parse_id(entry_id or "")
    entry = None if wanted is None else LedgerEntry.get_or_none(LedgerEntry.id == wanted,
                                                                 LedgerEntry.kind == "payment")
    if entry is None:
        raise RefundRefused("Choose a payment from the list.")
    if not entry.stripe_charge_id:
        raise RefundRefused("This payment has no Stripe charge to refund.")
    left = entry.gross_ore - ledger.reversed_so_far(entry)
    amount = parse_kronor(amount_text) if (amount_text or "").strip() else left
    if amount is None:
        raise RefundRefused("Write the amount in kronor, e.g. 248,75.")
    if amount <= 0 or amount > left:
        raise RefundRefused(f"The amount must be more than 0 and at most {left / 100:.2f} kr "
                            "(what is left of this payment).")
    reason = (reason or "").strip()
    if not reason or len(reason) > 500 or "\x00" in reason:
        raise RefundRefused("Give a reason (at most 500 characters).")
    made = stripe_client(config).v1.refunds.create({
        "charge": entry.stripe_charge_id, "amount": amount, "reverse_transfer": True,
        "refund_application_fee": True, "reason": "requested_by_customer",
        "metadata": {"reason": reason[:500], "ledger_entry": str(entry.id), "installation": installation_id()},
    }, _options("refund", entry.id, ledger.reversed_so_far(entry), amount))
    with write_transaction():
        return ledger.record_reversal("refund", entry, made.amount, made.id, now)


def disputes(developer=None, limit=100):
    """Disputes as Stripe last told the market (charge.dispute.* events, stored once each),
    newest first, with the payment they concern; a developer sees only its own."""
    import json

    from models import LedgerEntry, StripeEvent

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
                    "created": _from_timestamp(dispute.get("created")), "payment": payment})
    out.sort(key=lambda d: (d["created"] or datetime.datetime.min), reverse=True)
    return out[:limit]


# ---------------------------------------------------------------------------- operators
def replay_events(config, since):
    """`flask stripe-replay`: Stripe's events created since `since` (Unix seconds), those the
    market has not stored handled exactly as if delivered. Returns counts by outcome."""
    from market.billing import webhooks
    from models import StripeEvent

    counts = {"seen": 0, "handled": 0, "duplicate": 0, "ignored": 0, "failed": 0}
    listing = stripe_client(config).v1.events.list({"created": {"gte": int(since)}, "limit": 100})
    import json

    # Back to the wire's JSON: the library turns decimal strings into Decimal.
    events = [json.loads(json.dumps(event.to_dict(), default=str)) for event in listing.auto_paging_iter()]
    for event in sorted(events, key=lambda e: (e.get("created") or 0)):
        counts["seen"] += 1
        if StripeEvent.select().where(StripeEvent.event_id == event["id"]).exists():
            counts["duplicate"] += 1
            continue
        try:
            outcome = webhooks.handle(config, event)
        except Exception:  # noqa: BLE001 - one bad event must not stop the replay; counted
            import logging

            logging.getLogger(__name__).exception("replay of %s failed", event.get("id"))
            counts["failed"] += 1
            continue
        counts[outcome] += 1
    return counts


def parse_since(text):
    """An ISO date or datetime (UTC) or Unix seconds → Unix seconds; ValueError otherwise."""
    text = (text or "").strip()
    if text.isdigit():
        return int(text)
    value = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    return int(value.timestamp())


# ---------------------------------------------------------------------------- what My apps shows
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
        since = s.past_due_since or utcnow()
        deadline = since + datetime.timedelta(days=grace_days)
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


def company_apps(company):
    """The company's apps for My apps: its newest subscription per app, plus free apps it
    connected. Rows are (app, subscription or None)."""
    from models import Connection

    rows = {}
    subscriptions = (Subscription.select(Subscription, App).join(App)
                     .where(Subscription.company == company)
                     .order_by(Subscription.created_at.desc(), Subscription.id.desc()))
    for s in subscriptions:
        rows.setdefault(s.app_id, (s.app, s))
    connections = (Connection.select(Connection, App).join(App)
                   .where(Connection.company == company, Connection.revoked_at.is_null(),
                          App.is_free == True))  # noqa: E712
    for c in connections:
        rows.setdefault(c.app_id, (c.app, None))
    return sorted(rows.values(), key=lambda row: row[0].name.lower())


def checkout_state(company, app, session_id):
    """For the return page: has the webhook made the bought subscription live yet?"""
    subscription = entitlements.current_subscription(company, app)
    if subscription is not None and subscription.status in ("active", "trialing"):
        return "active", subscription
    attempt = CheckoutAttempt.get_or_none(CheckoutAttempt.company == company, CheckoutAttempt.app == app,
                                          CheckoutAttempt.stripe_session_id == session_id)
    return ("pending" if attempt or subscription else "unknown"), subscription


# ---------------------------------------------------------------------------- demo
def prepare_demo(config, webhook_url, demo_developer_email="developer@demo.test"):
    """For `python app.py`: both webhook endpoints at the sandbox (their secrets are returned
    for STRIPE_WEBHOOK_SECRET), products and prices, and an onboarded Connect account for the
    demo developer. Imported history (seed data) is never touched."""
    import requests

    client = stripe_client(config)
    secrets = []
    urls = {False: webhook_url, True: webhook_url + "?connect=1"}
    # A signing secret is shown only when an endpoint is made, so the demo's endpoints are made
    # anew on every start; the old ones would deliver with secrets nobody has any more.
    for endpoint in client.v1.webhook_endpoints.list({"limit": 100}).auto_paging_iter():
        if endpoint.url in urls.values():
            client.v1.webhook_endpoints.delete(endpoint.id)
    wanted = {False: ["*"], True: ["account.updated", "account.application.deauthorized"]}
    for connect in (False, True):
        endpoint = client.v1.webhook_endpoints.create({
            "url": urls[connect], "enabled_events": wanted[connect], "connect": connect,
            "description": "App Market " + ("connected accounts" if connect else "platform"),
        })
        secrets.append(endpoint.secret)
    # Events start flowing at once (the sync below makes some): verify them from the start.
    config["STRIPE_WEBHOOK_SECRET"] = ",".join(secrets)
    summary = sync_all(config)
    user = User.get_or_none(User.email == demo_developer_email)
    if user is not None and user.developer_id:
        developer = Developer.get_by_id(user.developer_id)
        if not developer.stripe_account_id or not developer.payouts_enabled:
            if developer.stripe_account_id and developer.stripe_account_id.startswith("acct_demo"):
                # Seeded placeholder id: the sandbox has no such account.
                Developer.update(stripe_account_id=None).where(Developer.id == developer.id).execute()
                developer.stripe_account_id = None
            link = onboarding_link(config, developer, user.email)
            _complete_sandbox_onboarding(requests, link)
            account = client.v1.accounts.retrieve(developer.stripe_account_id)
            record_account(account)
    return {"webhook_secrets": secrets, **summary}


def _complete_sandbox_onboarding(requests, link):
    """Fill the sandbox's hosted onboarding form like a person would."""
    import re

    with requests.Session() as http:
        page = http.get(link, timeout=10)
        page.raise_for_status()
        form = re.search(r'<form[^>]*action="([^"]*)"', page.text)
        fields = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', page.text))
        fields.setdefault("business_type", "company")
        action = form.group(1) if form else link
        if action.startswith("/"):
            from urllib.parse import urljoin

            action = urljoin(link, action)
        http.post(action, data=fields, timeout=10, allow_redirects=False)


def init_app(app):
    @app.cli.command("stripe-sync")
    def stripe_sync_command():
        """Create the Stripe products, prices and tax rate that are missing."""
        with db.connection_context():
            summary = sync_all(app.config)
        click.echo(f"tax rate {summary['tax_rate']}; {summary['apps_changed']} app(s) synced")

    @app.cli.command("stripe-replay")
    @click.option("--since", required=True, help="ISO date (UTC) or Unix seconds.")
    def stripe_replay_command(since):
        """Process Stripe's events since a time that the market has not processed yet."""
        try:
            moment = parse_since(since)
        except ValueError:
            raise click.BadParameter("an ISO date such as 2026-11-01 or Unix seconds", param_hint="--since") from None
        with db.connection_context():
            counts = replay_events(app.config, moment)
            notifications.deliver_due(app.config)
        click.echo(", ".join(f"{name} {value}" for name, value in counts.items()))

    @app.cli.command("sweep")
    def sweep_command():
        """Hourly: end entitlements whose grace has passed, forget old login failures."""
        from market.jobs import sweep

        with db.connection_context():
            summary = sweep.run(app.config)
        click.echo(summary)
