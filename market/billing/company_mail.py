"""Mail from billing to a customer company's admins (a failed payment, a suspended app): the
people who can update the card or choose another app.

Each mail is written in its reader's language (`auth.language_of`: the saved choice, else
Swedish), so the subject and body given to the `tell_*` functions are functions of the locale
(`lambda locale: words.say(locale, ...)`); a plain string is sent as it is to everyone."""
from market.accounts.auth import language_of
from market.accounts.companies import company_admins
from market.billing import gateway, ledger
from market.core import money, words
from market.core.clock import format_day
from market.outbound import mail
from models import IntegrityError, MailOnce, User, db


def written(text, locale):
    """`text` for a reader of `locale`: a function of the locale is called, a string is kept."""
    return text(locale) if callable(text) else text


def tell_company_admins(config, company, subject, body):
    """Mail every admin of the company, each in their own language; a market that cannot send
    mail still goes on."""
    # Through memberships too: a bureau's admin of the company is one of its admins.
    return _tell(config, company_admins(company), subject, body)


def _tell(config, users, subject, body):
    sent = 0
    for user in users:
        locale = language_of(user)
        try:
            mail.send_mail(config, user.email, written(subject, locale), written(body, locale))
            sent += 1
        except mail.MailNotSent:
            continue
        except mail.MailNotConfigured:
            break
    return sent


def tell_developer(config, developer, subject, body):
    """Mail every user of the developer (vendor) company."""
    return _tell(config, User.select().where(User.developer == developer).order_by(User.id), subject, body)


def tell_platform_admins(config, subject, body):
    return _tell(config, User.select().where(User.is_platform_admin == True).order_by(User.id),  # noqa: E712
                 subject, body)


# ---------------------------------------------------------------------------- once per event
def once(key):
    """True the first time `key` (an invoice, refund or subscription event) is seen: a row in
    the caller's transaction, so a redelivered webhook, the second of invoice.paid and
    invoice.payment_succeeded, or a rolled-back change mails nothing more."""
    try:
        with db.atomic():
            MailOnce.create(key=key[:200])
        return True
    except IntegrityError:
        return False


def forget(key):
    """The event a key stood for was undone (a cancellation taken back): the next one mails again."""
    MailOnce.delete().where(MailOnce.key == key[:200]).execute()


def _market(config):
    return (config.get("MARKET_URL") or "").rstrip("/")


# ---------------------------------------------------------------------------- receipts
def receipt_lines(invoice, vat_percent, fallback_description):
    """[(description, net, moms, gross)] in öre, one per invoice line: Stripe's own line amounts
    and taxes when it sent them, else the invoice's totals as one line."""
    lines = []
    data = ((invoice.get("lines") or {}).get("data") or []) if isinstance(invoice.get("lines"), dict) else []
    for line in data:
        amount = int(line.get("amount") or 0)
        taxes = line.get("taxes")
        if taxes is None:
            moms = money.moms(amount, vat_percent)
            net = amount
        else:
            moms = sum(int(t.get("amount") or 0) for t in taxes)
            inclusive = any(t.get("tax_behavior") == "inclusive" for t in taxes)
            net = amount - moms if inclusive else amount
        lines.append((line.get("description") or fallback_description, net, moms, net + moms))
    if not lines:
        gross = int(invoice.get("total") or 0)
        moms = ledger.invoice_moms(invoice)
        lines.append((fallback_description, gross - moms, moms, gross))
    return lines


RECEIPT_SUBJECTS = {
    "subscription_create": words.marked("Receipt: your company bought %(app)s"),
    "subscription_cycle": words.marked("%(app)s renewed: receipt for the next period"),
}
RECEIPT_SUBJECT = words.marked("Receipt for %(app)s")


