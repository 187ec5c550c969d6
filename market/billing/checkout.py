"""Buy (DESIGN.md §5): the company's Stripe customer, the Checkout Session a Buy goes to (at
most one open per company and app, QUALITY.md 20), and the return page's question whether the
webhook has made the bought subscription live yet."""
import datetime

from market.accounts import companies
from market.billing import catalogue, dunning, gateway, price_schedule
from market.billing.refusals import AlreadyEntitled, AlreadyPaid, BuyRefused, InvalidChoice, NotFound
from market.billing.subscriptions import current_subscription
from market.billing.transactions import lock_company, write_transaction
from market.core import money, words
from market.core.clock import utcnow
from models import CheckoutAttempt, Company, Subscription

# Checkout sessions live 24 h at Stripe; the market treats one as spent a little earlier so it
# never sends a customer to a page that expires while they type their card number.
SESSION_SAFETY_MARGIN = datetime.timedelta(minutes=10)


def ensure_customer(config, company, email=None):
    """The company's Stripe customer, created once."""
    if company.stripe_customer_id:
        return company.stripe_customer_id
    customer = gateway.stripe_client(config).v1.customers.create({
        "name": company.name, "email": email or None,
        "metadata": {"company_id": str(company.id), "company": company.public_id,
                     "org_number": company.org_number, "installation": gateway.installation_id()},
    }, gateway.options("customer", company.id))
    Company.update(stripe_customer_id=customer.id).where(
        Company.id == company.id, Company.stripe_customer_id.is_null()).execute()
    company.stripe_customer_id = Company.get_by_id(company.id).stripe_customer_id
    return company.stripe_customer_id


def had_subscription(company, app):
    """One trial per company and app, ever."""
    return Subscription.select().where(Subscription.company == company, Subscription.app == app).exists()


def _session_params(config, company, app, plan, tax_rate, price_id, success_url=None, locale=words.DEFAULT):
    base = config["MARKET_URL"].rstrip("/")
    metadata = {"company_id": str(company.id), "app_id": str(app.id), "plan_id": str(plan.id),
                "installation": gateway.installation_id()}
    line_item = {"price": price_id, "quantity": 1}
    if tax_rate:
        line_item["tax_rates"] = [tax_rate]
    subscription_data = {
        "application_fee_percent": money.fee_percent_param(config["PLATFORM_FEE_PERCENT"], config["VAT_PERCENT"]),
        "transfer_data": {"destination": app.developer.stripe_account_id},
        "metadata": metadata,
        "description": app.name,
    }
    coming = price_schedule.open_change(plan)
    if coming is not None and coming.old_stripe_price_id == price_id:
        # Bought during the notice: the buyer is told, and moves with the subscribers told.
        subscription_data["description"] = f"{app.name} — {price_schedule.notice_words(coming).said_in(locale)}"
    if plan.trial_days and not had_subscription(company, app):
        subscription_data["trial_period_days"] = plan.trial_days
    return {
        "mode": "subscription",
        "customer": company.stripe_customer_id,
        "client_reference_id": company.public_id,
        "line_items": [line_item],
        "subscription_data": subscription_data,
        "metadata": metadata,
        # A bureau's run for many clients comes back to its progress page (billing/bureau.py).
        "success_url": success_url or f"{base}/apps/{app.slug}/bought?session_id={{CHECKOUT_SESSION_ID}}",
        "cancel_url": f"{base}/apps/{app.slug}/checkout-canceled",
        # Stripe's page speaks the buyer's language (DESIGN.md §10); Checkout knows "sv" and "en".
        "locale": gateway.stripe_locale(locale),
    }


