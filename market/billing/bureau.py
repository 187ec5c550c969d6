"""An accounting bureau that buys for its clients (issue T): the payer of a client's
subscription, the bureau's saved card, and the queue of client companies a bureau user works
through one at a time.

The bureau is the company the user belonged to first (its own; the clients came later, by
invitation). It saves a card once through Checkout in `setup` mode; each client's subscription
it pays is then made on the bureau's Stripe customer with that card, while the entitled company
is always the client, named in the subscription's `metadata.company_id` (webhooks._owner reads
that before the customer). Every Stripe POST carries a key derived from what it does, and none
is made inside a database transaction."""
from market.accounts import companies
from market.accounts.auth import language_of
from market.billing import catalogue, checkout, dunning, gateway, subscriptions
from market.billing.refusals import AlreadyEntitled, BuyRefused, InvalidChoice, NotFound
from market.billing.transactions import write_transaction
from market.core import money, words
from market.core.clock import utcnow
from market.outbound import mail
from models import BureauCard, BureauStep, BureauSubscription, Company, Membership, Subscription

PAYERS = ("bureau", "client")
STATES = ("waiting", "done", "needs_you", "failed")
# What a step's state reads as (data-state keeps the machine value).
STATE_WORDS = {"waiting": words.marked("Waiting"), "done": words.marked("Done"),
               "needs_you": words.marked("Needs you"), "failed": words.marked("Failed")}


class NoCard(BuyRefused):
    """The bureau pays but has saved no card yet."""


UNKNOWN_SETUP = words.marked("This card set-up is not known.")
NOT_FINISHED = words.marked("The card was not saved: the set-up was not finished.")


# ---------------------------------------------------------------------------- who is the bureau
def bureau_of(user):
    """The user's own company: the one it belonged to first (a client's membership comes later,
    by invitation); the current company for a user without memberships."""
    first = (Membership.select().where(Membership.user == user.id)
             .order_by(Membership.created_at, Membership.id).first())
    company_id = first.company_id if first is not None else user.company_id
    return Company.get_or_none(Company.id == company_id) if company_id else None


def admin_companies(user):
    """[(company, role)] of the companies where the user is an admin, the bureau's own first."""
    return [(company, role) for company, role in companies.memberships_of(user) if role == "admin"]


# ---------------------------------------------------------------------------- the saved card
def saved_card(bureau):
    return BureauCard.get_or_none(BureauCard.company == bureau.id) if bureau is not None else None


def start_card_setup(config, bureau, user, now=None, locale=words.DEFAULT):
    """The URL of a setup-mode Checkout Session that saves a card on the bureau's customer,
    its page in the reader's `locale`."""
    now = now or utcnow()
    checkout.ensure_customer(config, bureau, user.email)
    base = config["MARKET_URL"].rstrip("/")
    metadata = {"company_id": str(bureau.id), "purpose": "bureau_card", "installation": gateway.installation_id()}
    session = gateway.stripe_client(config).v1.checkout.sessions.create({
        "mode": "setup", "customer": bureau.stripe_customer_id, "currency": "sek",
        "payment_method_types": ["card"], "client_reference_id": bureau.public_id,
        "metadata": metadata, "setup_intent_data": {"metadata": metadata},
        "success_url": f"{base}/bureau/card/saved?session_id={{CHECKOUT_SESSION_ID}}",
        "cancel_url": f"{base}/bureau/card", "locale": gateway.stripe_locale(locale),
    }, gateway.options("bureau-card", bureau.id, user.id, now.strftime("%Y%m%d%H%M")))  # a double click is one
    return session.url


def finish_card_setup(config, bureau, session_id):
    """After Checkout: the session's card becomes the bureau's saved card. Refused unless the
    session is a completed setup of this bureau's customer (a forged id changes nothing)."""
    if not isinstance(session_id, str) or not session_id.startswith("cs_") or len(session_id) > 200:
        raise NotFound(UNKNOWN_SETUP)
    client = gateway.stripe_client(config)
    try:
        session = gateway.plain(client.v1.checkout.sessions.retrieve(session_id))
    except gateway.InvalidRequestError:
        raise NotFound(UNKNOWN_SETUP) from None
    if (session.get("mode") != "setup" or not bureau.stripe_customer_id
            or session.get("customer") != bureau.stripe_customer_id
            or (session.get("metadata") or {}).get("company_id") != str(bureau.id)):
        raise NotFound(UNKNOWN_SETUP)
    if session.get("status") != "complete" or not session.get("setup_intent"):
        raise InvalidChoice(NOT_FINISHED)
    intent = gateway.plain(client.v1.setup_intents.retrieve(session["setup_intent"]))
    if intent.get("status") != "succeeded" or not intent.get("payment_method"):
        raise InvalidChoice(NOT_FINISHED)
    method = gateway.plain(client.v1.payment_methods.retrieve(intent["payment_method"]))
    card = method.get("card") or {}
    with write_transaction():
        BureauCard.delete().where(BureauCard.company == bureau.id).execute()
        return BureauCard.create(company=bureau.id, stripe_payment_method_id=method["id"],
                                 brand=(card.get("brand") or "")[:20], last4=(card.get("last4") or "")[:4])


