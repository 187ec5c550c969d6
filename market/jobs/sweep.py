"""`flask --app app sweep`, run hourly (DESIGN.md §3): time alone ends entitlements, so
someone must end the payment grace that has passed (billing's dunning, whose signal revokes
what companies gave the apps and tells them), switch due plan changes and announced prices, end what an app no longer sold still renews, age the store's
statistics, forget old login failures and retry app notifications that are due."""
from market.accounts import auth as accounts
from market.billing import dunning, price_schedule, retirement, subscriptions
from market.notifications import outbox as notifications
from market.stats import app_stats as stats

NOTIFY_BUDGET_SECONDS = 20


def run(config, now=None):
    grace_days = config["BILLING_GRACE_DAYS"]
    ended = dunning.end_expired_grace(config, now)
    aged = stats.age_all(now, grace_days)
    forgotten = accounts.forget_old_failures(now)
    retirement.drop_changes_to_retired_plans(config, now)
    # Before the downgrades: a subscription with a downgrade waiting keeps the price it chose.
    prices = price_schedule.apply_due(config, now)
    changed_plans, _, _ = subscriptions.apply_due_plan_changes(config, now)
    unsold_ended, apps_freed = retirement.sweep_unsold_apps(config, now)
    # Last, and within a time budget: a slow app endpoint holds up neither the steps above nor
    # the sweep for long (each app is sent to on its own thread; outbox.deliver_due).
    sent = notifications.deliver_due(config, now, budget=NOTIFY_BUDGET_SECONDS)
    return {"entitlements_ended": ended, "stats_changed": aged, "login_failures_forgotten": forgotten,
            "notifications_delivered": sent["delivered"], "notifications_failed": sent["failed"],
            "plan_changes_applied": changed_plans, "unsold_subscriptions_ended": unsold_ended,
            "unsold_apps_freed": apps_freed, "plans_repriced": prices["plans_repriced"],
            "price_changes_applied": prices["subscriptions_moved"]}
