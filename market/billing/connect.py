"""Stripe Connect for developers: each developer's Express account, the onboarding links that
set it up, and whether destination charges can reach it (its `transfers` capability)."""
from market.billing import gateway
from models import Developer


def ensure_connect_account(config, developer, email=None):
    """The developer's Express account, created once."""
    if developer.stripe_account_id:
        return developer.stripe_account_id
    account = gateway.stripe_client(config).v1.accounts.create({
        "type": "express", "country": "SE", "email": email or None,
        "capabilities": {"transfers": {"requested": True}, "card_payments": {"requested": True}},
        "business_profile": {"name": developer.name},
        "metadata": {"developer_id": str(developer.id), "installation": gateway.installation_id()},
    }, gateway.options("account", developer.id))
    Developer.update(stripe_account_id=account.id).where(
        Developer.id == developer.id, Developer.stripe_account_id.is_null()).execute()
    developer.stripe_account_id = Developer.get_by_id(developer.id).stripe_account_id
    return developer.stripe_account_id


def onboarding_link(config, developer, email=None):
    """A fresh AccountLink (they expire within minutes, so one is made per visit)."""
    account_id = ensure_connect_account(config, developer, email)
    base = config["MARKET_URL"].rstrip("/")
    link = gateway.stripe_client(config).v1.account_links.create({
        "account": account_id, "type": "account_onboarding",
        "refresh_url": base + "/developer/payouts/refresh",
        "return_url": base + "/developer/payouts",
    })
    return link.url


def record_account(account, event_created=None):
    """From an `account.updated` (or a fetched account): can destination charges reach it?

    With `event_created` (the event's `created`) an event older than the last one applied is
    ignored, so Stripe's deliveries, which come in any order, never move the account back; the
    comparison is in the UPDATE itself, so two deliveries racing cannot undo each other. A
    deauthorized account stays without payouts whatever it says."""
    account = gateway.plain(account)
    capabilities = account.get("capabilities") or {}
    enabled = capabilities.get("transfers") == "active"
    changes = {"payouts_enabled": Developer.stripe_deauthorized_at.is_null() if enabled else False,
               "stripe_details_submitted": bool(account.get("details_submitted"))}
    where = [Developer.stripe_account_id == account["id"]]
    if event_created is not None:
        changes["stripe_account_event_created"] = int(event_created)
        where.append(Developer.stripe_account_event_created.is_null()
                     | (Developer.stripe_account_event_created <= int(event_created)))
    return Developer.update(**changes).where(*where).execute()


def deauthorize(account_id, now):
    """`account.application.deauthorized`: the developer disconnected its account from the
    platform. Payouts are off (so Buy is refused) from now on. The developer row, or None when
    the account is no developer's here (or was already deauthorized)."""
    developer = Developer.get_or_none(Developer.stripe_account_id == account_id)
    if developer is None:
        return None
    updated = Developer.update(payouts_enabled=False, stripe_deauthorized_at=now).where(
        Developer.id == developer.id, Developer.stripe_deauthorized_at.is_null()).execute()
    return Developer.get_by_id(developer.id) if updated else None


def refresh_account(config, developer):
    """Ask Stripe directly (the developer returned from onboarding before the webhook came)."""
    if not developer.stripe_account_id:
        return developer
    account = gateway.stripe_client(config).v1.accounts.retrieve(developer.stripe_account_id)
    record_account(account)
    return Developer.get_by_id(developer.id)
