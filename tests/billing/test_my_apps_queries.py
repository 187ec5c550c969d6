"""My apps (GET /account/apps) makes the same number of SQL statements whatever the number of
rows it lists (issue R): one query per kind of thing (plan changes, money back, payments and
their refunds, plans, invoices, price changes, connections) for all of the company's rows, never
one per row."""
import datetime

from models import (
    MoneyBack,
    PendingPlanChange,
    Plan,
    ScheduledPriceChange,
    Subscription,
    SubscriptionInvoice,
    utcnow,
)
from tests import factories
from tests.catalog.test_query_counts import count_queries

MOST = 15  # statements for the whole page, the session's and the layout's included


def _company_with(live, tag):
    """An admin whose company has `live` live subscriptions bought in the market (two paid
    invoices each, one refunded in part; a pending downgrade, a dropped one, an announced price
    change, a connection), plus one that ended with its money back and a connected free app."""
    now = utcnow().replace(microsecond=0)
    admin = factories.customer_admin(email=f"admin-{tag}@example.test")
    company = admin.company
    developer = factories.developer(stripe_account_id=f"acct_{tag}", payouts_enabled=True)
    for i in range(live + 1):
        app = factories.app_listing(developer_obj=developer, price_ore=19900, slug=f"{tag}-app-{i}",
                                    name=f"{tag.title()} App {i}")
        standard = Plan.get(Plan.app == app)
        Plan.update(stripe_price_id=f"price_{tag}_{i}").where(Plan.id == standard.id).execute()
        basic = Plan.create(app=app, name="Basic", price_ore=9900, position=1, stripe_price_id=f"price_{tag}_{i}_b")
        ended = i == live
        sub = Subscription.create(
            company=company, app=app, plan=standard, status="canceled" if ended else "active", price_ore=19900,
            stripe_subscription_id=f"sub_{tag}_{i}", stripe_price_id=f"price_{tag}_{i}", imported=False,
            current_period_start=now - datetime.timedelta(days=20),
            current_period_end=now + datetime.timedelta(days=10),
            ended_at=now - datetime.timedelta(days=1) if ended else None,
            created_at=now - datetime.timedelta(days=50 - i))
        for n in range(2):
            invoice_id = f"in_{tag}_{i}_{n}"
            paid = now - datetime.timedelta(days=50 - 30 * n)
            SubscriptionInvoice.create(subscription=sub, company=company, stripe_invoice_id=invoice_id,
                                       number=f"{tag.upper()}{i}-{n}", status="paid", total_ore=24875, created=paid,
                                       hosted_invoice_url=f"https://invoice.stripe.test/{invoice_id}")
            factories.ledger_entry(app, company, subscription_obj=sub, stripe_ref=invoice_id,
                                   stripe_invoice_id=invoice_id, stripe_charge_id=f"ch_{tag}_{i}_{n}",
                                   occurred_at=paid)
        factories.ledger_entry(app, company, gross_ore=-10000, moms_ore=-2000, kind="refund",
                               subscription_obj=sub, stripe_ref=f"re_{tag}_{i}", stripe_invoice_id=f"in_{tag}_{i}_1",
                               stripe_charge_id=f"ch_{tag}_{i}_1", refund_status="succeeded",
                               occurred_at=now - datetime.timedelta(days=2))
        if ended:
            MoneyBack.create(company=company, app=app, subscription=sub, user=admin)
            continue
        if i % 3 == 0:
            PendingPlanChange.create(subscription=sub, plan=basic, stripe_price_id=basic.stripe_price_id,
                                     price_ore=9900, effective_at=sub.current_period_end)
        elif i % 3 == 1:
            PendingPlanChange.create(subscription=sub, plan=basic, stripe_price_id=basic.stripe_price_id,
                                     price_ore=9900, effective_at=sub.current_period_end, dropped_at=now)
            ScheduledPriceChange.create(plan=standard, old_price_ore=19900, new_price_ore=24900,
                                        old_stripe_price_id=f"price_{tag}_{i}", new_stripe_price_id=f"price_{tag}_{i}_n",
                                        effective_on=(now + datetime.timedelta(days=5)).date())
        else:
            factories.connection(company, app, last_used_at=now - datetime.timedelta(days=40))
    free = factories.app_listing(developer_obj=developer, slug=f"{tag}-free", name=f"{tag.title()} Free")
    factories.connection(company, free)
    return admin


def _statements(client, auth, admin):
    auth.login(admin.email)
    client.get("/account/apps")  # the first request of a session may warm what later ones reuse
    count = count_queries(client, "/account/apps")
    auth.logout()
    return count


def test_my_apps_statements_do_not_grow_with_the_rows(client, auth):
    few = _company_with(2, "few")
    many = _company_with(10, "many")
    assert Subscription.select().where(Subscription.company == many.company).count() == 11
    small, large = _statements(client, auth, few), _statements(client, auth, many)
    assert small == large, f"{small} statements for 2 live subscriptions, {large} for 10"
    assert large <= MOST, f"{large} statements for My apps"
    # The page showed what it was given: every row, with its invoices and refund.
    auth.login(many.email)
    page = client.get("/account/apps").get_data(as_text=True)
    assert page.count('<tr data-app="many-app-') == 11 and 'data-app="many-free"' in page
    assert 'data-invoice="MANY9-1"' in page and 'data-refund-status="succeeded"' in page
    assert 'data-notice="plan-retired"' in page and 'data-notice="price-change"' in page
