"""Rebuilding every kept figure from the data (`flask --app app stats-rebuild`, the seed): the
apps' figures (market.stats), then the recommendations' co-usage and segment counts, then one
store generation bump so no cached page shows the old ones. What repairs drift.

Stats come before recommendations in the market's flow, so neither rebuilds the other: this
job, above both, runs them in order.
"""
from market.catalog import store
from market.recommendations import ranking
from market.stats import app_stats
from models import db


def rebuild_everything(grace_days, now=None):
    """Every app's figures from the data, then co-usage; returns (apps, co-usage pairs).
    `grace_days` is config["BILLING_GRACE_DAYS"]."""
    with db.atomic():
        apps = app_stats.stats_rebuild(grace_days, now=now)
    pairs = ranking.rebuild_co_usage()
    # After both: a page cached between the two would keep the old co-usage until the next bump.
    store.bump_store_generation()
    return apps, pairs