def receipt(config, invoice, subscription, locale=words.DEFAULT):
    """(subject, body) of the receipt of one paid invoice, in `locale`: the platform as seller
    with its org and VAT numbers, the buyer with its org number, net, moms and gross per line and
    in total."""
    app, company, plan = subscription.app, subscription.company, subscription.plan
    vat = config["VAT_PERCENT"]
    what = (words.say(locale, "%(app)s, %(plan)s plan", app=app.name, plan=plan.name) if plan is not None
            else app.name)
    lines = receipt_lines(invoice, vat, what)
    reason = invoice.get("billing_reason") or ""
    subject = words.say(locale, RECEIPT_SUBJECTS.get(reason, RECEIPT_SUBJECT), app=app.name)
    paid_at = gateway.from_timestamp((invoice.get("status_transitions") or {}).get("paid_at"))
    number = invoice.get("number") or invoice["id"]

    def kr(ore):
        return money.format_kr(ore, locale)

    out = [
        (words.say(locale, "Receipt %(number)s, paid %(date)s", number=number, date=format_day(paid_at, locale))
         if paid_at else words.say(locale, "Receipt %(number)s", number=number)),
        "",
        words.say(locale, "Seller: App Market, org. nr %(org)s, VAT nr %(vat)s",
                  org=config.get("PLATFORM_ORG_NUMBER") or "—", vat=config.get("PLATFORM_VAT_NUMBER") or "—"),
        words.say(locale, "Buyer: %(company)s, org. nr %(org)s", company=company.name, org=company.org_number),
        "",
    ]
    for description, net, moms, gross in lines:
        out.append(words.say(locale, "%(what)s: net %(net)s, VAT %(vat)s %% %(moms)s, gross %(gross)s",
                             what=description, net=kr(net), vat=vat, moms=kr(moms), gross=kr(gross)))
    out += ["", words.say(locale, "Total: net %(net)s, VAT %(moms)s, gross %(gross)s",
                          net=kr(sum(line[1] for line in lines)), moms=kr(sum(line[2] for line in lines)),
                          gross=kr(sum(line[3] for line in lines)))]
    if reason == "subscription_cycle" and subscription.current_period_end:
        out += ["", words.say(locale, "Your subscription to %(app)s renewed and runs until %(date)s.",
                              app=app.name, date=format_day(subscription.current_period_end, locale))]
    link = invoice.get("hosted_invoice_url")
    out += ["", words.say(locale, "Your invoices are under My apps: %(url)s", url=f"{_market(config)}/account/apps")]
    if link:
        out.append(words.say(locale, "This invoice at Stripe: %(url)s", url=link))
    return subject, "\n".join(out)


def tell_receipt(config, invoice, subscription):
    """The receipt of a paid invoice, once per invoice id."""
    if not once(f"receipt:{invoice['id']}"):
        return 0
    return tell_company_admins(config, subscription.company,
                               lambda locale: receipt(config, invoice, subscription, locale)[0],
                               lambda locale: receipt(config, invoice, subscription, locale)[1])


# ---------------------------------------------------------------------------- cancellation, refund
def cancel_key(subscription):
    return f"cancel:{subscription.id}"


def tell_cancellation(config, subscription):
    """The company chose to end a subscription, once per cancellation (a resume forgets it)."""
    if not once(cancel_key(subscription)):
        return 0
    app = subscription.app
    apps = f"{_market(config)}/account/apps"

    def text(locale):
        if subscription.status == "canceled":
            return words.say(locale, "Your company's subscription to %(app)s has ended. Nothing more is charged "
                                     "for it.", app=app.name)
        if subscription.current_period_end:
            return words.say(
                locale, "Your company's subscription to %(app)s is canceled: it keeps working until it ends on "
                        "%(date)s, and nothing more is charged. Changed your mind? Choose \"Keep subscription\" "
                        "under My apps (%(url)s) before then.",
                app=app.name, date=format_day(subscription.current_period_end, locale), url=apps)
        return words.say(
            locale, "Your company's subscription to %(app)s is canceled: it keeps working until the end of the "
                    "paid period, and nothing more is charged. Changed your mind? Choose \"Keep subscription\" "
                    "under My apps (%(url)s) before then.", app=app.name, url=apps)

    return tell_company_admins(
        config, subscription.company,
        lambda locale: words.say(locale, "%(app)s: subscription canceled", app=app.name), text)


