"""The market's whole reaction graph, in one function.

A room that changes something declares a blinker signal in its own `signals.py`; the rooms
after it that must react are connected here, so who hears what reads top to bottom. Handlers
run synchronously inside the emitter's transaction: an outbox row or a stats update commits or
rolls back with the change that caused it. Handlers only write to the database; work that
calls Stripe, mails or makes an HTTP request is an outbox row processed after commit.

`create_app` calls `connect_signals()`, and so does every entry point that works without it
(the CLI commands run inside an app made by `create_app`). Connecting twice changes nothing.
Blinker calls the receivers of one signal in no set order, so no handler relies on another.
"""
from market.billing import signals as billing
from market.catalog import signals as catalog
from market.notifications import on_billing as notifications_on_billing
from market.notifications import on_oauth as notifications_on_oauth
from market.oauth import on_billing as oauth_on_billing
from market.oauth import on_catalog as oauth_on_catalog
from market.oauth import signals as oauth
from market.reviews import on_billing as reviews_on_billing
from market.stats import on_billing as stats_on_billing
from market.stats import on_oauth as stats_on_oauth


def connect_signals():
    """Connect every room's handlers to the signals of the rooms before it."""
    # catalog →
    catalog.scopes_narrowed.connect(oauth_on_catalog.narrow_grants)
    # billing →
    billing.subscription_changed.connect(notifications_on_billing.tell_app_of_subscription)
    billing.subscription_changed.connect(stats_on_billing.recount_after_subscription_change)
    billing.price_change_told.connect(notifications_on_billing.tell_app_of_price_change)
    billing.access_ended.connect(oauth_on_billing.revoke_grant_of_lost_access)
    billing.app_removed.connect(oauth_on_billing.revoke_grant_of_removed_app)
    billing.payment_reversed.connect(reviews_on_billing.recount_after_reversal)
    # oauth →
    oauth.connection_revoked.connect(notifications_on_oauth.connection_revoked)
    oauth.connection_revoked.connect(stats_on_oauth.connection_changed)
    oauth.connection_used.connect(stats_on_oauth.connection_changed)
