"""The /v1 endpoints: read parameters as Stripe does, call the engine, answer Stripe's objects.

A handler returns a stored object (rendered and expanded by the caller), a `Listing` or a ready
dict. Each handler reads every parameter it supports; `Params.done()` then rejects the rest as
Stripe's "Received unknown parameter". Parameters Stripe has but the sandbox does not model are
named in `ignore` so that real market code passing them still works.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from . import cards
from .engine import CURRENCY, DAY, list_object, part_of, token
from .errors import StripeError, card_declined, invalid, missing, no_such
from .params import Params, merge_metadata


@dataclass
class Listing:
    objects: list
    url: str


@dataclass
class Ctx:
    account: str | None
    base_url: str


ROUTES = []


def route(method, path):
    def wrap(fn):
        ROUTES.append((method, path, fn.__name__))
        return fn
    return wrap


def created_filter(p: Params, objs):
    value = p.raw("created")
    if value is None:
        return objs
    if isinstance(value, str):
        n = Params({"created": value}).int("created")
        return [o for o in objs if o["created"] == n]
    sub = p.dict("created")
    bounds = {k: sub.int(k) for k in ("gt", "gte", "lt", "lte")}
    sub.done()
    ops = {"gt": lambda a, b: a > b, "gte": lambda a, b: a >= b, "lt": lambda a, b: a < b,
           "lte": lambda a, b: a <= b}
    for k, v in bounds.items():
        if v is not None:
            objs = [o for o in objs if ops[k](o["created"], v)]
    return objs


class Api:
    def __init__(self, engine):
        self.e = engine

    # ------------------------------------------------------------------ helpers
    def paginate(self, p: Params, objs, url):
        """Newest first; `starting_after`/`ending_before` name any object of the list's kind (also
        one filtered out or deleted since), as Stripe's cursors do."""
        limit = p.int("limit", default=10)
        if not 1 <= limit <= 100:
            raise invalid("Invalid limit: must be between 1 and 100", param="limit")
        after, before = p.str("starting_after"), p.str("ending_before")
        cursor, param = (after, "starting_after") if after else (before, "ending_before")
        if not cursor:
            return {"objects": objs[:limit], "has_more": len(objs) > limit, "url": url}
        ids = [o.get("id") for o in objs]
        if cursor in ids:
            i = ids.index(cursor)
            older, newer = objs[i + 1:], objs[:i]
        else:
            anchor = self.e.objects.get(cursor)
            if anchor is None or not objs or "_seq" not in objs[0] or anchor["object"] != objs[0]["object"]:
                raise StripeError(400, f"No such object: '{cursor}'", param=param, code="resource_missing")
            older = [o for o in objs if o["_seq"] < anchor["_seq"]]
            newer = [o for o in objs if o["_seq"] > anchor["_seq"]]
        if after:
            return {"objects": older[:limit], "has_more": len(older) > limit, "url": url}
        return {"objects": newer[-limit:], "has_more": len(newer) > limit, "url": url}

    def ref(self, p, key, kind, ctx, required=False, label=None):
        value = p.str(key, required=required)
        if value is None:
            return None
        return self.e.get(value, kind, ctx.account if kind not in ("account",) else None, label=label, param=key)

    def pm_from(self, value, ctx, customer=None, param="payment_method"):
        """A PaymentMethod id, or one of Stripe's test tokens (`pm_card_visa`), which makes a new one."""
        if value in cards.TOKENS:
            number = cards.TOKENS[value]
            return self.e.card_payment_method(number, 12, 2034, "123", account=ctx.account,
                                              clock_id=self.e.clock_of(customer))
        return self.e.get(value, "payment_method", ctx.account, param=param)

    # ------------------------------------------------------------------ products
    @route("POST", "/v1/products")
    def product_create(self, ctx, p):
        values = {
            "active": p.bool("active", True), "description": p.str("description"),
            "images": p.str_list("images") or [], "marketing_features": [],
            "metadata": p.metadata() or {}, "name": p.str("name", required=True),
            "package_dimensions": None, "shippable": p.bool("shippable"),
            "statement_descriptor": p.str("statement_descriptor"), "tax_code": p.str("tax_code"),
            "type": "service", "unit_label": p.str("unit_label"), "url": p.str("url"),
        }
        pid = p.str("id")
        dpd = p.dict("default_price_data")
        product = self.e.create("product", values, account=ctx.account, obj_id=pid)
        product["updated"] = product["created"]
        if dpd:
            price = self._price(ctx, dpd, product)
            product["default_price"] = price["id"]
        p.done()
        self.e.emit("product.created", product)
        return product

    @route("GET", "/v1/products/<id>")
    def product_get(self, ctx, p, id):
        return self.e.get(id, "product", ctx.account)

    @route("POST", "/v1/products/<id>")
    def product_update(self, ctx, p, id):
        product = self.e.get(id, "product", ctx.account)
        before = self.e.render(product)
        for key in ("name", "description", "url", "statement_descriptor", "unit_label", "tax_code"):
            if p.has(key):
                product[key] = p.str(key)
        if p.has("active"):
            product["active"] = p.bool("active")
        if p.has("default_price"):
            product["default_price"] = self.ref(p, "default_price", "price", ctx)["id"]
        product["metadata"] = merge_metadata(product["metadata"], p.metadata())
        p.done()
        product["updated"] = self.e.now()
        self.e.emit_updated("product.updated", product, before)
        return product

    @route("DELETE", "/v1/products/<id>")
    def product_delete(self, ctx, p, id):
        product = self.e.get(id, "product", ctx.account)
        product["_deleted"] = True
        return {"id": id, "object": "product", "deleted": True}

    @route("GET", "/v1/products")
    def product_list(self, ctx, p):
        objs = self.e.all("product", ctx.account)
        if p.has("active"):
            active = p.bool("active")
            objs = [o for o in objs if o["active"] == active]
        ids = p.str_list("ids")
        if ids:
            objs = [o for o in objs if o["id"] in ids]
        return Listing(created_filter(p, objs), "/v1/products")

    # ------------------------------------------------------------------ prices
    def _price(self, ctx, p, product):
        currency = p.str("currency", required=True).lower()
        if currency != CURRENCY:
            # the market sells in SEK only; other currencies are accepted as Stripe would
            pass
        amount = p.int("unit_amount", minimum=0)
        dec = p.decimal("unit_amount_decimal")
        if amount is None and dec is None:
            raise missing("unit_amount")
        if amount is None:
            amount = int(dec)
        rec = p.dict("recurring")
        recurring = None
        if rec:
            interval = rec.str("interval", required=True, choices=("day", "week", "month", "year"))
            recurring = {"interval": interval, "interval_count": rec.int("interval_count", default=1, minimum=1),
                         "meter": None, "usage_type": rec.str("usage_type", default="licensed"),
                         "trial_period_days": rec.int("trial_period_days", minimum=0)}
            rec.done()
        values = {
            "active": p.bool("active", True), "billing_scheme": "per_unit", "currency": currency,
            "custom_unit_amount": None, "lookup_key": p.str("lookup_key"), "metadata": p.metadata() or {},
            "nickname": p.str("nickname"), "product": product["id"], "recurring": recurring,
            "tax_behavior": p.str("tax_behavior", default="unspecified",
                                  choices=("inclusive", "exclusive", "unspecified")),
            "tiers_mode": None, "transform_quantity": None,
            "type": "recurring" if recurring else "one_time", "unit_amount": amount,
            "unit_amount_decimal": str(amount),
        }
        price = self.e.create("price", values, account=ctx.account)
        self.e.emit("price.created", price)
        return price

    @route("POST", "/v1/prices")
    def price_create(self, ctx, p):
        if p.has("product"):
            product = self.ref(p, "product", "product", ctx)
        else:
            pd = p.dict("product_data")
            if pd is None:
                raise missing("product")
            product = self.e.create("product", {
                "active": pd.bool("active", True), "images": [], "marketing_features": [],
                "metadata": pd.metadata() or {}, "name": pd.str("name", required=True), "type": "service",
                "statement_descriptor": pd.str("statement_descriptor"), "unit_label": pd.str("unit_label"),
                "tax_code": pd.str("tax_code"),
            }, account=ctx.account)
            product["updated"] = product["created"]
            pd.done()
        price = self._price(ctx, p, product)
        p.done("billing_scheme", "transfer_lookup_key")
        return price

    @route("GET", "/v1/prices/<id>")
    def price_get(self, ctx, p, id):
        return self.e.get(id, "price", ctx.account)

    @route("POST", "/v1/prices/<id>")
    def price_update(self, ctx, p, id):
        price = self.e.get(id, "price", ctx.account)
        before = self.e.render(price)
        if p.has("active"):
            price["active"] = p.bool("active")
        for key in ("nickname", "lookup_key"):
            if p.has(key):
                price[key] = p.str(key)
        price["metadata"] = merge_metadata(price["metadata"], p.metadata())
        p.done("transfer_lookup_key")
        self.e.emit_updated("price.updated", price, before)
        return price

    @route("GET", "/v1/prices")
    def price_list(self, ctx, p):
        objs = self.e.all("price", ctx.account)
        if p.has("product"):
            product = p.str("product")
            objs = [o for o in objs if o["product"] == product]
        if p.has("active"):
            active = p.bool("active")
            objs = [o for o in objs if o["active"] == active]
        if p.has("type"):
            kind = p.str("type")
            objs = [o for o in objs if o["type"] == kind]
        keys = p.str_list("lookup_keys")
        if keys:
            objs = [o for o in objs if o["lookup_key"] in keys]
        if p.has("currency"):
            cur = p.str("currency")
            objs = [o for o in objs if o["currency"] == cur]
        return Listing(created_filter(p, objs), "/v1/prices")

    # ------------------------------------------------------------------ tax rates
    @route("POST", "/v1/tax_rates")
    def tax_rate_create(self, ctx, p):
        pct = p.decimal("percentage", required=True, lo=0, hi=100)
        values = {
            "active": p.bool("active", True), "country": p.str("country"), "description": p.str("description"),
            "display_name": p.str("display_name", required=True), "flat_amount": None,
            "inclusive": p.bool("inclusive") if p.has("inclusive") else _raise(missing("inclusive")),
            "jurisdiction": p.str("jurisdiction"), "jurisdiction_level": None,
            "metadata": p.metadata() or {}, "percentage": float(pct), "effective_percentage": float(pct),
            "rate_type": "percentage", "state": p.str("state"), "tax_type": p.str("tax_type"),
        }
        p.done()
        rate = self.e.create("tax_rate", values, account=ctx.account)
        self.e.emit("tax_rate.created", rate)
        return rate

    @route("GET", "/v1/tax_rates/<id>")
    def tax_rate_get(self, ctx, p, id):
        return self.e.get(id, "tax_rate", ctx.account, label="tax rate")

    @route("POST", "/v1/tax_rates/<id>")
    def tax_rate_update(self, ctx, p, id):
        rate = self.e.get(id, "tax_rate", ctx.account, label="tax rate")
        before = self.e.render(rate)
        if p.has("active"):
            rate["active"] = p.bool("active")
        for key in ("display_name", "description", "country", "jurisdiction", "state", "tax_type"):
            if p.has(key):
                rate[key] = p.str(key)
        rate["metadata"] = merge_metadata(rate["metadata"], p.metadata())
        p.done()
        self.e.emit_updated("tax_rate.updated", rate, before)
        return rate

    @route("GET", "/v1/tax_rates")
    def tax_rate_list(self, ctx, p):
        objs = self.e.all("tax_rate", ctx.account)
        for key in ("active", "inclusive"):
            if p.has(key):
                value = p.bool(key)
                objs = [o for o in objs if o[key] == value]
        return Listing(created_filter(p, objs), "/v1/tax_rates")

    # ------------------------------------------------------------------ customers
    @route("POST", "/v1/customers")
    def customer_create(self, ctx, p):
        clock = self.ref(p, "test_clock", "test_helpers.test_clock", ctx, label="test clock")
        clock_id = clock["id"] if clock else None
        inv = p.dict("invoice_settings")
        values = {
            "address": None, "balance": p.int("balance", default=0), "currency": None,
            "delinquent": False, "description": p.str("description"), "discount": None,
            "email": p.str("email"), "invoice_prefix": token(8).upper(),
            "invoice_settings": {"custom_fields": None, "default_payment_method": None, "footer": None,
                                 "rendering_options": None},
            "metadata": p.metadata() or {}, "name": p.str("name"), "next_invoice_sequence": 1,
            "phone": p.str("phone"), "preferred_locales": p.str_list("preferred_locales") or [],
            "shipping": None, "tax_exempt": "none", "test_clock": clock_id,
        }
        customer = self.e.create("customer", values, account=ctx.account, clock_id=clock_id)
        pm_id = p.str("payment_method")
        default_pm = inv.str("default_payment_method") if inv else None
        if inv:
            inv.done("custom_fields", "footer", "rendering_options")
        p.done("address", "shipping", "tax", "tax_id_data", "preferred_locales", "source")
        self.e.emit("customer.created", customer)
        if pm_id:
            pm = self.pm_from(pm_id, ctx, customer)
            self.e.attach_card(pm, customer)
        if default_pm:
            pm = self.e.get(default_pm, "payment_method", ctx.account,
                            param="invoice_settings[default_payment_method]")
            if pm["customer"] != customer["id"]:
                raise invalid(f"The customer does not have a payment method with the ID {default_pm}.",
                              param="invoice_settings[default_payment_method]")
            customer["invoice_settings"]["default_payment_method"] = pm["id"]
        return customer

    @route("GET", "/v1/customers/<id>")
    def customer_get(self, ctx, p, id):
        return self.e.get(id, "customer", ctx.account)

    @route("POST", "/v1/customers/<id>")
    def customer_update(self, ctx, p, id):
        customer = self.e.get(id, "customer", ctx.account)
        before = self.e.render(customer)
        for key in ("email", "name", "phone", "description"):
            if p.has(key):
                customer[key] = p.str(key)
        if p.has("balance"):
            customer["balance"] = p.int("balance")
        inv = p.dict("invoice_settings")
        if inv:
            if inv.has("default_payment_method"):
                value = inv.str("default_payment_method")
                if value:
                    pm = self.e.get(value, "payment_method", ctx.account,
                                    param="invoice_settings[default_payment_method]")
                    if pm["customer"] != customer["id"]:
                        raise invalid(f"The customer does not have a payment method with the ID {value}.",
                                      param="invoice_settings[default_payment_method]")
                customer["invoice_settings"]["default_payment_method"] = value
            inv.done("custom_fields", "footer", "rendering_options")
        customer["metadata"] = merge_metadata(customer["metadata"], p.metadata())
        p.done("address", "shipping", "tax", "preferred_locales", "source", "tax_exempt")
        self.e.emit_updated("customer.updated", customer, before)
        if inv and inv.has("default_payment_method") and customer["invoice_settings"]["default_payment_method"]:
            # a new card pays what is overdue at once (Stripe's automatic collection on a new card)
            self.e.retry_open_invoices(customer)
        return customer

    @route("DELETE", "/v1/customers/<id>")
    def customer_delete(self, ctx, p, id):
        customer = self.e.get(id, "customer", ctx.account)
        for sub in self.e.all("subscription", ctx.account):
            if sub["customer"] == id:
                self.e.cancel_subscription(sub)
        customer["_deleted"] = True
        self.e.emit("customer.deleted", customer)
        return {"id": id, "object": "customer", "deleted": True}

    @route("GET", "/v1/customers")
    def customer_list(self, ctx, p):
        objs = self.e.all("customer", ctx.account)
        if p.has("email"):
            email = p.str("email")
            objs = [o for o in objs if o["email"] == email]
        if p.has("test_clock"):
            clock = p.str("test_clock")
            objs = [o for o in objs if o["test_clock"] == clock]
        return Listing(created_filter(p, objs), "/v1/customers")

    @route("GET", "/v1/customers/<id>/payment_methods")
    def customer_pms(self, ctx, p, id):
        self.e.get(id, "customer", ctx.account)
        p.str("type")
        objs = [o for o in self.e.all("payment_method", ctx.account) if o["customer"] == id]
        return Listing(objs, f"/v1/customers/{id}/payment_methods")

    # ------------------------------------------------------------------ payment methods
    @route("POST", "/v1/payment_methods")
    def pm_create(self, ctx, p):
        p.str("type", required=True, choices=("card",))
        card = p.dict("card", required=True)
        if card.has("token"):
            tok = card.str("token")
            card.done()
            p.done()
            if tok not in cards.TOKENS and not tok.startswith("tok_"):
                raise no_such("token", tok, "card[token]")
            number = cards.TOKENS.get(tok, "4242424242424242")
            return self.e.card_payment_method(number, 12, 2034, "123", account=ctx.account)
        number = cards.clean(card.str("number", required=True))
        exp_month = card.int("exp_month", required=True)
        exp_year = card.int("exp_year", required=True)
        cvc = card.str("cvc")
        card.done()
        bd = p.dict("billing_details")
        name = email = None
        if bd:
            name, email = bd.str("name"), bd.str("email")
            bd.done("address", "phone", "tax_id")
        metadata = p.metadata() or {}
        p.done("allow_redisplay")
        check_card(number, exp_month, exp_year, cvc, self.e.now(), param_prefix="card")
        pm = self.e.card_payment_method(number, exp_month, exp_year, cvc, name=name, email=email,
                                        account=ctx.account)
        pm["metadata"] = metadata
        return pm

    @route("GET", "/v1/payment_methods/<id>")
    def pm_get(self, ctx, p, id):
        return self.e.get(id, "payment_method", ctx.account, label="PaymentMethod")

    @route("POST", "/v1/payment_methods/<id>")
    def pm_update(self, ctx, p, id):
        pm = self.e.get(id, "payment_method", ctx.account, label="PaymentMethod")
        pm["metadata"] = merge_metadata(pm["metadata"], p.metadata())
        p.done("billing_details", "allow_redisplay", "card")
        return pm

    @route("POST", "/v1/payment_methods/<id>/attach")
    def pm_attach(self, ctx, p, id):
        customer = self.ref(p, "customer", "customer", ctx, required=True)
        pm = self.pm_from(id, ctx, customer, param="payment_method")
        p.done()
        if pm["customer"] and pm["customer"] != customer["id"]:
            raise invalid("This PaymentMethod was previously used without being attached to a Customer "
                          "or was detached from a Customer, and may not be used again.", param="payment_method")
        self.e.attach_card(pm, customer)
        return pm

    @route("POST", "/v1/payment_methods/<id>/detach")
    def pm_detach(self, ctx, p, id):
        pm = self.e.get(id, "payment_method", ctx.account, label="PaymentMethod")
        p.done()
        if not pm["customer"]:
            raise invalid("The payment method you provided is not attached to a customer so detachment is "
                          "impossible.", param="payment_method")
        customer = self.e.objects.get(pm["customer"])
        if customer and customer["invoice_settings"]["default_payment_method"] == pm["id"]:
            customer["invoice_settings"]["default_payment_method"] = None
        pm["customer"] = None
        self.e.emit("payment_method.detached", pm)
        return pm

    @route("GET", "/v1/payment_methods")
    def pm_list(self, ctx, p):
        objs = self.e.all("payment_method", ctx.account)
        if p.has("customer"):
            cus = p.str("customer")
            objs = [o for o in objs if o["customer"] == cus]
        p.str("type")
        return Listing(objs, "/v1/payment_methods")

    # ------------------------------------------------------------------ accounts (Connect)
    @route("POST", "/v1/accounts")
    def account_create(self, ctx, p):
        kind = p.str("type", choices=("express", "standard", "custom"))
        controller = p.dict("controller")
        if controller:
            controller.raw("stripe_dashboard")
            controller.raw("fees")
            controller.raw("losses")
            controller.raw("requirement_collection")
            controller.done()
        kind = kind or "express"
        caps = {}
        cap_params = p.dict("capabilities")
        if cap_params:
            for name in list(cap_params.data):
                c = cap_params.dict(name)
                if c and c.bool("requested"):
                    caps[name] = "inactive"
                if c:
                    c.done()
            cap_params.done()
        profile = {"annual_revenue": None, "estimated_worker_count": None, "mcc": None,
                   "minority_owned_business_designation": None, "name": None, "product_description": None,
                   "support_address": None, "support_email": None, "support_phone": None,
                   "support_url": None, "url": None}
        bp = p.dict("business_profile")
        if bp:
            for key in ("name", "url", "mcc", "product_description", "support_email", "support_phone",
                        "support_url"):
                if bp.has(key):
                    profile[key] = bp.str(key)
            bp.done("support_address", "annual_revenue", "estimated_worker_count")
        due = ["business_profile.url", "external_account", "tos_acceptance.date", "tos_acceptance.ip"]
        req = {"alternatives": [], "current_deadline": None, "currently_due": list(due),
               "disabled_reason": "requirements.past_due", "errors": [], "eventually_due": list(due),
               "past_due": list(due), "pending_verification": []}
        values = {
            "business_profile": profile, "business_type": p.str("business_type"),
            "capabilities": caps, "charges_enabled": False,
            "controller": {"type": "application", "is_controller": True,
                           "stripe_dashboard": {"type": "express" if kind == "express" else "full"}},
            "country": (p.str("country") or "SE").upper(), "default_currency": CURRENCY,
            "details_submitted": False, "email": p.str("email"),
            "future_requirements": dict(req, currently_due=[], past_due=[], eventually_due=[],
                                        disabled_reason=None),
            "metadata": p.metadata() or {}, "payouts_enabled": False, "requirements": req,
            "settings": {"dashboard": {"display_name": profile["name"], "timezone": "Europe/Stockholm"},
                         "payouts": {"debit_negative_balances": True,
                                     "schedule": {"delay_days": 7, "interval": "daily"},
                                     "statement_descriptor": None}},
            "tos_acceptance": {"date": None, "ip": None, "user_agent": None}, "type": kind,
        }
        p.done("settings", "tos_acceptance", "company", "individual", "default_currency",
               "external_account", "documents", "groups")
        acct = self.e.create("account", values, account=None)
        acct["external_accounts"] = list_object([], f"/v1/accounts/{acct['id']}/external_accounts")
        return acct

    @route("GET", "/v1/accounts/<id>")
    def account_get(self, ctx, p, id):
        return self.e.get(id, "account")

    @route("GET", "/v1/account")
    def account_self(self, ctx, p):
        if ctx.account:
            return self.e.get(ctx.account, "account")
        return self.platform_account()

    def platform_account(self):
        return {"id": self.e.platform_id, "object": "account", "business_profile": {"name": "App Market"},
                "business_type": "company", "capabilities": {"card_payments": "active", "transfers": "active"},
                "charges_enabled": True, "controller": {"type": "account"}, "country": "SE",
                "created": 0, "default_currency": CURRENCY, "details_submitted": True,
                "email": "platform@sandbox.test", "external_accounts": None, "future_requirements": None,
                "metadata": {}, "payouts_enabled": True, "requirements": None, "settings": None,
                "tos_acceptance": None, "type": "standard"}

    @route("POST", "/v1/accounts/<id>")
    def account_update(self, ctx, p, id):
        acct = self.e.get(id, "account")
        before = self.e.render(acct)
        if p.has("email"):
            acct["email"] = p.str("email")
        bp = p.dict("business_profile")
        if bp:
            for key in ("name", "url", "mcc", "product_description", "support_email", "support_phone",
                        "support_url"):
                if bp.has(key):
                    acct["business_profile"][key] = bp.str(key)
            bp.done("support_address")
        acct["metadata"] = merge_metadata(acct["metadata"], p.metadata())
        p.done("settings", "capabilities", "business_type", "company", "individual", "tos_acceptance")
        after = self.e.render(acct)
        previous = {k: v for k, v in before.items() if after.get(k) != v}
        if previous:
            self.e.emit("account.updated", acct, previous=previous, account=acct["id"])
        return acct

    @route("DELETE", "/v1/accounts/<id>")
    def account_delete(self, ctx, p, id):
        acct = self.e.get(id, "account")
        acct["_deleted"] = True
        return {"id": id, "object": "account", "deleted": True}

    @route("GET", "/v1/accounts")
    def account_list(self, ctx, p):
        return Listing(created_filter(p, self.e.all("account")), "/v1/accounts")

    @route("POST", "/v1/account_links")
    def account_link_create(self, ctx, p):
        acct = self.ref(p, "account", "account", ctx, required=True)
        kind = p.str("type", required=True, choices=("account_onboarding", "account_update"))
        refresh = p.str("refresh_url")
        ret = p.str("return_url", required=True)
        p.done("collect", "collection_options")
        now = self.e.now()
        tok = token(32)
        self.e.tokens[tok] = {"kind": "onboarding", "account": acct["id"], "refresh_url": refresh or ret,
                              "return_url": ret, "expires_at": now + 300, "type": kind}
        return {"object": "account_link", "created": now, "expires_at": now + 300,
                "url": f"{ctx.base_url}/connect/onboarding/{tok}"}

    @route("POST", "/v1/accounts/<id>/login_links")
    def login_link_create(self, ctx, p, id):
        acct = self.e.get(id, "account")
        p.done()
        if acct["type"] != "express":
            raise invalid("Login links can only be created for Express accounts.", param="account")
        if not acct["details_submitted"]:
            raise invalid("Cannot create a login link for an account that has not completed onboarding.",
                          param="account")
        tok = token(32)
        self.e.tokens[tok] = {"kind": "express", "account": acct["id"]}
        return {"object": "login_link", "created": self.e.now(), "url": f"{ctx.base_url}/express/{tok}"}

    @route("POST", "/v1/test_helpers/accounts/<id>/complete_onboarding")
    def account_complete_onboarding(self, ctx, p, id):
        """Test helper (the sandbox's own, in Stripe's test-helper style): finish Connect
        onboarding as a person submitting the hosted form's test values would, for scripts that
        set up an account without a browser. An account that has finished is returned as it is,
        so calling it again changes nothing and sends no second `account.updated`."""
        acct = self.e.get(id, "account")
        p.done()
        if not (acct["details_submitted"] and acct["charges_enabled"] and acct["payouts_enabled"]):
            self.e.complete_onboarding(acct, self.e.onboarding_details(self.e.onboarding_test_values(acct)))
        return acct

    # ------------------------------------------------------------------ checkout
    @route("POST", "/v1/checkout/sessions")
    def session_create(self, ctx, p):
        mode = p.str("mode", required=True, choices=("payment", "setup", "subscription"))
        if mode == "setup":
            return self._setup_session(ctx, p)
        if mode != "subscription":
            raise invalid("The sandbox supports Checkout in subscription and setup mode only.", param="mode")
        success = p.str("success_url", required=True)
        cancel = p.str("cancel_url")
        customer = self.ref(p, "customer", "customer", ctx)
        email = p.str("customer_email")
        if customer and email:
            raise invalid("You may only specify one of these parameters: customer, customer_email.",
                          param="customer_email")
        items = p.list_of_dicts("line_items", required=True)
        if not items:
            raise missing("line_items")
        line_items, subtotal, tax = [], 0, 0
        for i, li in enumerate(items):
            price = self.ref(li, "price", "price", ctx, required=True)
            if li.has("price_data"):
                raise invalid("price_data is not supported by the sandbox; create a Price.",
                              param=f"line_items[{i}][price_data]")
            qty = li.int("quantity", default=1, minimum=1)
            rates = [self.e.get(r, "tax_rate", ctx.account, label="tax rate",
                                param=f"line_items[{i}][tax_rates]")["id"]
                     for r in (li.str_list("tax_rates") or [])]
            li.done("adjustable_quantity", "dynamic_tax_rates")
            if price["type"] != "recurring":
                raise invalid("You must specify at least one recurring price in `subscription` mode.",
                              param=f"line_items[{i}][price]")
            if not price["active"]:
                raise invalid(f"The price `{price['id']}` is not available to be purchased because it is "
                              "not active.", param=f"line_items[{i}][price]")
            line_items.append({"id": "li_" + token(24), "price": price["id"], "quantity": qty,
                               "tax_rates": rates})
            amount = price["unit_amount"] * qty
            subtotal += amount
            tax += sum(t["amount"] for t in self.e.line_tax(amount, rates) if t["tax_behavior"] == "exclusive")
        sd = p.dict("subscription_data")
        fee = destination = trial_days = trial_end = None
        sub_meta, sub_desc, default_rates = {}, None, []
        if sd:
            fee = sd.decimal("application_fee_percent", lo=0, hi=100)
            td = sd.dict("transfer_data")
            if td:
                destination = self.ref(td, "destination", "account", ctx, required=True)
                if td.has("amount_percent"):
                    raise invalid("transfer_data[amount_percent] is not supported by the sandbox.",
                                  param="subscription_data[transfer_data][amount_percent]")
                td.done()
                if destination["capabilities"].get("transfers") != "active":
                    raise invalid("Your destination account needs to have at least one of the following "
                                  "capabilities enabled: transfers, crypto_transfers, legacy_payments",
                                  param="subscription_data[transfer_data][destination]")
            trial_days = sd.int("trial_period_days", minimum=1)
            trial_end = sd.int("trial_end")
            sub_meta = sd.metadata() or {}
            sub_desc = sd.str("description")
            default_rates = [self.e.get(r, "tax_rate", ctx.account, label="tax rate")["id"]
                             for r in (sd.str_list("default_tax_rates") or [])]
            sd.done("billing_cycle_anchor", "proration_behavior", "trial_settings", "invoice_settings",
                    "on_behalf_of", "billing_mode")
            if fee is not None and destination is None:
                raise invalid("application_fee_percent requires transfer_data[destination] or a "
                              "Stripe-Account header.", param="subscription_data[application_fee_percent]")
        now = self.e.now()
        expires = p.int("expires_at") or now + DAY
        if not now + 1800 <= expires <= now + DAY:
            raise invalid("The `expires_at` timestamp must be between 30 minutes and 24 hours from now.",
                          param="expires_at")
        values = {
            "adaptive_pricing": {"enabled": False}, "after_expiration": None,
            "allow_promotion_codes": p.bool("allow_promotion_codes"),
            "amount_subtotal": 0 if (trial_days or trial_end) else subtotal,
            "amount_total": 0 if (trial_days or trial_end) else subtotal + tax,
            "automatic_tax": {"enabled": False, "liability": None, "provider": None, "status": None},
            "billing_address_collection": p.str("billing_address_collection"),
            "cancel_url": cancel, "client_reference_id": p.str("client_reference_id"),
            "client_secret": None, "collected_information": None, "consent": None,
            "consent_collection": None, "currency": CURRENCY, "currency_conversion": None,
            "custom_fields": [], "custom_text": {"after_submit": None, "shipping_address": None, "submit": None,
                                                 "terms_of_service_acceptance": None},
            "customer": customer["id"] if customer else None, "customer_account": None,
            "customer_creation": None if customer else "always",
            "customer_details": {"address": None, "business_name": None, "email": customer["email"],
                                 "individual_name": None, "name": customer["name"], "phone": None,
                                 "tax_exempt": "none", "tax_ids": []} if customer else None,
            "customer_email": email, "discounts": [], "expires_at": expires, "integration_identifier": None,
            "invoice": None, "invoice_creation": None, "locale": p.str("locale"),
            "managed_payments": {"enabled": False}, "metadata": p.metadata() or {}, "mode": mode,
            "origin_context": None, "payment_intent": None, "payment_link": None,
            "payment_method_collection": p.str("payment_method_collection", default="always"),
            "payment_method_configuration_details": None, "payment_method_options": {},
            "payment_method_types": p.str_list("payment_method_types") or ["card"],
            "payment_status": "unpaid", "permissions": None, "phone_number_collection": {"enabled": False},
            "recovered_from": None, "saved_payment_method_options": None, "setup_intent": None,
            "shipping_address_collection": None, "shipping_cost": None, "shipping_options": [],
            "status": "open", "submit_type": None, "subscription": None, "success_url": success,
            "total_details": {"amount_discount": 0, "amount_shipping": 0,
                              "amount_tax": 0 if (trial_days or trial_end) else tax},
            "ui_mode": "hosted", "wallet_options": None,
            "_line_items": line_items, "_fee_percent": str(fee) if fee is not None else None,
            "_destination": destination["id"] if destination else None, "_trial_days": trial_days,
            "_trial_end": trial_end, "_sub_metadata": sub_meta, "_sub_description": sub_desc,
            "_default_tax_rates": default_rates,
        }
        p.done("customer_update", "tax_id_collection", "consent_collection", "custom_text", "ui_mode",
               "phone_number_collection", "payment_method_options", "saved_payment_method_options",
               "automatic_tax", "custom_fields", "invoice_creation", "discounts", "adaptive_pricing",
               "payment_method_configuration", "submit_type", "origin_context", "redirect_on_completion")
        session = self.e.create("checkout.session", values, account=ctx.account)
        session["url"] = f"{ctx.base_url}/c/pay/{session['id']}"
        self.e.schedule(expires, "expire_session", None, session=session["id"])
        return session

    def _setup_session(self, ctx, p):
        """A setup-mode Checkout Session: the buyer saves a card for later off-session payments,
        nothing is charged. It takes no line items; the SetupIntent is made when it completes."""
        success = p.str("success_url", required=True)
        cancel = p.str("cancel_url")
        customer = self.ref(p, "customer", "customer", ctx)
        email = p.str("customer_email")
        if customer and email:
            raise invalid("You may only specify one of these parameters: customer, customer_email.",
                          param="customer_email")
        if p.has("line_items"):
            raise invalid("You cannot pass `line_items` in `setup` mode.", param="line_items")
        types = p.str_list("payment_method_types")
        currency = p.str("currency")
        if not types and not currency:
            raise invalid("`currency` is required in `setup` mode when `payment_method_types` is not passed.",
                          param="currency")
        if currency and currency != CURRENCY:
            raise invalid(f"The sandbox supports only the currency {CURRENCY}.", param="currency")
        sd = p.dict("setup_intent_data")
        setup_meta, setup_desc = {}, None
        if sd:
            setup_meta = sd.metadata() or {}
            setup_desc = sd.str("description")
            sd.done("on_behalf_of")
        now = self.e.now()
        expires = p.int("expires_at") or now + DAY
        if not now + 1800 <= expires <= now + DAY:
            raise invalid("The `expires_at` timestamp must be between 30 minutes and 24 hours from now.",
                          param="expires_at")
        values = {
            "adaptive_pricing": {"enabled": False}, "after_expiration": None, "allow_promotion_codes": None,
            "amount_subtotal": None, "amount_total": None,
            "automatic_tax": {"enabled": False, "liability": None, "provider": None, "status": None},
            "billing_address_collection": p.str("billing_address_collection"),
            "cancel_url": cancel, "client_reference_id": p.str("client_reference_id"),
            "client_secret": None, "collected_information": None, "consent": None,
            "consent_collection": None, "currency": currency, "currency_conversion": None,
            "custom_fields": [], "custom_text": {"after_submit": None, "shipping_address": None, "submit": None,
                                                 "terms_of_service_acceptance": None},
            "customer": customer["id"] if customer else None, "customer_account": None,
            "customer_creation": None if customer else "always",
            "customer_details": {"address": None, "business_name": None, "email": customer["email"],
                                 "individual_name": None, "name": customer["name"], "phone": None,
                                 "tax_exempt": "none", "tax_ids": []} if customer else None,
            "customer_email": email, "discounts": [], "expires_at": expires, "integration_identifier": None,
            "invoice": None, "invoice_creation": None, "locale": p.str("locale"),
            "managed_payments": {"enabled": False}, "metadata": p.metadata() or {}, "mode": "setup",
            "origin_context": None, "payment_intent": None, "payment_link": None,
            "payment_method_collection": "always", "payment_method_configuration_details": None,
            "payment_method_options": {}, "payment_method_types": types or ["card"],
            "payment_status": "no_payment_required", "permissions": None,
            "phone_number_collection": {"enabled": False}, "recovered_from": None,
            "saved_payment_method_options": None, "setup_intent": None, "shipping_address_collection": None,
            "shipping_cost": None, "shipping_options": [], "status": "open", "submit_type": None,
            "subscription": None, "success_url": success, "total_details": None, "ui_mode": "hosted",
            "wallet_options": None,
            "_line_items": [], "_fee_percent": None, "_destination": None, "_trial_days": None,
            "_trial_end": None, "_sub_metadata": {}, "_sub_description": None, "_default_tax_rates": [],
            "_setup_metadata": setup_meta, "_setup_description": setup_desc,
        }
        p.done("locale", "ui_mode", "custom_text", "consent_collection", "payment_method_options",
               "payment_method_configuration", "origin_context", "redirect_on_completion")
        session = self.e.create("checkout.session", values, account=ctx.account)
        session["url"] = f"{ctx.base_url}/c/pay/{session['id']}"
        self.e.schedule(expires, "expire_session", None, session=session["id"])
        return session

    @route("GET", "/v1/setup_intents/<id>")
    def setup_intent_get(self, ctx, p, id):
        return self.e.get(id, "setup_intent", ctx.account, label="setupintent")

    @route("GET", "/v1/checkout/sessions/<id>")
    def session_get(self, ctx, p, id):
        return self.e.get(id, "checkout.session", ctx.account, label="checkout.session")

    @route("POST", "/v1/checkout/sessions/<id>")
    def session_update(self, ctx, p, id):
        session = self.e.get(id, "checkout.session", ctx.account, label="checkout.session")
        session["metadata"] = merge_metadata(session["metadata"], p.metadata())
        p.done()
        return session

    @route("POST", "/v1/checkout/sessions/<id>/expire")
    def session_expire(self, ctx, p, id):
        session = self.e.get(id, "checkout.session", ctx.account, label="checkout.session")
        p.done()
        if session["status"] != "open":
            raise invalid(f"Only Checkout Sessions with a status in [\"open\"] can be expired. This Checkout "
                          f"Session has a status of \"{session['status']}\".", param="session")
        self.e.expire_session(session)
        return session

    @route("GET", "/v1/checkout/sessions")
    def session_list(self, ctx, p):
        objs = self.e.all("checkout.session", ctx.account)
        for key in ("customer", "status", "subscription", "payment_intent", "payment_link"):
            if p.has(key):
                value = p.str(key)
                objs = [o for o in objs if o[key] == value]
        cd = p.dict("customer_details")
        if cd:
            email = cd.str("email")
            cd.done()
            objs = [o for o in objs if (o["customer_details"] or {}).get("email") == email]
        return Listing(created_filter(p, objs), "/v1/checkout/sessions")

    @route("GET", "/v1/checkout/sessions/<id>/line_items")
    def session_line_items(self, ctx, p, id):
        session = self.e.get(id, "checkout.session", ctx.account, label="checkout.session")
        items = self.e.session_line_items(session)["data"]
        page = self.paginate(p, items, f"/v1/checkout/sessions/{id}/line_items")
        return list_object(page["objects"], page["url"], page["has_more"])

    # ------------------------------------------------------------------ subscriptions
    @route("POST", "/v1/subscriptions")
    def subscription_create(self, ctx, p):
        customer = self.ref(p, "customer", "customer", ctx, required=True)
        items = []
        for i, it in enumerate(p.list_of_dicts("items", required=True)):
            price = self.ref(it, "price", "price", ctx, required=True)
            if price["type"] != "recurring":
                raise invalid("The price specified is set to `type=one_time` but this field only accepts "
                              "prices with `type=recurring`.", param=f"items[{i}][price]")
            rates = [self.e.get(r, "tax_rate", ctx.account, label="tax rate")["id"]
                     for r in (it.str_list("tax_rates") or [])]
            items.append({"price": price["id"], "quantity": it.int("quantity", default=1, minimum=1),
                          "tax_rates": rates})
            it.metadata()
            it.done("billing_thresholds", "discounts", "price_data")
        pm = self.ref(p, "default_payment_method", "payment_method", ctx, label="PaymentMethod")
        fee = p.decimal("application_fee_percent", lo=0, hi=100)
        destination = None
        td = p.dict("transfer_data")
        if td:
            destination = self.ref(td, "destination", "account", ctx, required=True)
            td.done()
        trial_days = p.int("trial_period_days", minimum=0)
        trial_end = p.raw("trial_end")
        now = self.e.now(self.e.clock_of(customer))
        if trial_end == "now":
            trial_end = None
        elif trial_end is not None:
            trial_end = p.int("trial_end")
        if trial_days:
            trial_end = now + trial_days * DAY
        behavior = p.str("payment_behavior", default="allow_incomplete",
                         choices=("allow_incomplete", "default_incomplete", "error_if_incomplete",
                                  "pending_if_incomplete"))
        rates = [self.e.get(r, "tax_rate", ctx.account, label="tax rate")["id"]
                 for r in (p.str_list("default_tax_rates") or [])]
        metadata = p.metadata() or {}
        description = p.str("description")
        cape = p.bool("cancel_at_period_end", False)
        p.done("collection_method", "expand", "off_session", "payment_settings", "proration_behavior",
               "trial_settings", "billing_mode", "automatic_tax", "currency")
        if pm is None and not trial_end and not self.e.default_pm(customer):
            raise invalid("This customer has no attached payment source or default payment method.",
                          param="default_payment_method")
        if destination is not None and destination["capabilities"].get("transfers") != "active":
            raise invalid("Your destination account needs to have at least one of the following capabilities "
                          "enabled: transfers, crypto_transfers, legacy_payments",
                          param="transfer_data[destination]")
        return self.e.create_subscription(
            customer, items, payment_method=pm, fee_percent=fee, destination=destination["id"]
            if destination else None, trial_end=trial_end, metadata=metadata, description=description,
            default_tax_rates=rates, cancel_at_period_end=cape,
            fail_if_unpaid=behavior == "error_if_incomplete")

    @route("GET", "/v1/subscriptions/<id>")
    def subscription_get(self, ctx, p, id):
        return self.e.get(id, "subscription", ctx.account)

    @route("POST", "/v1/subscriptions/<id>")
    def subscription_update(self, ctx, p, id):
        sub = self.e.get(id, "subscription", ctx.account)
        if sub["status"] in ("canceled", "incomplete_expired"):
            raise invalid("A canceled subscription can only update its cancellation_details and metadata.",
                          param="subscription")
        before = self.e.render(sub)
        if p.has("cancel_at_period_end"):
            sub["cancel_at_period_end"] = p.bool("cancel_at_period_end")
            sub["canceled_at"] = self.e.now(self.e.clock_of(sub)) if sub["cancel_at_period_end"] else None
            sub["cancel_at"] = self.e.items_of(sub)[0]["current_period_end"] if sub["cancel_at_period_end"] \
                else None
        if p.has("cancel_at"):
            value = p.raw("cancel_at")
            sub["cancel_at"] = None if value == "" else p.int("cancel_at")
            if sub["cancel_at"] is not None:
                sub["cancel_at_period_end"] = False
                self.e.schedule(sub["cancel_at"], "cancel_at", self.e.clock_of(sub), sub=sub["id"],
                                at=sub["cancel_at"])
        if p.has("default_payment_method"):
            value = p.str("default_payment_method")
            if value:
                pm = self.e.get(value, "payment_method", ctx.account, label="PaymentMethod",
                                param="default_payment_method")
                if pm["customer"] != sub["customer"]:
                    raise invalid(f"The customer does not have a payment method with the ID {value}.",
                                  param="default_payment_method")
            sub["default_payment_method"] = value
        if p.has("description"):
            sub["description"] = p.str("description")
        cd = p.dict("cancellation_details")
        if cd:
            sub["cancellation_details"]["comment"] = cd.str("comment")
            sub["cancellation_details"]["feedback"] = cd.str("feedback")
            cd.done()
        sub["metadata"] = merge_metadata(sub["metadata"], p.metadata())
        proration = p.str("proration_behavior", default="create_prorations",
                          choices=("create_prorations", "none", "always_invoice"))
        proration_date = p.int("proration_date")
        items = p.list_of_dicts("items")
        if p.has("application_fee_percent"):
            fee = p.decimal("application_fee_percent", lo=0, hi=100)
            sub["application_fee_percent"] = float(fee) if fee is not None else None
        p.done("payment_behavior", "off_session", "payment_settings", "collection_method", "trial_settings",
               "billing_cycle_anchor", "automatic_tax", "pause_collection", "expand")
        if items:
            self._change_items(ctx, sub, items, proration, proration_date)
        self.e.emit_updated("customer.subscription.updated", sub, before)
        if sub["default_payment_method"] and sub["default_payment_method"] != before["default_payment_method"]:
            self.e.retry_open_invoices(self.e.objects[sub["customer"]])
        return sub

    def _change_items(self, ctx, sub, items, proration, proration_date):
        """Price changes mid-period: credit the unused time of the old price and charge the new one
        for the rest of the period, to the second (Stripe's proration)."""
        clock_id = self.e.clock_of(sub)
        now = proration_date or self.e.now(clock_id)
        current = {i["id"]: i for i in self.e.items_of(sub)}
        prorations = []
        for idx, it in enumerate(items):
            item_id = it.str("id")
            deleted = it.bool("deleted", False)
            price = self.ref(it, "price", "price", ctx)
            qty = it.int("quantity", minimum=1)
            rates = it.str_list("tax_rates")
            it.metadata()
            it.done("billing_thresholds", "discounts", "clear_usage", "price_data")
            if item_id and item_id not in current:
                raise invalid(f"Subscription item {item_id} does not belong to this subscription.",
                              param=f"items[{idx}][id]")
            if item_id:
                item = current[item_id]
                start, end = item["current_period_start"], item["current_period_end"]
                old_amount = self.e.objects[item["price"]]["unit_amount"] * item["quantity"]
                if deleted:
                    new_amount = 0
                    item["_deleted"] = True
                else:
                    if price:
                        if price["recurring"]["interval"] != self.e.objects[item["price"]]["recurring"]["interval"]:
                            raise invalid("The sandbox only prorates between prices of the same interval.",
                                          param=f"items[{idx}][price]")
                        item["price"] = price["id"]
                    if qty:
                        item["quantity"] = qty
                    if rates is not None:
                        item["tax_rates"] = rates
                    new_amount = self.e.objects[item["price"]]["unit_amount"] * item["quantity"]
                prorations.append((item, old_amount, new_amount, start, end))
            else:
                if price is None:
                    raise missing(f"items[{idx}][price]")
                first = next(iter(current.values()))
                item = self.e.create("subscription_item", {
                    "current_period_start": first["current_period_start"],
                    "current_period_end": first["current_period_end"], "metadata": {},
                    "price": price["id"], "quantity": qty or 1, "subscription": sub["id"],
                    "tax_rates": rates or [], "billing_thresholds": None,
                }, account=sub.get("_account"), clock_id=clock_id)
                prorations.append((item, 0, price["unit_amount"] * (qty or 1), item["current_period_start"],
                                   item["current_period_end"]))
        if sub["status"] == "trialing" or proration == "none":
            return
        for item, old_amount, new_amount, start, end in prorations:
            if now >= end or old_amount == new_amount:
                continue
            left, length = end - now, end - start
            price = self.e.objects[item["price"]]
            product = self.e.objects[price["product"]]["name"]
            for amount, text in ((-part_of(old_amount, left, length), f"Unused time on {product}"),
                                 (part_of(new_amount, left, length), f"Remaining time on {product}")):
                if amount == 0:
                    continue
                self.e.create("invoiceitem", {
                    "amount": amount, "currency": CURRENCY, "customer": sub["customer"], "date": now,
                    "description": text, "discountable": False, "invoice": None,
                    "net_amount": amount, "parent": {"type": "subscription_details", "subscription_details": {
                        "subscription": sub["id"], "subscription_item": item["id"]}},
                    "period": {"start": now, "end": end},
                    "pricing": {"type": "price_details", "price_details": {"price": price["id"],
                                                                           "product": price["product"]},
                                "unit_amount_decimal": str(amount)},
                    "proration": True, "quantity": 1, "quantity_decimal": "1",
                    "tax_rates": list(item["tax_rates"] or sub["default_tax_rates"]),
                    "test_clock": clock_id, "_subscription": sub["id"], "_subscription_item": item["id"],
                }, account=sub.get("_account"), clock_id=clock_id)
        if proration == "always_invoice":
            pending = [ii for ii in self.e.all("invoiceitem", sub.get("_account"))
                       if ii.get("_subscription") == sub["id"] and ii["invoice"] is None]
            if pending:
                lines = [line for line in self.e.subscription_lines(sub, now, now) if line["proration"]]
                invoice = self.e.create_invoice(sub, "subscription_update", lines, now, now)
                sub["latest_invoice"] = invoice["id"]
                customer = self.e.objects[sub["customer"]]
                self.e.pay_invoice(invoice, self.e.default_pm(customer, sub))

    @route("DELETE", "/v1/subscriptions/<id>")
    def subscription_cancel(self, ctx, p, id):
        sub = self.e.get(id, "subscription", ctx.account)
        p.bool("invoice_now")
        p.bool("prorate")
        cd = p.dict("cancellation_details")
        if cd:
            sub["cancellation_details"]["comment"] = cd.str("comment")
            sub["cancellation_details"]["feedback"] = cd.str("feedback")
            cd.done()
        p.done()
        if sub["status"] == "canceled":
            raise no_such("subscription", id)
        self.e.cancel_subscription(sub)
        return sub

    @route("GET", "/v1/subscriptions")
    def subscription_list(self, ctx, p):
        objs = self.e.all("subscription", ctx.account)
        status = p.str("status")
        if status is None:
            objs = [o for o in objs if o["status"] not in ("canceled", "incomplete_expired")]
        elif status == "ended":
            objs = [o for o in objs if o["status"] in ("canceled", "incomplete_expired")]
        elif status != "all":
            objs = [o for o in objs if o["status"] == status]
        for key in ("customer", "test_clock"):
            if p.has(key):
                value = p.str(key)
                objs = [o for o in objs if o[key] == value]
        if p.has("price"):
            price = p.str("price")
            objs = [o for o in objs if any(i["price"] == price for i in self.e.items_of(o))]
        p.raw("collection_method")
        return Listing(created_filter(p, objs), "/v1/subscriptions")

    @route("GET", "/v1/subscription_items")
    def subscription_item_list(self, ctx, p):
        sub = self.ref(p, "subscription", "subscription", ctx, required=True)
        return Listing(list(reversed(self.e.items_of(sub))), f"/v1/subscription_items?subscription={sub['id']}")

    @route("GET", "/v1/subscription_items/<id>")
    def subscription_item_get(self, ctx, p, id):
        return self.e.get(id, "subscription_item", ctx.account, label="subscription item")

    # ------------------------------------------------------------------ invoices and payments
    @route("GET", "/v1/invoices/<id>")
    def invoice_get(self, ctx, p, id):
        return self.e.get(id, "invoice", ctx.account)

    @route("GET", "/v1/invoices")
    def invoice_list(self, ctx, p):
        objs = self.e.all("invoice", ctx.account)
        for key in ("customer", "subscription", "status", "collection_method"):
            if p.has(key):
                value = p.str(key)
                objs = [o for o in objs if o[key] == value]
        return Listing(created_filter(p, objs), "/v1/invoices")

    @route("GET", "/v1/invoices/<id>/lines")
    def invoice_lines(self, ctx, p, id):
        invoice = self.e.get(id, "invoice", ctx.account)
        page = self.paginate(p, invoice["lines"]["data"], f"/v1/invoices/{id}/lines")
        return list_object(page["objects"], page["url"], page["has_more"])

    @route("POST", "/v1/invoices/<id>")
    def invoice_update(self, ctx, p, id):
        invoice = self.e.get(id, "invoice", ctx.account)
        invoice["metadata"] = merge_metadata(invoice["metadata"], p.metadata())
        if p.has("description"):
            invoice["description"] = p.str("description")
        p.done()
        return invoice

    @route("POST", "/v1/invoices/<id>/pay")
    def invoice_pay(self, ctx, p, id):
        invoice = self.e.get(id, "invoice", ctx.account)
        pm = self.ref(p, "payment_method", "payment_method", ctx, label="PaymentMethod")
        p.done("off_session", "forgive", "paid_out_of_band", "mandate", "source")
        if invoice["status"] == "paid":
            raise invalid("Invoice is already paid", param="invoice", code="invoice_already_paid")
        if invoice["status"] != "open":
            raise invalid(f"You can only pay an open invoice. This invoice is {invoice['status']}.",
                          param="invoice")
        customer = self.e.objects[invoice["customer"]]
        sub = self.e.objects.get(invoice["subscription"])
        pm = pm or self.e.default_pm(customer, sub)
        if not self.e.pay_invoice(invoice, pm):
            raise card_declined(charge=invoice["_charges"][-1] if invoice["_charges"] else None)
        return invoice

    @route("GET", "/v1/invoice_payments")
    def invoice_payment_list(self, ctx, p):
        objs = self.e.all("invoice_payment", ctx.account)
        if p.has("invoice"):
            inv = p.str("invoice")
            objs = [o for o in objs if o["invoice"] == inv]
        pay = p.dict("payment")
        if pay:
            kind = pay.str("type")
            value = pay.str(kind) if kind else None
            pay.done()
            objs = [o for o in objs if o["payment"].get(kind) == value]
        if p.has("status"):
            status = p.str("status")
            objs = [o for o in objs if o["status"] == status]
        return Listing(objs, "/v1/invoice_payments")

    @route("GET", "/v1/invoice_payments/<id>")
    def invoice_payment_get(self, ctx, p, id):
        return self.e.get(id, "invoice_payment", ctx.account, label="invoice payment")

    @route("GET", "/v1/invoiceitems/<id>")
    def invoiceitem_get(self, ctx, p, id):
        return self.e.get(id, "invoiceitem", ctx.account, label="invoiceitem")

    @route("GET", "/v1/invoiceitems")
    def invoiceitem_list(self, ctx, p):
        objs = self.e.all("invoiceitem", ctx.account)
        for key in ("customer", "invoice"):
            if p.has(key):
                value = p.str(key)
                objs = [o for o in objs if o[key] == value]
        if p.has("pending"):
            pending = p.bool("pending")
            objs = [o for o in objs if (o["invoice"] is None) == pending]
        return Listing(objs, "/v1/invoiceitems")

    @route("GET", "/v1/payment_intents/<id>")
    def pi_get(self, ctx, p, id):
        return self.e.get(id, "payment_intent", ctx.account, label="payment_intent")

    @route("GET", "/v1/payment_intents")
    def pi_list(self, ctx, p):
        objs = self.e.all("payment_intent", ctx.account)
        if p.has("customer"):
            cus = p.str("customer")
            objs = [o for o in objs if o["customer"] == cus]
        return Listing(created_filter(p, objs), "/v1/payment_intents")

    @route("GET", "/v1/charges/<id>")
    def charge_get(self, ctx, p, id):
        return self.e.get(id, "charge", ctx.account)

    @route("GET", "/v1/charges")
    def charge_list(self, ctx, p):
        objs = self.e.all("charge", ctx.account)
        for key in ("customer", "payment_intent", "transfer_group"):
            if p.has(key):
                value = p.str(key)
                objs = [o for o in objs if o[key] == value]
        return Listing(created_filter(p, objs), "/v1/charges")

    @route("GET", "/v1/application_fees/<id>")
    def fee_get(self, ctx, p, id):
        return self.e.get(id, "application_fee", ctx.account, label="application fee")

    @route("GET", "/v1/application_fees")
    def fee_list(self, ctx, p):
        objs = self.e.all("application_fee", ctx.account)
        if p.has("charge"):
            ch = p.str("charge")
            objs = [o for o in objs if o["charge"] == ch]
        return Listing(created_filter(p, objs), "/v1/application_fees")

    @route("POST", "/v1/application_fees/<id>/refunds")
    def fee_refund_create(self, ctx, p, id):
        fee = self.e.get(id, "application_fee", ctx.account, label="application fee")
        amount = p.int("amount", minimum=1)
        meta = p.metadata()
        p.done()
        left = fee["amount"] - fee["amount_refunded"]
        amount = left if amount is None else amount
        if amount > left or amount <= 0:
            raise invalid(f"Refund amount ({amount}) is greater than what is left of the fee ({left}).",
                          param="amount")
        return self.e.refund_fee(fee, amount, meta)

    @route("GET", "/v1/application_fees/<id>/refunds")
    def fee_refund_list(self, ctx, p, id):
        self.e.get(id, "application_fee", ctx.account, label="application fee")
        objs = [r for r in self.e.all("fee_refund", ctx.account) if r["fee"] == id]
        return Listing(objs, f"/v1/application_fees/{id}/refunds")

    @route("GET", "/v1/transfers/<id>")
    def transfer_get(self, ctx, p, id):
        return self.e.get(id, "transfer", ctx.account)

    @route("GET", "/v1/transfers")
    def transfer_list(self, ctx, p):
        objs = self.e.all("transfer", ctx.account)
        for key in ("destination", "transfer_group"):
            if p.has(key):
                value = p.str(key)
                objs = [o for o in objs if o[key] == value]
        return Listing(created_filter(p, objs), "/v1/transfers")

    @route("POST", "/v1/transfers/<id>/reversals")
    def transfer_reverse(self, ctx, p, id):
        transfer = self.e.get(id, "transfer", ctx.account)
        amount = p.int("amount", minimum=1)
        meta = p.metadata()
        p.done("description", "refund_application_fee")
        left = transfer["amount"] - transfer["amount_reversed"]
        return self.e.reverse_transfer(transfer, left if amount is None else amount, metadata=meta)

    @route("GET", "/v1/transfers/<id>/reversals")
    def transfer_reversal_list(self, ctx, p, id):
        self.e.get(id, "transfer", ctx.account)
        objs = [r for r in self.e.all("transfer_reversal", ctx.account) if r["transfer"] == id]
        return Listing(objs, f"/v1/transfers/{id}/reversals")

    # ------------------------------------------------------------------ refunds and disputes
    @route("POST", "/v1/refunds")
    def refund_create(self, ctx, p):
        charge = self.ref(p, "charge", "charge", ctx)
        if charge is None:
            pi = self.ref(p, "payment_intent", "payment_intent", ctx)
            if pi is None:
                raise missing("charge")
            charge = self.e.get(pi["latest_charge"], "charge", ctx.account)
        amount = p.int("amount", minimum=1)
        reason = p.str("reason", choices=("duplicate", "fraudulent", "requested_by_customer"))
        refund = self.e.refund(charge, amount, reverse_transfer=p.bool("reverse_transfer", False),
                               refund_application_fee=p.bool("refund_application_fee", False), reason=reason,
                               metadata=p.metadata())
        p.done("instructions_email", "origin")
        return refund

    @route("GET", "/v1/refunds/<id>")
    def refund_get(self, ctx, p, id):
        return self.e.get(id, "refund", ctx.account)

    @route("GET", "/v1/refunds")
    def refund_list(self, ctx, p):
        objs = self.e.all("refund", ctx.account)
        for key in ("charge", "payment_intent"):
            if p.has(key):
                value = p.str(key)
                objs = [o for o in objs if o[key] == value]
        return Listing(created_filter(p, objs), "/v1/refunds")

    @route("GET", "/v1/disputes/<id>")
    def dispute_get(self, ctx, p, id):
        return self.e.get(id, "dispute", ctx.account)

    @route("GET", "/v1/disputes")
    def dispute_list(self, ctx, p):
        objs = self.e.all("dispute", ctx.account)
        for key in ("charge", "payment_intent"):
            if p.has(key):
                value = p.str(key)
                objs = [o for o in objs if o[key] == value]
        return Listing(created_filter(p, objs), "/v1/disputes")

    @route("POST", "/v1/disputes/<id>")
    def dispute_update(self, ctx, p, id):
        dispute = self.e.get(id, "dispute", ctx.account)
        dispute["metadata"] = merge_metadata(dispute["metadata"], p.metadata())
        ev = p.dict("evidence")
        submit = p.bool("submit", False)
        text = None
        if ev:
            text = ev.str("uncategorized_text")
            for key in list(ev.data):
                ev.raw(key)
            dispute["evidence"]["uncategorized_text"] = text
            dispute["evidence_details"]["has_evidence"] = True
        p.done()
        if submit and dispute["status"] in ("needs_response", "warning_needs_response"):
            dispute["evidence_details"]["submission_count"] += 1
            # Stripe's test evidence: "winning_evidence" wins the dispute, "losing_evidence" loses it
            if text == "winning_evidence":
                self.e.close_dispute(dispute, won=True)
            elif text == "losing_evidence":
                self.e.close_dispute(dispute, won=False)
            else:
                dispute["status"] = "under_review"
                self.e.emit("charge.dispute.updated", dispute)
        return dispute

    @route("POST", "/v1/disputes/<id>/close")
    def dispute_close(self, ctx, p, id):
        dispute = self.e.get(id, "dispute", ctx.account)
        p.done()
        self.e.close_dispute(dispute, won=False)
        return dispute

    # ------------------------------------------------------------------ payouts
    @route("POST", "/v1/payouts")
    def payout_create(self, ctx, p):
        """A manual payout of the account's balance (a connected account's with Stripe-Account)."""
        amount = p.int("amount", required=True)
        currency = p.str("currency", required=True)
        if currency.lower() != CURRENCY:
            raise invalid(f"The currency {currency} is not supported by the sandbox.", param="currency")
        description, metadata = p.str("description"), p.metadata()
        method = p.str("method", default="standard", choices=("standard", "instant"))
        p.done("statement_descriptor", "destination", "source_type")
        return self.e.payout(ctx.account, amount, description=description, metadata=metadata, method=method)

    @route("GET", "/v1/payouts/<id>")
    def payout_get(self, ctx, p, id):
        return self.e.get(id, "payout", ctx.account)

    @route("GET", "/v1/payouts")
    def payout_list(self, ctx, p):
        """The payouts of the account named by Stripe-Account (the platform's own without it)."""
        objs = self.e.all("payout", ctx.account)
        for key in ("status", "destination"):
            if p.has(key):
                value = p.str(key)
                objs = [o for o in objs if o[key] == value]
        if p.has("arrival_date"):
            arrival = p.dict("arrival_date")
            bounds = {k: arrival.int(k) for k in ("gt", "gte", "lt", "lte")}
            arrival.done()
            for k, v in bounds.items():
                if v is not None:
                    objs = [o for o in objs if {"gt": o["arrival_date"] > v, "gte": o["arrival_date"] >= v,
                                                "lt": o["arrival_date"] < v, "lte": o["arrival_date"] <= v}[k]]
        return Listing(created_filter(p, objs), "/v1/payouts")

    # ------------------------------------------------------------------ balance
    @route("GET", "/v1/balance")
    def balance_get(self, ctx, p):
        return self.e.balance(ctx.account)

    @route("GET", "/v1/balance_transactions")
    def balance_txn_list(self, ctx, p):
        objs = self.e.all("balance_transaction", ctx.account)
        for key in ("type", "source"):
            if p.has(key):
                value = p.str(key)
                objs = [o for o in objs if o[key] == value]
        return Listing(created_filter(p, objs), "/v1/balance_transactions")

    @route("GET", "/v1/balance_transactions/<id>")
    def balance_txn_get(self, ctx, p, id):
        return self.e.get(id, "balance_transaction", ctx.account, label="balance transaction")

    # ------------------------------------------------------------------ webhooks and events
    @route("POST", "/v1/webhook_endpoints")
    def endpoint_create(self, ctx, p):
        url = p.str("url", required=True)
        if not url.startswith(("http://", "https://")):
            raise invalid("Invalid URL: must be an http or https URL.", param="url", code="url_invalid")
        events = p.str_list("enabled_events", required=True)
        values = {"api_version": p.str("api_version"), "application": None,
                  "description": p.str("description"), "enabled_events": events,
                  "metadata": p.metadata() or {}, "status": "enabled", "url": url,
                  "_connect": p.bool("connect", False), "_secret": "whsec_" + token(32)}
        p.done()
        endpoint = self.e.create("webhook_endpoint", values)
        out = self.e.render(endpoint)
        out["secret"] = endpoint["_secret"]  # only the create response shows the signing secret
        return out

    @route("GET", "/v1/webhook_endpoints/<id>")
    def endpoint_get(self, ctx, p, id):
        return self.e.get(id, "webhook_endpoint", None, label="webhook endpoint")

    @route("POST", "/v1/webhook_endpoints/<id>")
    def endpoint_update(self, ctx, p, id):
        endpoint = self.e.get(id, "webhook_endpoint", None, label="webhook endpoint")
        if p.has("url"):
            endpoint["url"] = p.str("url")
        if p.has("enabled_events"):
            endpoint["enabled_events"] = p.str_list("enabled_events")
        if p.has("description"):
            endpoint["description"] = p.str("description")
        if p.has("disabled"):
            endpoint["status"] = "disabled" if p.bool("disabled") else "enabled"
        endpoint["metadata"] = merge_metadata(endpoint["metadata"], p.metadata())
        p.done()
        return endpoint

    @route("DELETE", "/v1/webhook_endpoints/<id>")
    def endpoint_delete(self, ctx, p, id):
        endpoint = self.e.get(id, "webhook_endpoint", None, label="webhook endpoint")
        endpoint["_deleted"] = True
        return {"id": id, "object": "webhook_endpoint", "deleted": True}

    @route("GET", "/v1/webhook_endpoints")
    def endpoint_list(self, ctx, p):
        return Listing(self.e.all("webhook_endpoint"), "/v1/webhook_endpoints")

    @route("GET", "/v1/events/<id>")
    def event_get(self, ctx, p, id):
        return self.e.get(id, "event", ctx.account)

    @route("GET", "/v1/events")
    def event_list(self, ctx, p):
        objs = self.e.all("event", ctx.account)
        if p.has("type"):
            kind = p.str("type")
            if kind.endswith("*"):
                objs = [o for o in objs if o["type"].startswith(kind[:-1])]
            else:
                objs = [o for o in objs if o["type"] == kind]
        types = p.str_list("types")
        if types:
            objs = [o for o in objs if o["type"] in types]
        if p.has("delivery_success"):
            # events whose delivery to some endpoint has not (yet) succeeded: what a webhook
            # consumer that was down uses to catch up
            ok = p.bool("delivery_success")
            failed = {d["event"] for d in self.e.deliveries if d["status"] != "succeeded"}
            objs = [o for o in objs if (o["id"] not in failed) == ok]
        return Listing(created_filter(p, objs), "/v1/events")

    # ------------------------------------------------------------------ billing portal
    @route("POST", "/v1/billing_portal/sessions")
    def portal_create(self, ctx, p):
        customer = self.ref(p, "customer", "customer", ctx, required=True)
        ret = p.str("return_url")
        values = {"configuration": "bpc_sandbox", "customer": customer["id"], "customer_account": None,
                  "flow": None, "locale": p.str("locale"), "on_behalf_of": None, "return_url": ret}
        p.done("configuration", "flow_data", "on_behalf_of")
        session = self.e.create("billing_portal.session", values, account=ctx.account,
                                clock_id=self.e.clock_of(customer))
        tok = token(32)
        self.e.tokens[tok] = {"kind": "portal", "customer": customer["id"], "return_url": ret,
                              "account": ctx.account, "locale": values["locale"]}
        session["url"] = f"{ctx.base_url}/p/session/{tok}"
        return session

    # ------------------------------------------------------------------ test clocks
    @route("POST", "/v1/test_helpers/test_clocks")
    def clock_create(self, ctx, p):
        frozen = p.int("frozen_time", required=True)
        name = p.str("name")
        p.done()
        clock = self.e.create("test_helpers.test_clock", {
            "deletes_after": frozen + 30 * DAY, "frozen_time": frozen, "name": name, "status": "ready",
            "status_details": {},
        }, account=ctx.account)
        return clock

    @route("GET", "/v1/test_helpers/test_clocks/<id>")
    def clock_get(self, ctx, p, id):
        return self.e.get(id, "test_helpers.test_clock", ctx.account, label="test clock")

    @route("GET", "/v1/test_helpers/test_clocks")
    def clock_list(self, ctx, p):
        return Listing(self.e.all("test_helpers.test_clock", ctx.account), "/v1/test_helpers/test_clocks")

    @route("DELETE", "/v1/test_helpers/test_clocks/<id>")
    def clock_delete(self, ctx, p, id):
        clock = self.e.get(id, "test_helpers.test_clock", ctx.account, label="test clock")
        clock["_deleted"] = True
        self.e.jobs = [j for j in self.e.jobs if j[2] != id]
        return {"id": id, "object": "test_helpers.test_clock", "deleted": True}

    @route("POST", "/v1/test_helpers/test_clocks/<id>/advance")
    def clock_advance(self, ctx, p, id):
        clock = self.e.get(id, "test_helpers.test_clock", ctx.account, label="test clock")
        frozen = p.int("frozen_time", required=True)
        p.done()
        if frozen <= clock["frozen_time"]:
            raise invalid("The frozen_time must be after the test clock's current frozen time.",
                          param="frozen_time")
        # a clock may move at most two billing intervals at once in Stripe; the sandbox allows more
        self.e.advance_test_clock(clock, frozen)
        return clock