def start_checkout(config, company, user, app, plan_id=None, now=None, success_url=None, locale=words.DEFAULT):
    """The Checkout Session URL for this Buy: the open one when it fits, else a new one
    (at most one open per company and app, QUALITY.md 20), in the buyer's `locale`. An open
    session is reused as it is, in the language it was made in."""
    now = now or utcnow()
    if app.status == "suspended":
        raise BuyRefused(words.marked("%(app)s has been suspended by the App Market and cannot be bought."),
                         app=app.name)
    if app.status != "published":
        raise NotFound(words.marked("This app is not available in the App Market."))
    if app.is_free:
        raise InvalidChoice(words.marked("This app is free: activate it instead of buying it."))
    if companies.is_test_company(company):
        raise BuyRefused(words.marked("A test company is never billed and cannot buy apps. It can use only its "
                                      "own developer's apps, without paying; buy from a customer company's "
                                      "account."))
    # A published paid app: its company is entitled exactly when its subscription entitles.
    if dunning.entitles(current_subscription(company, app), config["BILLING_GRACE_DAYS"], now):
        raise AlreadyEntitled()
    plan = catalogue.choose_plan(app, plan_id)
    developer = app.developer
    if not developer.stripe_account_id or not developer.payouts_enabled:
        raise BuyRefused(words.marked("%(app)s cannot be bought yet: its developer has not finished setting up "
                                      "payouts with Stripe. Nothing was charged; please try again later."),
                         app=app.name)
    tax_rate = catalogue.ensure_tax_rate(config)
    price_id = catalogue.ensure_price(config, plan, app)
    ensure_customer(config, company, user.email if user else None)
    client = gateway.stripe_client(config)
    # No Stripe call inside the transaction (DESIGN.md §11): claim the attempt under the
    # company's lock, call Stripe with the attempt's derived key, then write what it answered.
    # Two Buys at once claim the same attempt, send the same key and get the same session.
    claim, stale = _claim_attempt(company, app, plan, price_id, user, now)
    if claim.url:
        return claim.url
    if stale is not None:
        try:
            _expire_at_stripe(client, stale)
        except AlreadyPaid:
            with write_transaction():
                CheckoutAttempt.delete().where(CheckoutAttempt.id == claim.id,
                                               CheckoutAttempt.stripe_session_id.is_null()).execute()
                CheckoutAttempt.update(status="complete").where(
                    CheckoutAttempt.id == stale.id, CheckoutAttempt.status == "expired").execute()
            raise
    session = client.v1.checkout.sessions.create(
        _session_params(config, company, app, plan, tax_rate, price_id, success_url, locale),
        gateway.options("checkout", company.id, app.id, plan.id, claim.attempt))
    with write_transaction():
        written = (CheckoutAttempt.update(stripe_session_id=session.id, url=session.url,
                                          expires_at=gateway.from_timestamp(session.expires_at))
                   .where(CheckoutAttempt.id == claim.id, CheckoutAttempt.status == "open",
                          (CheckoutAttempt.stripe_session_id.is_null())
                          | (CheckoutAttempt.stripe_session_id == session.id))
                   .execute())
    if not written:
        # A later Buy (another plan or price) superseded this attempt while Stripe answered:
        # the session just made must not stay payable.
        _expire_at_stripe(client, CheckoutAttempt(stripe_session_id=session.id))
        raise BuyRefused(words.marked("Another purchase of this app was started meanwhile; press Buy again."))
    return session.url


def _claim_attempt(company, app, plan, price_id, user, now):
    """Under the company's lock, briefly: the open attempt this Buy may reuse (same plan, same
    Stripe price, not about to expire), or a new attempt claimed for it, with the open attempt
    it replaces (to be expired at Stripe before the new session is made). Returns
    (attempt, replaced attempt or None)."""
    with write_transaction():
        lock_company(company)
        open_attempt = (CheckoutAttempt.select()
                        .where(CheckoutAttempt.company == company, CheckoutAttempt.app == app,
                               CheckoutAttempt.status == "open")
                        .order_by(CheckoutAttempt.attempt.desc()).first())
        stale = None
        if open_attempt is not None:
            fresh = open_attempt.expires_at is None or open_attempt.expires_at - SESSION_SAFETY_MARGIN > now
            same_price = open_attempt.plan_id == plan.id and open_attempt.stripe_price_id == price_id
            if same_price and fresh:
                return open_attempt, None
            CheckoutAttempt.update(status="expired").where(CheckoutAttempt.id == open_attempt.id).execute()
            stale = open_attempt
        last = (CheckoutAttempt.select(CheckoutAttempt.attempt)
                .where(CheckoutAttempt.company == company, CheckoutAttempt.app == app)
                .order_by(CheckoutAttempt.attempt.desc()).first())
        attempt = CheckoutAttempt.create(company=company, app=app, plan=plan, user=user.id if user else None,
                                         attempt=(last.attempt if last else 0) + 1, stripe_price_id=price_id,
                                         status="open")
        return attempt, stale


def _expire_at_stripe(client, attempt):
    """Before a new session: the old one must not be payable any more."""
    if not attempt.stripe_session_id:
        return
    try:
        client.v1.checkout.sessions.expire(attempt.stripe_session_id, None,
                                           gateway.options("expire", attempt.stripe_session_id))
    except gateway.InvalidRequestError:
        session = client.v1.checkout.sessions.retrieve(attempt.stripe_session_id)
        if session.status == "complete":
            raise AlreadyPaid() from None
        # Already expired at Stripe: nothing to do.


def checkout_state(company, app, session_id):
    """For the return page: has the webhook made the bought subscription live yet?"""
    subscription = current_subscription(company, app)
    if subscription is not None and subscription.status in Subscription.ENTITLING_STATUSES:
        return "active", subscription
    attempt = CheckoutAttempt.get_or_none(CheckoutAttempt.company == company, CheckoutAttempt.app == app,
                                          CheckoutAttempt.stripe_session_id == session_id)
    return ("pending" if attempt or subscription else "unknown"), subscription
