"""What the notifications room does when billing changes something (connected in
market.wiring): the app hears of its subscription's change through an outbox row written in
billing's transaction and sent after commit."""
from market.notifications import outbox


def tell_app_of_subscription(subscription, kind, config, now):
    """billing.subscription_changed: subscription.created, .updated or .canceled to the app."""
    outbox.subscription_changed(subscription, kind, now)


def tell_app_of_price_change(subscription, kind, change, config, now):
    """billing.price_change_told: subscription.price_change_scheduled or _withdrawn to the app."""
    outbox.price_change(subscription, kind, change.old_price_ore, change.new_price_ore, change.effective_on, now)
