"""Mail from billing to a customer company's admins (a failed payment, a suspended app): the
people who can update the card or choose another app."""
from market.accounts.companies import company_admins
from market.billing import gateway, ledger
from market.core import money
from market.outbound import mail
from models import IntegrityError, MailOnce, User, db


def tell_company_admins(config, company, subject, body):
    """Mail every admin of the company; a market that cannot send mail still goes on."""
    # Through memberships too: a bureau's admin of the company is one of its admins.
    admins = company_admins(company)
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


def _tell(config, users, subject, body):
    sent = 0
    for user in users:
        try:
            mail.send_mail(config, user.email, subject, body)
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
    "subscription_create": "Receipt: your company bought {app}",
    "subscription_cycle": "{app} renewed: receipt for the next period",
}


def receipt(config, invoice, subscription):
    """(subject, body) of the receipt of one paid invoice: the platform as seller with its org
    and VAT numbers, the buyer with its org number, net, moms and gross per line and in total."""
    app, company, plan = subscription.app, subscription.company, subscription.plan
    vat = config["VAT_PERCENT"]
    what = f"{app.name}, {plan.name} plan" if plan is not None else app.name
    lines = receipt_lines(invoice, vat, what)
    reason = invoice.get("billing_reason") or ""
    subject = RECEIPT_SUBJECTS.get(reason, "Receipt for {app}").format(app=app.name)
    paid_at = gateway.from_timestamp((invoice.get("status_transitions") or {}).get("paid_at"))
    out = [
        f"Receipt {invoice.get('number') or invoice['id']}" + (f", paid {paid_at:%Y-%m-%d}" if paid_at else ""),
        "",
        f"Seller: App Market, org. nr {config.get('PLATFORM_ORG_NUMBER') or '—'}, "
        f"VAT nr {config.get('PLATFORM_VAT_NUMBER') or '—'}",
        f"Buyer: {company.name}, org. nr {company.org_number}",
        "",
    ]
    for description, net, moms, gross in lines:
        out.append(f"{description}: net {money.format_kr(net)}, moms {vat} % {money.format_kr(moms)}, "
                   f"gross {money.format_kr(gross)}")
    out += ["",
            f"Total: net {money.format_kr(sum(line[1] for line in lines))}, "
            f"moms {money.format_kr(sum(line[2] for line in lines))}, "
            f"gross {money.format_kr(sum(line[3] for line in lines))}"]
    if reason == "subscription_cycle" and subscription.current_period_end:
        out += ["", f"Your subscription to {app.name} renewed and runs until "
                    f"{subscription.current_period_end:%Y-%m-%d}."]
    link = invoice.get("hosted_invoice_url")
    out += ["", f"Your invoices are under My apps: {_market(config)}/account/apps"]
    if link:
        out.append(f"This invoice at Stripe: {link}")
    return subject, "\n".join(out)


def tell_receipt(config, invoice, subscription):
    """The receipt of a paid invoice, once per invoice id."""
    if not once(f"receipt:{invoice['id']}"):
        return 0
    subject, body = receipt(config, invoice, subscription)
    return tell_company_admins(config, subscription.company, subject, body)


# ---------------------------------------------------------------------------- cancellation, refund
def cancel_key(subscription):
    return f"cancel:{subscription.id}"


def tell_cancellation(config, subscription):
    """The company chose to end a subscription, once per cancellation (a resume forgets it)."""
    if not once(cancel_key(subscription)):
        return 0
    app = subscription.app
    if subscription.status == "canceled":
        text = f"Your company's subscription to {app.name} has ended. Nothing more is charged for it."
    else:
        when = (f" on {subscription.current_period_end:%Y-%m-%d}" if subscription.current_period_end
                else " at the end of the paid period")
        text = (f"Your company's subscription to {app.name} is canceled: it keeps working until it "
                f"ends{when}, and nothing more is charged. Changed your mind? Choose \"Keep "
                f"subscription\" under My apps ({_market(config)}/account/apps) before then.")
    return tell_company_admins(config, subscription.company, f"{app.name}: subscription canceled", text)


def tell_refund(config, row):
    """A refund booked in the ledger (pending or succeeded), once per Stripe refund id."""
    if row is None or row.kind != "refund" or row.company_id is None or not once(f"refund:{row.stripe_ref}"):
        return 0
    amount = money.format_kr(-row.gross_ore)
    state = ("is on its way to your card" if row.refund_status in ("pending", "requires_action")
             else "has been paid back to your card")
    text = (f"{amount} (of which moms {money.format_kr(-row.moms_ore)}) for {row.app.name} {state}. "
            f"It is listed under its invoice in My apps ({_market(config)}/account/apps).")
    return tell_company_admins(config, row.company, f"Refund of {amount} for {row.app.name}", text)


# ---------------------------------------------------------------------------- to developers
def tell_listing_decision(config, listing, approved, reason="", revision=None):
    """The admin decided on the developer's app (a new listing) or on a published app's changes
    (`revision`): approved, or rejected with the reason. Once per decision: the decision itself
    moves the listing's state (a second POST is refused), and a revision's is keyed on its id."""
    if revision is not None and not once(f"decision:revision:{revision.id}"):
        return 0
    what = f"The changes to {listing.name}" if revision is not None else listing.name
    page = f"{_market(config)}/developer/apps/{listing.slug}"
    if approved:
        subject = (f"The changes to {listing.name} are published" if revision is not None
                   else f"{listing.name} is approved and published")
        text = f"{what} {'were' if revision is not None else 'was'} approved by the App Market and " \
               f"customers see {'them' if revision is not None else 'it'} now.\n\nYour app: {page}"
    else:
        subject = (f"The changes to {listing.name} were not approved" if revision is not None
                   else f"{listing.name} was not approved")
        text = (f"{what} {'were' if revision is not None else 'was'} rejected by the App Market "
                f"for this reason:\n\n{reason}\n\nChange what the reason asks and submit again: {page}")
    return tell_developer(config, listing.developer, subject, text)


def tell_new_review(config, review):
    """A customer reviewed one of the developer's apps, once per review. The company is named
    only where it agreed to be named with its reviews."""
    if not once(f"review:{review.id}"):
        return 0
    app = review.app
    who = review.company.name if review.company.show_name_in_reviews else "A customer"
    text = (f"{who} gave {app.name} {review.stars} of 5 stars"
            + (f":\n\n{review.text}" if review.text else ".")
            + f"\n\nReply in your reviews inbox: {_market(config)}/developer/reviews#review-{review.id}")
    return tell_developer(config, app.developer, f"New review of {app.name}: {review.stars} of 5 stars", text)
