"""What the stats room does when billing changes something (connected in market.wiring): the
app's customer counts follow the change, in billing's transaction."""
from market.stats import app_stats


def recount_after_subscription_change(subscription, kind, config, now):
    """billing.subscription_changed."""
    app_stats.refresh_app(subscription.app_id, config["BILLING_GRACE_DAYS"], now)

