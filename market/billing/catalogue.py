"""What the market sells at Stripe: the moms tax rate, one product per paid app and one price
per plan and price, made once and remembered (`flask stripe-sync` makes whatever is missing),
and which of an app's plans can be bought."""
from market.billing import gateway, market_settings
from market.billing.refusals import BuyRefused, InvalidChoice
from market.core import words
from market.data import prepared
from models import App, Plan


def ensure_tax_rate(config):
    """The moms tax rate (exclusive, VAT_PERCENT), made once per installation and percent."""
    name = f"stripe_tax_rate_id:{config['VAT_PERCENT']}"
    existing = market_settings.setting(name)
    if existing:
        return existing
    if not config["VAT_PERCENT"]:
        return None
    rate = gateway.stripe_client(config).v1.tax_rates.create({
        "display_name": "Moms", "percentage": str(config["VAT_PERCENT"]), "inclusive": False,
        "country": "SE", "jurisdiction": "SE", "description": "Swedish VAT",
    }, gateway.options("tax_rate", config["VAT_PERCENT"]))
    market_settings.set_setting(name, rate.id)
    market_settings.set_setting("stripe_tax_rate_id", rate.id)
    return rate.id


def ensure_product(config, app):
    if app.stripe_product_id:
        return app.stripe_product_id
    product = gateway.stripe_client(config).v1.products.create({
        "name": app.name, "metadata": {"app_id": str(app.id), "slug": app.slug},
    }, gateway.options("product", app.id))
    App.update(stripe_product_id=product.id).where(App.id == app.id, App.stripe_product_id.is_null()).execute()
    app.stripe_product_id = App.get_by_id(app.id).stripe_product_id
    return app.stripe_product_id


def ensure_price(config, plan, app=None):
    """A plan whose price changed has stripe_price_id NULL: it gets a new Stripe price, while
    subscribers keep the one they bought until they change plan."""
    if plan.stripe_price_id:
        return plan.stripe_price_id
    app = app or plan.app
    price_id = new_price(config, plan, app, plan.price_ore, "price", plan.id, plan.price_ore)
    Plan.update(stripe_price_id=price_id).where(Plan.id == plan.id, Plan.stripe_price_id.is_null()).execute()
    plan.stripe_price_id = Plan.get_by_id(plan.id).stripe_price_id
    return plan.stripe_price_id


def new_price(config, plan, app, price_ore, *key):
    """A Stripe price of `price_ore` a month for the plan, under the idempotency key `key`
    (a scheduled price change makes the plan's next price ahead: billing.price_schedule)."""
    product_id = ensure_product(config, app)
    price = gateway.stripe_client(config).v1.prices.create({
        "product": product_id, "currency": plan.currency, "unit_amount": price_ore,
        "recurring": {"interval": "month"}, "tax_behavior": "exclusive", "nickname": plan.name,
        "metadata": {"plan_id": str(plan.id), "app_id": str(app.id)},
    }, gateway.options(*key))
    return price.id


def sync_app(config, app):
    """Product and prices of one paid app's active plans."""
    if app.is_free:
        return []
    ensure_product(config, app)
    return [ensure_price(config, plan, app) for plan in active_plans(app)]


def sync_all(config):
    """What `flask stripe-sync` does: create whatever is missing, idempotently."""
    tax_rate = ensure_tax_rate(config)
    # A list, not a lazy cursor: an open SELECT keeps an SQLite read snapshot that cannot be
    # upgraded to a write once a webhook has committed meanwhile.
    apps = list(App.select().where(App.is_free == False, App.status != "draft")  # noqa: E712
                .order_by(App.id))
    made = 0
    for app in apps:
        before = (app.stripe_product_id, [p.stripe_price_id for p in active_plans(app)])
        sync_app(config, app)
        after = (app.stripe_product_id, [p.stripe_price_id for p in active_plans(app)])
        made += before != after
    return {"tax_rate": tax_rate, "apps_changed": made}


def active_plans(app):
    """The plans of `app` that can be bought, by position."""
    return active_of(plans_of([app])[getattr(app, "id", app)])


def plans_of(apps):
    """{app id: every plan of it, retired ones too, in `active_plans`' order} for many apps (rows
    or ids) in one query; an app without plans has an empty list."""
    ids = sorted({getattr(a, "id", a) for a in apps})
    out = {i: [] for i in ids}
    if ids:
        # On every My apps render and Buy: its SQL is built once per number of apps (prepared.py).
        for plan in prepared.select_listed("plans_of", lambda app_ids: Plan.select().where(Plan.app.in_(app_ids))
                                           .order_by(Plan.position, Plan.id), (), ids):
            out[plan.app_id].append(plan)
    return out


def active_of(plans):
    """The active ones of an app's plans (from plans_of), as `active_plans` lists them."""
    return [plan for plan in plans if plan.active]


def choose_plan(app, plan_id=None):
    """The app's plan the customer chose (its first when none was chosen)."""
    plans = active_plans(app)
    if not plans:
        raise BuyRefused(words.marked("This app has no plan that can be bought right now."))
    if plan_id in (None, ""):
        return plans[0]
    try:
        wanted = int(plan_id)
    except (TypeError, ValueError):
        raise InvalidChoice(words.marked("Choose one of the app's plans.")) from None
    for plan in plans:
        if plan.id == wanted:
            return plan
    raise InvalidChoice(words.marked("Choose one of the app's plans."))