def _raise(error):
    raise error


def check_card(number, exp_month, exp_year, cvc, now, param_prefix=None):
    """Stripe's card validation errors (402 card_error), before anything is created."""
    def name(field):
        return f"{param_prefix}[{field}]" if param_prefix else field
    if not cards.luhn_ok(number):
        raise StripeError(402, "Your card number is incorrect.", type="card_error", code="incorrect_number",
                          param=name("number"))
    if exp_month is None or not 1 <= exp_month <= 12:
        raise StripeError(402, "Your card's expiration month is invalid.", type="card_error",
                          code="invalid_expiry_month", param=name("exp_month"))
    if exp_year is not None and exp_year < 100:
        exp_year += 2000
    today = datetime.fromtimestamp(now, UTC)
    if exp_year is None or (exp_year, exp_month) < (today.year, today.month):
        raise StripeError(402, "Your card's expiration year is invalid." if exp_year is None or
                          exp_year < today.year else "Your card has expired.", type="card_error",
                          code="invalid_expiry_year" if exp_year is None or exp_year < today.year
                          else "expired_card", param=name("exp_year"))
    if cvc is not None and not (cvc.isdigit() and len(cvc) in (3, 4)):
        raise StripeError(402, "Your card's security code is invalid.", type="card_error",
                          code="invalid_cvc", param=name("cvc"))
    return exp_year
