"""What the oauth room does when billing changes something (connected in market.wiring):
a company that lost an app, or removed it, no longer has a grant to it. Inside billing's
transaction; only rows are written (tokens, the connection, the app's outbox)."""
from market.oauth import connections


def revoke_grant_of_lost_access(company, app, config, now):
    """billing.access_ended: the grace passed, the subscription ended or was refunded."""
    connections.revoke_company_app(config, company, app, now)


def revoke_grant_of_removed_app(company, app, config, now):
    """billing.app_removed: a company admin chose Remove app."""
    connection = connections.active_connection(company, app)
    if connection is not None:
        connections.revoke_connection(config, connection, now)
