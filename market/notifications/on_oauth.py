"""What the app hears when its connection changes (DESIGN.md §6): a withdrawn grant (the
customer's Revoke, Remove app, a lost entitlement) becomes a connection.revoked event in the
outbox, in the transaction that revoked it. Connected in market.wiring."""
from market.notifications import outbox


def connection_revoked(connection, config, now):
    outbox.connection_revoked(connection.company, connection.app, now)