# ---------------------------------------------------------------------------- a subscription paid by the bureau
def _checked_plan(config, company, app, plan_id, now):
    """The same checks as Buy (checkout.start_checkout) for the client company."""
    if app.status == "suspended":
        raise BuyRefused(words.marked("%(app)s has been suspended by the App Market and cannot be bought."),
                         app=app.name)
    if app.status != "published":
        raise NotFound(words.marked("This app is not available in the App Market."))
    if app.is_free:
        raise InvalidChoice(words.marked("This app is free: activate it instead of buying it."))
    if companies.is_test_company(company):
        raise BuyRefused(words.marked("A test company is never billed and cannot buy apps."))
    if dunning.entitles(subscriptions.current_subscription(company, app), config["BILLING_GRACE_DAYS"], now):
        raise AlreadyEntitled()
    plan = catalogue.choose_plan(app, plan_id)
    developer = app.developer
    if not developer.stripe_account_id or not developer.payouts_enabled:
        raise BuyRefused(words.marked("%(app)s cannot be bought yet: its developer has not finished setting up "
                                      "payouts with Stripe. Nothing was charged."), app=app.name)
    return plan


def subscribe_for_client(config, bureau, company, user, app, plan_id, now=None):
    """Make the client's subscription on the bureau's Stripe customer with its saved card.
    Returns ("done", None) when it entitles, ("needs_you", url) when the card asks for the
    hosted confirmation (the invoice's page), raising BuyRefused / AlreadyEntitled otherwise."""
    now = now or utcnow()
    plan = _checked_plan(config, company, app, plan_id, now)
    card = saved_card(bureau)
    if card is None or not bureau.stripe_customer_id:
        raise NoCard(words.marked("Save the bureau's card first: it pays this client's subscription."))
    tax_rate = catalogue.ensure_tax_rate(config)
    price_id = catalogue.ensure_price(config, plan, app)
    item = {"price": price_id, "quantity": 1}
    if tax_rate:
        item["tax_rates"] = [tax_rate]
    params = {
        "customer": bureau.stripe_customer_id,
        "items": [item],
        "default_payment_method": card.stripe_payment_method_id,
        "application_fee_percent": money.fee_percent_param(config["PLATFORM_FEE_PERCENT"], config["VAT_PERCENT"]),
        "transfer_data": {"destination": app.developer.stripe_account_id},
        # The entitled company is the client, whoever's customer pays (webhooks._owner).
        "metadata": {"company_id": str(company.id), "app_id": str(app.id), "plan_id": str(plan.id),
                     "paid_by_company_id": str(bureau.id), "installation": gateway.installation_id()},
        "description": app.name,
        "payment_behavior": "allow_incomplete",
    }
    if plan.trial_days and not checkout.had_subscription(company, app):
        params["trial_period_days"] = plan.trial_days
    # One request per subscription the client has had: a retry after a lost answer or a double
    # click gets the same subscription back, a new purchase after one ended is a new request.
    earlier = Subscription.select().where(Subscription.company == company, Subscription.app == app).count()
    client = gateway.stripe_client(config)
    sub = client.v1.subscriptions.create(params, gateway.options(
        "bureau-subscription", bureau.id, company.id, app.id, plan.id, card.stripe_payment_method_id, earlier))
    with write_transaction():
        if not BureauSubscription.select().where(BureauSubscription.stripe_subscription_id == sub.id).exists():
            BureauSubscription.create(stripe_subscription_id=sub.id, bureau=bureau.id, company=company.id,
                                      app=app.id, user=user.id)
    if sub.status in Subscription.ENTITLING_STATUSES:
        return "done", None
    invoice = client.v1.invoices.retrieve(sub.latest_invoice) if sub.latest_invoice else None
    url = invoice.hosted_invoice_url if invoice is not None else None
    if sub.status == "incomplete" and url:
        return "needs_you", url
    raise BuyRefused(words.marked("The bureau's card was not charged for %(app)s."), app=app.name)


def paid_by(subscription):
    """The bureau company that pays this subscription, or None (the company pays itself)."""
    if subscription is None or not subscription.stripe_subscription_id:
        return None
    row = BureauSubscription.get_or_none(BureauSubscription.stripe_subscription_id == subscription.stripe_subscription_id)
    return row.bureau if row is not None else None