def tell_refund(config, row):
    """A refund booked in the ledger (pending or succeeded), once per Stripe refund id."""
    if row is None or row.kind != "refund" or row.company_id is None or not once(f"refund:{row.stripe_ref}"):
        return 0
    on_its_way = row.refund_status in ("pending", "requires_action")
    apps = f"{_market(config)}/account/apps"

    def text(locale):
        values = {"amount": money.format_kr(-row.gross_ore, locale), "moms": money.format_kr(-row.moms_ore, locale),
                  "app": row.app.name, "url": apps}
        if on_its_way:
            return words.say(locale, "%(amount)s (of which VAT %(moms)s) for %(app)s is on its way to your card. "
                                     "It is listed under its invoice in My apps (%(url)s).", **values)
        return words.say(locale, "%(amount)s (of which VAT %(moms)s) for %(app)s has been paid back to your "
                                 "card. It is listed under its invoice in My apps (%(url)s).", **values)

    return tell_company_admins(
        config, row.company,
        lambda locale: words.say(locale, "Refund of %(amount)s for %(app)s",
                                 amount=money.format_kr(-row.gross_ore, locale), app=row.app.name), text)


# ---------------------------------------------------------------------------- to developers
def tell_listing_decision(config, listing, approved, reason="", revision=None):
    """The admin decided on the developer's app (a new listing) or on a published app's changes
    (`revision`): approved, or rejected with the reason. Once per decision: the decision itself
    moves the listing's state (a second POST is refused), and a revision's is keyed on its id."""
    if revision is not None and not once(f"decision:revision:{revision.id}"):
        return 0
    values = {"app": listing.name, "url": f"{_market(config)}/developer/apps/{listing.slug}", "reason": reason}
    changes = revision is not None
    if approved:
        subject = (words.marked("The changes to %(app)s are published") if changes
                   else words.marked("%(app)s is approved and published"))
        text = (words.marked("The changes to %(app)s were approved by the App Market and customers see them "
                             "now.\n\nYour app: %(url)s") if changes
                else words.marked("%(app)s was approved by the App Market and customers see it now.\n\n"
                                  "Your app: %(url)s"))
    else:
        subject = (words.marked("The changes to %(app)s were not approved") if changes
                   else words.marked("%(app)s was not approved"))
        text = (words.marked("The changes to %(app)s were rejected by the App Market for this reason:\n\n"
                             "%(reason)s\n\nChange what the reason asks and submit again: %(url)s") if changes
                else words.marked("%(app)s was rejected by the App Market for this reason:\n\n%(reason)s\n\n"
                                  "Change what the reason asks and submit again: %(url)s"))
    return tell_developer(config, listing.developer, lambda locale: words.say(locale, subject, **values),
                          lambda locale: words.say(locale, text, **values))


def tell_new_review(config, review):
    """A customer reviewed one of the developer's apps, once per review. The company is named
    only where it agreed to be named with its reviews."""
    if not once(f"review:{review.id}"):
        return 0
    app = review.app
    named = review.company.show_name_in_reviews
    inbox = f"{_market(config)}/developer/reviews#review-{review.id}"

    def text(locale):
        who = review.company.name if named else words.say(locale, "A customer")
        given = (words.say(locale, "%(who)s gave %(app)s %(stars)s of 5 stars:", who=who, app=app.name,
                           stars=review.stars) + f"\n\n{review.text}" if review.text
                 else words.say(locale, "%(who)s gave %(app)s %(stars)s of 5 stars.", who=who, app=app.name,
                                stars=review.stars))
        return given + "\n\n" + words.say(locale, "Reply in your reviews inbox: %(url)s", url=inbox)

    return tell_developer(
        config, app.developer,
        lambda locale: words.say(locale, "New review of %(app)s: %(stars)s of 5 stars", app=app.name,
                                 stars=review.stars), text)


# ---------------------------------------------------------------------------- suspension (admin)
def tell_app_suspended(config, listing, reason):
    """The admins suspended the developer's app: the developer is told why (issue P 6)."""
    def text(locale):
        return words.say(
            locale, "The App Market's admins have suspended %(app)s. It is hidden from the store, and its "
                    "customers' subscriptions end with their paid periods.\n\nReason: %(reason)s\n\n"
                    "Reply to this mail to ask for it to be restored.",
            app=listing.name, reason=reason or words.say(locale, "No reason was given."))

    return tell_developer(
        config, listing.developer,
        lambda locale: words.say(locale, "%(app)s is suspended in the App Market", app=listing.name), text)
