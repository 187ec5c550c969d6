"""What an admin's suspension of an app does to its subscriptions (DESIGN.md §3): every live
one is set to cancel at period end and its company told; a restore leaves them set to cancel
and tells those companies how to keep theirs (issue O).

Called by the admin's view after the catalog has hidden or restored the app: these call
Stripe, so they cannot be signal handlers.
"""
import json
import logging

from market.billing import gateway, market_settings, subscriptions
from market.billing.company_mail import tell_company_admins
from market.billing.transactions import write_transaction
from market.core import words
from market.core.clock import format_day, utcnow
from market.outbound import mail
from models import Subscription

log = logging.getLogger(__name__)


def _suspension_key(app):
    return f"suspension_canceled:{app.id}"


def cancel_renewals(config, app, purpose, now, subject, text):
    """Set every live subscription of the app that still renews to cancel at period end (at
    Stripe, imported ones locally) and tell its company, in each reader's language:
    `subject(locale)`, `text(locale, app, until)` (`until` the end of the paid period, or None).
    Returns (ids set, how many Stripe refused for now)."""
    now = now or utcnow()
    live = list(Subscription.select().where(Subscription.app == app,
                                             Subscription.status.in_(Subscription.LIVE_STATUSES),
                                             Subscription.cancel_at_period_end == False)  # noqa: E712
                .order_by(Subscription.id))
    done, failed = [], 0
    for subscription in live:
        try:
            row = subscriptions.set_cancel_at_period_end(config, subscription, True, purpose, now)
        except gateway.StripeError as error:
            log.warning("%s of %s: subscription %s not canceled at Stripe: %s",
                        purpose, app.slug, subscription.id, error)
            failed += 1
            continue
        done.append(subscription.id)
        until = row.current_period_end
        # The mail goes out after the transaction: no lock held while a mail server answers.
        with mail.held_until_done(), write_transaction():
            tell_company_admins(config, subscription.company, subject,
                                lambda locale, until=until: text(locale, app, until))
    return done, failed


def _suspended_text(locale, app, until):
    if until:
        return words.say(locale, "%(app)s has been suspended by the App Market and can no longer be used. Your "
                                 "subscription will not renew: it ends at the end of the paid period on %(date)s, "
                                 "and you will not be charged again for it.",
                         app=app.name, date=format_day(until, locale))
    return words.say(locale, "%(app)s has been suspended by the App Market and can no longer be used. Your "
                             "subscription will not renew: it ends at the end of the paid period, and you will "
                             "not be charged again for it.", app=app.name)


def _available_again_text(locale, app, until, market):
    if until:
        return words.say(locale, "%(app)s is available again in the App Market. Your subscription is still set to "
                                 "end at the end of the paid period on %(date)s. To keep it, choose \"Keep "
                                 "subscription\" for %(app)s under My apps (%(url)s); otherwise nothing more is "
                                 "charged.", app=app.name, date=format_day(until, locale), url=f"{market}/account/apps")
    return words.say(locale, "%(app)s is available again in the App Market. Your subscription is still set to end "
                             "at the end of the paid period. To keep it, choose \"Keep subscription\" for %(app)s "
                             "under My apps (%(url)s); otherwise nothing more is charged.",
                     app=app.name, url=f"{market}/account/apps")


def on_app_suspended(config, app, now=None):
    """An admin suspended the app: every live subscription is set to cancel at period end (at
    Stripe, imported ones locally) and its company told. The ones this did are remembered, so
    a restore can tell exactly those. Returns how many were set."""
    done, _ = cancel_renewals(
        config, app, "suspend", now, lambda locale: words.say(locale, "%(app)s has been suspended", app=app.name),
        _suspended_text)
    with write_transaction():
        previous = json.loads(market_settings.setting(_suspension_key(app)) or "[]")
        market_settings.set_setting(_suspension_key(app), json.dumps(sorted(set(previous) | set(done))))
    return len(done)


def on_app_restored(config, app, now=None):
    """The suspension is lifted. The subscriptions it set to cancel stay set to cancel: each
    customer chose the app on terms the suspension broke, so each decides whether to keep it.
    Their companies are told that the app is back and how to keep it (My apps, Keep
    subscription: `POST /account/apps/<slug>/resume`). Returns how many were told."""
    now = now or utcnow()
    ids = json.loads(market_settings.setting(_suspension_key(app)) or "[]")
    market = config["MARKET_URL"].rstrip("/")
    told = 0
    for subscription in Subscription.select().where(Subscription.id.in_(ids or [0])).order_by(Subscription.id):
        if subscription.status not in Subscription.LIVE_STATUSES or not subscription.cancel_at_period_end:
            continue
        if subscription.current_period_end and subscription.current_period_end <= now:
            continue
        until = subscription.current_period_end
        with mail.held_until_done(), write_transaction():
            tell_company_admins(
                config, subscription.company,
                lambda locale: words.say(locale, "%(app)s is available again", app=app.name),
                lambda locale, until=until: _available_again_text(locale, app, until, market))
        told += 1
    with write_transaction():
        market_settings.delete_setting(_suspension_key(app))
    return told