def bureau_removed(config, client_company, bureau_user, now=None):
    """The client removed the bureau's user: the subscriptions that bureau pays for the client
    are set to cancel at period end (the client may buy them itself) and both sides are told.
    Returns the subscriptions changed."""
    bureau = bureau_of(bureau_user)
    if bureau is None or bureau.id == client_company.id:
        return []
    paid = [row.stripe_subscription_id for row in BureauSubscription.select().where(
        BureauSubscription.bureau == bureau.id, BureauSubscription.company == client_company.id)]
    live = list(Subscription.select().where(Subscription.stripe_subscription_id.in_(paid or [""]),
                                            Subscription.status.in_(Subscription.LIVE_STATUSES)))
    changed = [subscriptions.set_cancel_at_period_end(config, sub, True, "bureau-removed", now)
               for sub in live if not sub.cancel_at_period_end]
    if changed:
        _tell_both(config, bureau, client_company, bureau_user, changed)
    return changed


def _tell_both(config, bureau, client_company, bureau_user, changed):
    def lines(locale):
        return "\n".join(words.say(locale, "- %(app)s: ends on %(date)s", app=sub.app.name,
                                   date=sub.current_period_end.strftime("%Y-%m-%d") if sub.current_period_end else "")
                         for sub in changed)

    admins = [person for person in companies.members(client_company) if person.company_role == "admin"
              and person.id != bureau_user.id]
    bureau_people = [person for person in companies.members(bureau) if person.company_role == "admin"]
    if bureau_user.id not in {p.id for p in bureau_people}:
        bureau_people.append(bureau_user)
    for people, subject, body in (
            (admins, words.marked("%(bureau)s no longer pays for your apps"),
             words.marked("%(bureau)s no longer works in %(client)s, so the subscriptions it paid for you end when their "
             "paid period ends and are not renewed. Buy them again in the App Market to keep them:\n\n%(lines)s\n")),
            (bureau_people, words.marked("%(client)s removed your bureau"),
             words.marked("%(client)s removed %(bureau)s from its company. The subscriptions your bureau paid for it end "
             "when their paid period ends and are not renewed; nothing more is charged to your card:\n\n%(lines)s\n"))):
        for person in people:
            locale = language_of(person)
            values = {"bureau": bureau.name, "client": client_company.name}
            try:
                mail.send_mail(config, person.email, words.say(locale, subject, **values),
                               words.say(locale, body, lines=lines(locale), **values))
            except mail.MailNotSent:
                continue  # logged in mail.py; the others may still be reachable
            except mail.MailNotConfigured:
                return


# ---------------------------------------------------------------------------- the queue
def plan_run(user, app, chosen, payers, plan_id=None):
    """The bureau user's new run for `app`: one waiting step per chosen client company (public
    ids), in the order of the user's companies. Only companies where the user is an admin may be
    chosen; anything else refuses the whole run (NotAMember) and keeps the earlier run."""
    mine = {company.public_id: company for company, _role in admin_companies(user)}
    chosen = [c for c in dict.fromkeys(chosen or []) if isinstance(c, str)]
    if not chosen:
        raise InvalidChoice(words.marked("Choose at least one client company."))
    if any(public_id not in mine for public_id in chosen):
        raise companies.NotAMember()
    plan = None if app.is_free else catalogue.choose_plan(app, plan_id)
    order = [public_id for public_id in mine if public_id in chosen]
    with write_transaction():
        BureauStep.delete().where(BureauStep.user == user.id).execute()
        for position, public_id in enumerate(order):
            payer = payers.get(public_id) if not app.is_free else "client"
            BureauStep.create(user=user.id, company=mine[public_id].id, app=app.id, plan=plan.id if plan else None,
                              payer=payer if payer in PAYERS else "client", position=position)
    return steps_of(user)


def steps_of(user):
    return list(BureauStep.select().where(BureauStep.user == user.id).order_by(BureauStep.position))


def next_step(user):
    return (BureauStep.select().where(BureauStep.user == user.id, BureauStep.state == "waiting")
            .order_by(BureauStep.position).first())


def mark(step, state, detail="", url=""):
    BureauStep.update(state=state, detail=detail[:500], url=url[:2000]).where(BureauStep.id == step.id).execute()
    step.state, step.detail, step.url = state, detail, url


def refresh(user, grace_days, now=None):
    """A paid step that needed the user (Checkout, the hosted confirmation) is done once the
    client's subscription entitles (the webhook has come)."""
    now = now or utcnow()
    for step in steps_of(user):
        if step.state == "needs_you" and not step.app.is_free and dunning.entitles(
                subscriptions.current_subscription(step.company, step.app), grace_days, now):
            mark(step, "done")
    return steps_of(user)
