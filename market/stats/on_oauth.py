"""The store's counts follow the connections (DESIGN.md §3, §7): a used connection can make
its company an active customer, a revoked one no longer counts. Connected in market.wiring;
the app's row is recomputed in the emitter's transaction."""
from market.stats import app_stats


def connection_changed(connection, config, now):
    """connection_used and connection_revoked: the app's active-customer count, recounted."""
    app_stats.refresh_app(connection.app_id, config["BILLING_GRACE_DAYS"], now)
