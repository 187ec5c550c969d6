"""The sandbox's state and Stripe's rules: objects, the clock, scheduled jobs, events, money.

Every public method expects `self.lock` to be held by the caller (the HTTP layer takes it per
request, the clock takes it per job), so a whole API call is one atomic step, as it is for a
client of Stripe.
"""

import calendar
import copy
import json
import os
import pickle
import secrets
import string
import sys
import threading
import time
import traceback
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

from . import cards
from .errors import StripeError, card_declined, invalid, no_such
from .shapes import blank

API_VERSION = "2026-10-28.endive"
CURRENCY = "sek"
DAY = 86400
# Failed renewal payments are retried this many days after the first failure; after the last
# failure the subscription is canceled (Stripe's "retry schedule" setting, as the market uses it).
RETRY_DAYS = (3, 5, 7)
# Webhook retries, seconds of sandbox time after each failed attempt: growing delays over about
# three days, as Stripe does in live mode (test mode uses the same here, so catch-up is testable).
WEBHOOK_RETRY_DELAYS = (300, 1800, 3600, 7200, 14400, 28800, 43200, 43200, 43200, 43200, 21600)
# Stripe's processing and dispute fees are not modelled: balances move only by the amounts the
# market's rules are about (charges, application fees, transfers, refunds, disputes).
DISPUTE_FEE = 0

_ALPHABET = string.ascii_letters + string.digits

PREFIXES = {
    "account": "acct_", "application_fee": "fee_", "balance_transaction": "txn_",
    "billing_portal.session": "bps_", "charge": "ch_", "checkout.session": "cs_test_",
    "customer": "cus_", "dispute": "dp_", "event": "evt_", "fee_refund": "fr_", "invoice": "in_",
    "invoice_payment": "inpay_", "invoiceitem": "ii_", "line_item": "il_", "payment_intent": "pi_",
    "payment_method": "pm_", "payout": "po_", "price": "price_", "product": "prod_", "refund": "re_", "setup_intent": "seti_",
    "subscription": "sub_", "subscription_item": "si_", "tax_rate": "txr_",
    "test_helpers.test_clock": "clock_", "transfer": "tr_", "transfer_reversal": "trr_",
    "webhook_endpoint": "we_", "item": "li_",
}
_ID_LENGTH = {"checkout.session": 58, "account": 16, "customer": 14, "product": 14, "subscription_item": 14}


def new_id(kind):
    n = _ID_LENGTH.get(kind, 24)
    body = "".join(secrets.choice(_ALPHABET) for _ in range(n))
    if kind in ("checkout.session",):
        return PREFIXES[kind] + "a1" + body[2:]
    if n == 24:
        body = "1" + body[1:]
    return PREFIXES[kind] + body


def token(n=24):
    return "".join(secrets.choice(_ALPHABET) for _ in range(n))


def pct_of(amount: int, percent) -> int:
    """round-half-up(amount × percent / 100), in öre."""
    value = Decimal(amount) * Decimal(str(percent)) / Decimal(100)
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def part_of(total: int, numerator: int, denominator: int) -> int:
    """round-half-up(total × numerator / denominator): proportional refunds and prorations."""
    if denominator == 0:
        return 0
    value = Decimal(total) * Decimal(numerator) / Decimal(denominator)
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def add_interval(anchor: int, interval: str, count: int) -> int:
    """`anchor` plus `count` intervals, keeping the anchor's day of month (clamped), as Stripe bills."""
    if interval == "day":
        return anchor + count * DAY
    if interval == "week":
        return anchor + count * 7 * DAY
    dt = datetime.fromtimestamp(anchor, UTC)
    months = count * (12 if interval == "year" else 1)
    y, m = divmod(dt.month - 1 + months, 12)
    year, month = dt.year + y, m + 1
    day = min(dt.day, calendar.monthrange(year, month)[1])
    return int(dt.replace(year=year, month=month, day=day).timestamp())


def strip_private(value):
    if isinstance(value, dict):
        return {k: strip_private(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [strip_private(v) for v in value]
    return value


def list_object(data, url, has_more=False):
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


class Engine:
    def __init__(self, data_file=None, base_url="http://127.0.0.1"):
        self.lock = threading.RLock()
        self.data_file = data_file
        self.base_url = base_url
        self.delivery_wakeup = threading.Condition()
        self._time_override = None
        self._request = None  # {"id", "idempotency_key"} of the API request being handled
        self.reset()
        if data_file:
            os.makedirs(os.path.dirname(os.path.abspath(data_file)), exist_ok=True)
        if data_file and os.path.exists(data_file):
            try:
                self.load()
            except (ValueError, KeyError, TypeError, OSError) as exc:
                # an unreadable file must not stop the demo: keep it aside and start empty
                aside = f"{data_file}.unreadable-{int(time.time())}"
                os.replace(data_file, aside)
                print(f"stripe_sandbox: could not read {data_file} ({exc}); moved it to {aside}",
                      file=sys.stderr)
                self.reset()

    # ------------------------------------------------------------------ state
    def reset(self):
        self.objects: dict[str, dict] = {}
        self.seq = 0
        self.offset = 0  # seconds the sandbox-wide clock runs ahead of real time
        self.jobs: list = []  # (due, seq, clock_id or "", kind, args); few enough to scan
        self.deliveries: list[dict] = []
        self.tokens: dict[str, dict] = {}  # hosted-page tokens -> what they open
        self.request_log: list[dict] = []
        self.idempotency: dict[str, dict] = {}
        self.platform_id = "acct_" + token(16)

    def snapshot(self):
        return {
            "version": 1, "objects": self.objects, "seq": self.seq, "offset": self.offset,
            "jobs": self.jobs, "deliveries": self.deliveries, "tokens": self.tokens,
            "idempotency": self.idempotency, "platform_id": self.platform_id,
        }

    # A failed API request leaves no trace, as at Stripe: the state is copied before a writing
    # request and put back if it fails (card errors excepted: a declined charge is a fact).
    _TRANSACTIONAL = ("objects", "seq", "jobs", "deliveries", "tokens")

    def checkpoint(self):
        return pickle.dumps(tuple(getattr(self, name) for name in self._TRANSACTIONAL),
                            protocol=pickle.HIGHEST_PROTOCOL)

    def rollback(self, checkpoint):
        for name, value in zip(self._TRANSACTIONAL, pickle.loads(checkpoint), strict=True):
            setattr(self, name, value)

    def mark_dirty(self):
        """Something changed: the saver thread writes the file within a moment (writing the whole
        state on every request would make a long demo slow)."""
        if self.data_file:
            self._dirty = True

    def flush(self):
        with self.lock:
            if self.data_file and getattr(self, "_dirty", False):
                self.save()

    def save(self):
        if not self.data_file:
            return
        self._dirty = False
        cutoff = self.now() - DAY
        self.idempotency = {k: v for k, v in self.idempotency.items()
                            if v.get("state") == "running" or v.get("at", 0) >= cutoff}
        tmp = f"{self.data_file}.tmp"
        with open(tmp, "w") as fh:
            json.dump(self.snapshot(), fh)
        os.replace(tmp, self.data_file)

    def load(self):
        with open(self.data_file) as fh:
            data = json.load(fh)
        self.objects = data["objects"]
        self.seq = data["seq"]
        self.offset = data["offset"]
        self.jobs = [tuple(j) for j in data["jobs"]]
        self.deliveries = data["deliveries"]
        self.tokens = data["tokens"]
        self.idempotency = data.get("idempotency", {})
        self.platform_id = data["platform_id"]

    # ------------------------------------------------------------------ clock
    def now(self, clock_id=None) -> int:
        if clock_id:
            clock = self.objects.get(clock_id)
            if clock is not None:
                return clock["frozen_time"]
        if self._time_override is not None and not clock_id:
            return self._time_override
        return int(time.time()) + self.offset

    def clock_of(self, obj):
        return obj.get("_clock") if obj else None

    def schedule(self, due, kind, clock_id=None, **args):
        self.seq += 1
        self.jobs.append((int(due), self.seq, clock_id or "", kind, args))

    def run_due(self, clock_id=None, until=None):
        """Run every job of one clock that is due, in time order, each at its own time."""
        ran = 0
        while True:
            due_jobs = [j for j in self.jobs if j[2] == (clock_id or "")]
            if not due_jobs:
                break
            job = min(due_jobs)
            limit = until if until is not None else self.now(clock_id)
            if job[0] > limit:
                break
            self.jobs.remove(job)
            due, _, _, kind, args = job
            if clock_id:
                self.objects[clock_id]["frozen_time"] = max(self.objects[clock_id]["frozen_time"], due)
            else:
                # the job runs "at" its due time, so what it creates carries that timestamp
                self._time_override = due
            try:
                getattr(self, "job_" + kind)(**args)
            except Exception:  # noqa: BLE001 - one broken job must not stop the clock for everything else
                traceback.print_exc()
            finally:
                self._time_override = None
            ran += 1
        return ran

    def advance(self, seconds):
        """Move the sandbox-wide clock forward, running what falls due on the way."""
        target = self.now() + int(seconds)
        while True:
            pending = [j for j in self.jobs if j[2] == "" and j[0] <= target]
            if not pending:
                break
            due = min(pending)[0]
            self.offset = max(self.offset, due - int(time.time()))
            self.run_due(None, until=due)
        self.offset = target - int(time.time())
        self.wake_deliveries()

    def advance_test_clock(self, clock, frozen_time):
        clock_id = clock["id"]
        self.run_due(clock_id, until=frozen_time)
        clock["frozen_time"] = frozen_time
        clock["status"] = "ready"
        self.wake_deliveries()

    # ------------------------------------------------------------------ objects
    def create(self, kind, values, account=None, clock_id=None, obj_id=None):
        obj = blank(kind)
        if "id" in obj or obj_id:
            obj["id"] = obj_id or new_id(kind)
        if "created" in obj:
            obj["created"] = self.now(clock_id)
        obj.update(values)
        self.seq += 1
        obj["_seq"] = self.seq
        obj["_account"] = account
        if clock_id:
            obj["_clock"] = clock_id
        if obj.get("id"):
            self.objects[obj["id"]] = obj
        return obj

    def get(self, obj_id, kind=None, account=None, label=None, param="id"):
        obj = self.objects.get(obj_id) if isinstance(obj_id, str) else None
        if obj is None or (kind and obj["object"] != kind) or obj.get("_deleted"):
            raise no_such(label or (kind or "object").replace("_", " ").split(".")[-1], obj_id, param)
        if obj.get("_account") != account and kind not in ("account",):
            raise no_such(label or kind.replace("_", " "), obj_id, param)
        return obj

    def all(self, kind, account=None, include_deleted=False):
        found = [o for o in self.objects.values() if o["object"] == kind and o.get("_account") == account
                 and (include_deleted or not o.get("_deleted"))]
        found.sort(key=lambda o: -o["_seq"])
        return found

    # ------------------------------------------------------------------ rendering
    def render(self, obj, expand=()):
        out = copy.deepcopy(obj)
        hook = getattr(self, "_render_" + obj["object"].replace(".", "_"), None)
        if hook:
            hook(out)
        out = strip_private(out)
        for path in expand:
            out = self._expand(out, path.split("."), obj)
        return out

    def _render_subscription(self, out):
        items = [self.render(i) for i in self.items_of(out)]  # in the order they were added
        out["items"] = list_object(items, f"/v1/subscription_items?subscription={out['id']}")
        out["default_tax_rates"] = self._rates(out["default_tax_rates"])

    def _render_subscription_item(self, out):
        price = self.objects[out["price"]]
        out["price"] = self.render(price)
        out["plan"] = self.plan_of(price)
        out["tax_rates"] = self._rates(out["tax_rates"])

    # Stripe shows tax rates on subscriptions, items, invoices and invoice items as whole objects
    def _rates(self, ids):
        return [self.render(self.objects[i]) for i in ids or () if i in self.objects]

    def _render_invoice(self, out):
        out["default_tax_rates"] = self._rates(out["default_tax_rates"])

    def _render_invoiceitem(self, out):
        out["tax_rates"] = self._rates(out["tax_rates"])

    def _render_charge(self, out):
        refunds = [self.render(r) for r in self.all("refund", out["_account"]) if r["charge"] == out["id"]]
        out["refunds"] = list_object(refunds, f"/v1/charges/{out['id']}/refunds")

    def _render_application_fee(self, out):
        refunds = [self.render(r) for r in self.all("fee_refund", out["_account"]) if r["fee"] == out["id"]]
        out["refunds"] = list_object(refunds, f"/v1/application_fees/{out['id']}/refunds")

    def _render_transfer(self, out):
        revs = [self.render(r) for r in self.all("transfer_reversal", out["_account"])
                if r["transfer"] == out["id"]]
        out["reversals"] = list_object(revs, f"/v1/transfers/{out['id']}/reversals")

    def _render_event(self, out):
        # webhooks not (yet) delivered: pending retries and given-up deliveries alike
        out["pending_webhooks"] = sum(
            1 for d in self.deliveries if d["event"] == out["id"] and d["status"] != "succeeded")

    def plan_of(self, price):
        rec = price.get("recurring") or {}
        return {
            "active": price["active"], "amount": price["unit_amount"],
            "amount_decimal": price["unit_amount_decimal"], "billing_scheme": "per_unit",
            "created": price["created"], "currency": price["currency"], "id": price["id"],
            "interval": rec.get("interval"), "interval_count": rec.get("interval_count"),
            "livemode": False, "metadata": price["metadata"], "meter": None,
            "nickname": price["nickname"], "object": "plan", "product": price["product"],
            "tiers_mode": None, "transform_usage": None,
            "trial_period_days": rec.get("trial_period_days"), "usage_type": "licensed",
        }

    # Fields that are not in an object's default JSON and appear only when expanded
    # (Stripe's "includable" fields), keyed by (object, field).
    def _includable(self, rendered, field, source):
        kind = rendered.get("object")
        if kind == "invoice" and field == "payments":
            pays = [self.render(p) for p in self.all("invoice_payment", source.get("_account"))
                    if p["invoice"] == rendered["id"]]
            return list_object(pays, f"/v1/invoice_payments?invoice={rendered['id']}")
        if kind == "checkout.session" and field == "line_items":
            return self.session_line_items(source)
        return None

    def _expand(self, node, parts, source=None):
        if not parts or not isinstance(node, dict):
            return node
        head, rest = parts[0], parts[1:]
        if node.get("object") == "list" and head == "data":
            node["data"] = [self._expand(item, rest, self.objects.get(item.get("id"), item))
                            if isinstance(item, dict) else item for item in node["data"]]
            return node
        if head not in node:
            extra = self._includable(node, head, source or {})
            if extra is None:
                raise invalid(
                    f"This property cannot be expanded ({head}).", param="expand")
            node[head] = extra
        value = node[head]
        if isinstance(value, str) and value in self.objects:
            target = self.objects[value]
            value = self.render(target)
            source = target
        elif isinstance(value, dict) and value.get("id") in self.objects:
            source = self.objects[value["id"]]
        elif isinstance(value, list):
            value = [self.render(self.objects[v]) if isinstance(v, str) and v in self.objects else v
                     for v in value]
        node[head] = self._expand(value, rest, source) if rest else value
        return node

    # ------------------------------------------------------------------ events
    def emit(self, event_type, obj, previous=None, account=None):
        snapshot = self.render(obj) if isinstance(obj, dict) and "_seq" in obj else copy.deepcopy(obj)
        data = {"object": snapshot}
        if previous is not None:
            data["previous_attributes"] = previous
        req = self._request or {}
        account = account if account is not None else obj.get("_account")
        event = self.create("event", {
            "api_version": API_VERSION,
            "data": data,
            "pending_webhooks": 0,
            "request": {"id": req.get("id"), "idempotency_key": req.get("idempotency_key")},
            "type": event_type,
        }, account=account, clock_id=None)
        event["created"] = self.now(self.clock_of(obj) if isinstance(obj, dict) else None)
        if account:
            event["account"] = account  # Connect events name the connected account
        for endpoint in self.all("webhook_endpoint"):
            if endpoint["status"] != "enabled" or bool(endpoint.get("_connect")) != bool(account):
                continue
            enabled = endpoint["enabled_events"] or []
            if "*" not in enabled and event_type not in enabled:
                continue
            self.seq += 1
            self.deliveries.append({
                "id": "dlv_" + token(16), "seq": self.seq, "event": event["id"], "type": event_type,
                "endpoint": endpoint["id"], "url": endpoint["url"], "status": "pending",
                "next_attempt": self.now(), "attempts": [],
            })
        self.wake_deliveries()
        return event

    def emit_updated(self, event_type, obj, before):
        after = self.render(obj)
        previous = {k: v for k, v in before.items() if after.get(k) != v}
        if previous:
            self.emit(event_type, obj, previous=previous)

    def wake_deliveries(self):
        with self.delivery_wakeup:
            self.delivery_wakeup.notify_all()

    # ------------------------------------------------------------------ balance
    def balance_txn(self, account, amount, kind, source, category, description=None, fee=0):
        txn = self.create("balance_transaction", {
            "amount": amount, "available_on": self.now(), "balance_type": "payments",
            "currency": CURRENCY, "description": description, "exchange_rate": None, "fee": fee,
            "fee_details": [], "net": amount - fee, "reporting_category": category, "source": source,
            "status": "available", "type": kind,
        }, account=account)
        return txn["id"]

    def balance(self, account=None):
        total = sum(t["net"] for t in self.all("balance_transaction", account))
        return {
            "object": "balance", "livemode": False,
            "available": [{"amount": total, "currency": CURRENCY, "source_types": {"card": total}}],
            "pending": [{"amount": 0, "currency": CURRENCY, "source_types": {"card": 0}}],
            "connect_reserved": [{"amount": 0, "currency": CURRENCY}],
        }

    def payout(self, account, amount, description=None, metadata=None, method="standard"):
        """A payout of a connected account's balance to its bank: paid at once (the sandbox has
        no banking days), its balance transaction taking the amount out of the balance."""
        available = self.balance(account)["available"][0]["amount"]
        if amount <= 0:
            raise invalid("Invalid positive integer", param="amount")
        if amount > available:
            raise StripeError(400, "You have insufficient funds in your Stripe account for this transfer.",
                              code="balance_insufficient", param="amount")
        now = self.now()
        payout = self.create("payout", {
            "amount": amount, "arrival_date": now, "automatic": False, "currency": CURRENCY,
            "description": description, "destination": "ba_" + token(24), "metadata": metadata or {},
            "method": method, "reconciliation_status": "completed", "source_type": "card",
            "status": "paid", "type": "bank_account", "trace_id": {"status": "supported", "value": None},
        }, account=account)
        payout["balance_transaction"] = self.balance_txn(account, -amount, "payout", payout["id"], "payout")
        return payout

    # ------------------------------------------------------------------ accounts
    @staticmethod
    def onboarding_test_values(account):
        """The hosted onboarding form's prefilled test values for `account`, keyed by its fields:
        what a person submits without typing, and what the test helper submits for them."""
        profile = account["business_profile"] or {}
        return {"business_name": profile.get("name") or "Testbolaget AB",
                "url": profile.get("url") or "https://example.com",
                "support_phone": profile.get("support_phone") or "+46700000000",
                "iban": "SE35 5000 0000 0549 1000 0003", "email": account["email"] or "developer@example.com",
                "product_description": profile.get("product_description") or "Software integrations",
                "business_type": "company", "tos": "on"}

    @staticmethod
    def onboarding_details(fields):
        """The onboarding form's fields (a submitted form or the test values) as the details
        `complete_onboarding` records."""
        return {"name": fields["business_name"].strip(), "url": fields["url"].strip(),
                "support_phone": fields["support_phone"].strip(), "iban": fields["iban"].replace(" ", ""),
                "email": fields.get("email", "").strip() or None,
                "product_description": fields.get("product_description", "").strip() or None,
                "business_type": fields.get("business_type") or "company"}

    def complete_onboarding(self, account, details=None):
        before = self.render(account)
        details = details or {}
        profile = dict(account["business_profile"] or {})
        profile.update({k: v for k, v in details.items() if k in ("name", "url", "support_phone",
                                                                 "product_description", "mcc")})
        account["business_profile"] = profile
        if details.get("email"):
            account["email"] = details["email"]
        account["business_type"] = details.get("business_type") or account["business_type"] or "company"
        account["details_submitted"] = True
        account["charges_enabled"] = True
        account["payouts_enabled"] = True
        account["capabilities"] = {k: "active" for k in (account["capabilities"] or {})} or {
            "transfers": "active"}
        account["capabilities"]["transfers"] = "active"
        empty = {"alternatives": [], "current_deadline": None, "currently_due": [], "disabled_reason": None,
                 "errors": [], "eventually_due": [], "past_due": [], "pending_verification": []}
        account["requirements"] = dict(empty)
        account["future_requirements"] = dict(empty)
        account["tos_acceptance"] = {"date": self.now(), "ip": "127.0.0.1", "user_agent": "sandbox"}
        iban = details.get("iban") or "SE3550000000054910000003"
        account["external_accounts"] = list_object([{
            "id": "ba_" + token(24), "object": "bank_account", "account": account["id"],
            "country": "SE", "currency": CURRENCY, "last4": iban[-4:], "status": "new",
            "default_for_currency": True,
        }], f"/v1/accounts/{account['id']}/external_accounts")
        after = self.render(account)
        previous = {k: v for k, v in before.items() if after.get(k) != v}
        self.emit("account.updated", account, previous=previous, account=account["id"])

    # ------------------------------------------------------------------ customers and cards
    def attach_card(self, pm, customer):
        behavior = pm.get("_behavior")
        if behavior == "decline":
            raise card_declined()
        pm["customer"] = customer["id"]
        self.emit("payment_method.attached", pm)

    def card_payment_method(self, number, exp_month, exp_year, cvc=None, name=None, email=None,
                            account=None, clock_id=None):
        info = cards.describe(number)
        return self.create("payment_method", {
            "allow_redisplay": "unspecified",
            "billing_details": {"address": {"city": None, "country": None, "line1": None, "line2": None,
                                            "postal_code": None, "state": None},
                                "email": email, "name": name, "phone": None, "tax_id": None},
            "card": {
                "brand": info["brand"], "checks": {"address_line1_check": None,
                                                   "address_postal_code_check": None,
                                                   "cvc_check": "pass" if cvc else None},
                "country": "SE", "display_brand": info["brand"], "exp_month": exp_month,
                "exp_year": exp_year, "fingerprint": info["fingerprint"], "funding": "credit",
                "generated_from": None, "last4": number[-4:],
                "networks": {"available": [info["brand"]], "preferred": None},
                "three_d_secure_usage": {"supported": True}, "wallet": None, "regulated_status": None,
            },
            "type": "card", "_behavior": info["behavior"],
        }, account=account, clock_id=clock_id)

    def default_pm(self, customer, sub=None):
        pm_id = (sub or {}).get("default_payment_method") or (
            customer.get("invoice_settings") or {}).get("default_payment_method")
        return self.objects.get(pm_id) if pm_id else None

    # ------------------------------------------------------------------ prices and tax
    def line_tax(self, amount, tax_rate_ids):
        """Tax of one line: exclusive rates add round-half-up(amount × p / 100); inclusive ones
        are carved out of the amount."""
        taxes = []
        for txr_id in tax_rate_ids or ():
            rate = self.objects[txr_id]
            pct = Decimal(str(rate["percentage"]))
            if rate["inclusive"]:
                tax = amount - int((Decimal(amount) * 100 / (100 + pct)).quantize(
                    Decimal(1), rounding=ROUND_HALF_UP))
                taxable = amount - tax
            else:
                tax = pct_of(amount, pct)
                taxable = amount
            taxes.append({"amount": tax, "tax_behavior": "inclusive" if rate["inclusive"] else "exclusive",
                          "tax_rate_details": {"tax_rate": txr_id}, "taxability_reason": "standard_rated",
                          "taxable_amount": taxable, "type": "tax_rate_details"})
        return taxes

    def session_line_items(self, session):
        items = []
        for li in session["_line_items"]:
            price = self.objects[li["price"]]
            amount = price["unit_amount"] * li["quantity"]
            taxes = self.line_tax(amount, li["tax_rates"])
            exclusive = sum(t["amount"] for t in taxes if t["tax_behavior"] == "exclusive")
            items.append({
                "id": li["id"], "object": "item", "amount_discount": 0,
                "amount_subtotal": amount, "amount_tax": sum(t["amount"] for t in taxes),
                "amount_total": amount + exclusive, "currency": price["currency"],
                "description": self.objects[price["product"]]["name"], "price": self.render(price),
                "quantity": li["quantity"],
                "taxes": [{"amount": t["amount"], "rate": self.render(self.objects[t["tax_rate_details"]
                                                                                  ["tax_rate"]]),
                           "taxability_reason": "standard_rated", "taxable_amount": t["taxable_amount"]}
                          for t in taxes],
            })
        return list_object(items, f"/v1/checkout/sessions/{session['id']}/line_items")

    # ------------------------------------------------------------------ subscriptions
    def create_subscription(self, customer, items, *, payment_method=None, fee_percent=None,
                            destination=None, trial_end=None, metadata=None, description=None,
                            default_tax_rates=None, cancel_at_period_end=False, fail_if_unpaid=False,
                            authenticated=False):
        """Start a subscription and bill its first invoice (Checkout and Subscription.create)."""
        clock_id = self.clock_of(customer)
        account = customer.get("_account")
        now = self.now(clock_id)
        first_price = self.objects[items[0]["price"]]
        rec = first_price["recurring"]
        trial = trial_end is not None and trial_end > now
        anchor = trial_end if trial else now
        sub = self.create("subscription", {
            "application_fee_percent": float(fee_percent) if fee_percent is not None else None,
            "automatic_tax": {"enabled": False, "liability": None, "disabled_reason": None},
            "billing_cycle_anchor": anchor,
            "billing_cycle_anchor_config": None,
            "billing_mode": {"type": "flexible", "flexible": {"proration_discounts": "included"},
                             "updated_at": now},
            "billing_schedules": [],
            "cancel_at_period_end": bool(cancel_at_period_end),
            "cancellation_details": {"comment": None, "feedback": None, "reason": None},
            "collection_method": "charge_automatically",
            "currency": first_price["currency"],
            "customer": customer["id"],
            "default_payment_method": payment_method["id"] if payment_method else None,
            "default_tax_rates": list(default_tax_rates or []),
            "description": description,
            "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
            "metadata": metadata or {},
            "payment_settings": {"payment_method_options": None, "payment_method_types": None,
                                 "save_default_payment_method": "off"},
            "start_date": now,
            "status": "trialing" if trial else "incomplete",
            "test_clock": clock_id,
            "transfer_data": {"amount_percent": None, "destination": destination} if destination else None,
            "trial_end": trial_end if trial else None,
            "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
            "trial_start": now if trial else None,
            "_interval": [rec["interval"], rec["interval_count"]],
            # how many intervals after the anchor the current period ends (a trial ends at the anchor)
            "_period_index": 0 if trial else 1,
        }, account=account, clock_id=clock_id)
        period_end = trial_end if trial else add_interval(anchor, rec["interval"], rec["interval_count"])
        for item in items:
            self.create("subscription_item", {
                "current_period_start": now, "current_period_end": period_end,
                "metadata": {}, "price": item["price"], "quantity": item["quantity"],
                "subscription": sub["id"], "tax_rates": list(item.get("tax_rates") or []),
                "billing_thresholds": None,
            }, account=account, clock_id=clock_id)
        self.emit("customer.subscription.created", sub)
        before = self.render(sub)
        lines = self.subscription_lines(sub, now, period_end, trial=trial)
        invoice = self.create_invoice(sub, "subscription_create", lines, now, now)
        if trial:
            self.pay_invoice(invoice, None)
            self.schedule(max(now, trial_end - 3 * DAY), "trial_will_end", clock_id, sub=sub["id"])
        else:
            pm = payment_method or self.default_pm(customer)
            ok = self.pay_invoice(invoice, pm, first=True, authenticated=authenticated)
            if not ok and fail_if_unpaid:
                raise card_declined(charge=self.objects[invoice["_charges"][-1]]["id"]
                                    if invoice.get("_charges") else None)
            if ok:
                sub["status"] = "active"
            else:
                self.schedule(now + 23 * 3600, "expire_incomplete", clock_id, sub=sub["id"])
        sub["latest_invoice"] = invoice["id"]
        self.schedule(period_end, "cycle", clock_id, sub=sub["id"], period_end=period_end)
        self.emit_updated("customer.subscription.updated", sub, before)
        return sub

    def items_of(self, sub):
        items = [i for i in self.objects.values() if i["object"] == "subscription_item"
                 and i["subscription"] == sub["id"] and not i.get("_deleted")]
        items.sort(key=lambda i: i["_seq"])
        return items

    def subscription_lines(self, sub, start, end, trial=False):
        lines = []
        for item in self.items_of(sub):
            price = self.objects[item["price"]]
            product = self.objects[price["product"]]
            qty = item["quantity"]
            amount = 0 if trial else price["unit_amount"] * qty
            desc = f"Trial period for {product['name']}" if trial else f"{qty} × {product['name']}"
            lines.append({"amount": amount, "description": desc, "price": price["id"], "quantity": qty,
                          "tax_rates": item["tax_rates"] or sub["default_tax_rates"],
                          "period": {"start": start, "end": end}, "proration": False,
                          "subscription_item": item["id"], "invoice_item": None})
        # pending proration items are billed with the next invoice, as Stripe does
        for ii in self.all("invoiceitem", sub.get("_account")):
            if ii.get("_subscription") == sub["id"] and ii["invoice"] is None:
                lines.append({"amount": ii["amount"], "description": ii["description"],
                              "price": ii["pricing"]["price_details"]["price"], "quantity": 1,
                              "tax_rates": ii["tax_rates"], "period": ii["period"], "proration": True,
                              "subscription_item": ii["_subscription_item"], "invoice_item": ii["id"]})
        return lines

    def create_invoice(self, sub, reason, lines, period_start, period_end):
        customer = self.objects[sub["customer"]]
        clock_id = self.clock_of(sub)
        account = sub.get("_account")
        now = self.now(clock_id)
        invoice = self.create("invoice", {}, account=account, clock_id=clock_id)
        line_objs, subtotal, tax_by_rate, exclusive_tax = [], 0, {}, 0
        for line in lines:
            taxes = self.line_tax(line["amount"], line["tax_rates"])
            for t in taxes:
                key = t["tax_rate_details"]["tax_rate"]
                acc = tax_by_rate.setdefault(key, dict(t, amount=0, taxable_amount=0))
                acc["amount"] += t["amount"]
                acc["taxable_amount"] += t["taxable_amount"]
                if t["tax_behavior"] == "exclusive":
                    exclusive_tax += t["amount"]
            subtotal += line["amount"]
            price = self.objects[line["price"]]
            details = {"invoice_item": line["invoice_item"], "proration": line["proration"],
                       "proration_details": {"credited_items": None}, "subscription": sub["id"],
                       "subscription_item": line["subscription_item"]}
            line_objs.append({
                "amount": line["amount"], "currency": CURRENCY, "description": line["description"],
                "discount_amounts": [], "discountable": True, "discounts": [],
                "id": new_id("line_item"), "invoice": invoice["id"], "livemode": False, "metadata": {},
                "object": "line_item",
                "parent": {"type": "subscription_item_details", "invoice_item_details": None,
                           "subscription_item_details": details},
                "period": line["period"], "pretax_credit_amounts": [],
                "pricing": {"type": "price_details",
                            "price_details": {"price": price["id"], "product": price["product"]},
                            "unit_amount_decimal": str(price["unit_amount"])},
                "quantity": line["quantity"], "quantity_decimal": str(line["quantity"]),
                "subscription": sub["id"], "subtotal": line["amount"], "taxes": taxes,
            })
            if line["invoice_item"]:
                self.objects[line["invoice_item"]]["invoice"] = invoice["id"]
        total = subtotal + exclusive_tax
        inclusive_tax = sum(t["amount"] for t in tax_by_rate.values() if t["tax_behavior"] == "inclusive")
        # the customer's credit balance (negative) pays first, as Stripe applies it
        starting = customer.get("balance") or 0
        amount_due = max(0, total + starting)
        ending = min(0, total + starting)
        customer["balance"] = ending
        seq = customer.get("next_invoice_sequence") or 1
        customer["next_invoice_sequence"] = seq + 1
        invoice.update({
            "account_country": "SE", "account_name": "App Market (sandbox)", "account_tax_ids": None,
            "amount_due": amount_due, "amount_overpaid": 0, "amount_paid": 0, "amount_remaining": amount_due,
            "amount_shipping": 0, "attempt_count": 0, "attempted": False, "auto_advance": True,
            "automatic_tax": {"enabled": False, "liability": None, "status": None, "disabled_reason": None,
                              "provider": None},
            "billing_reason": reason, "collection_method": "charge_automatically", "currency": CURRENCY,
            "customer": customer["id"], "customer_address": customer.get("address"),
            "customer_email": customer.get("email"), "customer_name": customer.get("name"),
            "customer_phone": customer.get("phone"), "customer_shipping": None,
            "customer_tax_exempt": "none", "customer_tax_ids": [],
            "default_tax_rates": list(sub.get("default_tax_rates") or []),
            "ending_balance": ending, "starting_balance": starting,
            "hosted_invoice_url": None, "invoice_pdf": None, "issuer": {"type": "self"},
            "lines": list_object(line_objs, f"/v1/invoices/{invoice['id']}/lines"),
            "number": None,
            "parent": {"type": "subscription_details", "quote_details": None,
                       "subscription_details": {"metadata": dict(sub["metadata"]), "subscription": sub["id"]}},
            "payment_settings": {"default_mandate": None, "payment_method_options": None,
                                 "payment_method_types": None},
            "period_start": period_start, "period_end": period_end,
            "post_payment_credit_notes_amount": 0, "pre_payment_credit_notes_amount": 0,
            "rendering": None, "status": "draft",
            "status_transitions": {"finalized_at": None, "marked_uncollectible_at": None, "paid_at": None,
                                   "voided_at": None},
            "subscription": sub["id"], "subtotal": subtotal, "subtotal_excluding_tax": subtotal - inclusive_tax,
            "test_clock": clock_id, "total": total, "total_discount_amounts": [],
            "total_excluding_tax": total - exclusive_tax - inclusive_tax,
            "total_pretax_credit_amounts": [], "total_taxes": list(tax_by_rate.values()),
            "webhooks_delivered_at": now, "effective_at": None, "due_date": None,
            "_token": token(32), "_charges": [], "_first_failure": None,
        })
        invoice["hosted_invoice_url"] = f"{self.base_url}/i/{invoice['_token']}"
        invoice["invoice_pdf"] = f"{self.base_url}/i/{invoice['_token']}/receipt"
        self.emit("invoice.created", invoice)
        invoice["number"] = f"{customer['invoice_prefix']}-{seq:04d}"
        invoice["status"] = "open"
        invoice["effective_at"] = now
        invoice["status_transitions"]["finalized_at"] = now
        self.emit("invoice.finalized", invoice)
        return invoice

    def pay_invoice(self, invoice, pm, first=False, raise_on_failure=False, authenticated=False):
        """One payment attempt. Returns True when the invoice ends up paid. A card that asks for
        authentication on every payment is paid only on the hosted page (`authenticated`)."""
        if invoice["status"] != "open":
            return invoice["status"] == "paid"
        sub = self.objects.get(invoice["subscription"]) if invoice["subscription"] else None
        clock_id = self.clock_of(invoice)
        now = self.now(clock_id)
        if invoice["amount_due"] == 0:
            self._mark_paid(invoice, now)
            return True
        customer = self.objects[invoice["customer"]]
        account = invoice.get("_account")
        if pm is None:
            # nothing to charge: the attempt fails without a charge, as Stripe's does
            invoice["attempt_count"] += 1
            invoice["attempted"] = True
            self._payment_failed(invoice, sub, now)
            return False
        fee = pct_of(invoice["amount_due"], sub["application_fee_percent"]) if (
            sub and sub["application_fee_percent"] is not None and sub["transfer_data"]) else None
        destination = (sub["transfer_data"] or {}).get("destination") if sub else None
        invoice["attempt_count"] += 1
        invoice["attempted"] = True
        # One PaymentIntent and one InvoicePayment per invoice; each attempt is a new charge on it,
        # as Stripe retries an invoice's payment.
        pi = self.objects.get(invoice.get("_payment_intent"))
        if pi is None:
            pi = self.create("payment_intent", {
                "amount": invoice["amount_due"], "amount_capturable": 0, "amount_details": {"tip": {}},
                "amount_received": 0, "application_fee_amount": fee,
                "automatic_payment_methods": None, "capture_method": "automatic",
                "client_secret": None, "confirmation_method": "automatic", "currency": CURRENCY,
                "customer": customer["id"], "description": "Subscription update" if not first else
                "Subscription creation", "excluded_payment_method_types": None,
                "payment_method": pm["id"] if pm else None,
                "payment_method_configuration_details": None, "payment_method_options": {},
                "payment_method_types": ["card"], "processing": None, "receipt_email": None,
                "setup_future_usage": None, "status": "processing",
                "transfer_data": {"destination": destination} if destination else None,
                "transfer_group": None,
            }, account=account, clock_id=clock_id)
            pi["client_secret"] = f"{pi['id']}_secret_{token(24)}"
            if destination:
                pi["transfer_group"] = f"group_{pi['id']}"
            invoice["_payment_intent"] = pi["id"]
            invoice_payment = self.create("invoice_payment", {
                "amount_paid": None, "amount_requested": invoice["amount_due"], "currency": CURRENCY,
                "invoice": invoice["id"], "is_default": True,
                "payment": {"type": "payment_intent", "payment_intent": pi["id"]}, "status": "open",
                "status_transitions": {"canceled_at": None, "paid_at": None},
            }, account=account, clock_id=clock_id)
            invoice["_invoice_payment"] = invoice_payment["id"]
        invoice_payment = self.objects[invoice["_invoice_payment"]]
        pi["payment_method"] = pm["id"] if pm else None
        pi["status"] = "processing"
        pi["last_payment_error"] = None
        behavior = (pm or {}).get("_behavior") or "succeed"
        if behavior == "authenticate" and not authenticated:
            # No charge: the PaymentIntent waits for the customer (Stripe's requires_action).
            pi["status"] = "requires_action"
            pi["next_action"] = {"type": "use_stripe_sdk", "use_stripe_sdk": {}}
            pi["last_payment_error"] = {"type": "card_error", "code": "authentication_required",
                                        "decline_code": "authentication_required",
                                        "message": "Your card was declined. This transaction requires authentication.",
                                        "payment_method": self.render(pm)}
            invoice["next_payment_attempt"] = None
            self.emit("payment_intent.requires_action", pi)
            self.emit("invoice.payment_action_required", invoice)
            return False
        failed = pm is None or behavior in ("fail", "decline")
        charge = self.create("charge", {
            "amount": invoice["amount_due"], "amount_captured": 0 if failed else invoice["amount_due"],
            "amount_refunded": 0, "application_fee_amount": None if failed else fee,
            "billing_details": (pm or {}).get("billing_details"),
            "calculated_statement_descriptor": "APP MARKET", "captured": not failed,
            "currency": CURRENCY, "customer": customer["id"], "description": pi["description"],
            "disputed": False, "failure_code": "card_declined" if failed else None,
            "failure_message": "Your card was declined." if failed else None, "fraud_details": {},
            "outcome": {"advice_code": None, "network_advice_code": None, "network_decline_code": None,
                        "network_status": "declined_by_network" if failed else "approved_by_network",
                        "reason": "generic_decline" if failed else None, "risk_level": "normal",
                        "seller_message": "The bank did not return any further details with this decline."
                        if failed else "Payment complete.",
                        "type": "issuer_declined" if failed else "authorized"},
            "paid": not failed, "payment_intent": pi["id"], "payment_method": (pm or {}).get("id"),
            "payment_method_details": {"type": "card", "card": {
                k: (pm or {}).get("card", {}).get(k) for k in ("brand", "country", "exp_month", "exp_year",
                                                               "fingerprint", "funding", "last4")}},
            "receipt_email": customer.get("email"), "refunded": False, "shipping": None,
            "status": "failed" if failed else "succeeded",
            "transfer_data": {"amount": None, "destination": destination} if destination else None,
            "transfer_group": pi["transfer_group"],
        }, account=account, clock_id=clock_id)
        charge["receipt_url"] = f"{self.base_url}/i/{invoice['_token']}/receipt"
        invoice["_charges"].append(charge["id"])
        pi["latest_charge"] = charge["id"]
        if failed:
            pi["status"] = "requires_payment_method"
            pi["last_payment_error"] = {"type": "card_error", "code": "card_declined",
                                        "decline_code": "generic_decline",
                                        "message": "Your card was declined.", "charge": charge["id"],
                                        "payment_method": self.render(pm) if pm else None}
            self.emit("charge.failed", charge)
            self.emit("payment_intent.payment_failed", pi)
            self._payment_failed(invoice, sub, now)
            return False
        pi["status"] = "succeeded"
        pi["amount_received"] = invoice["amount_due"]
        amount = invoice["amount_due"]
        charge["balance_transaction"] = self.balance_txn(account, amount, "charge", charge["id"], "charge")
        if destination:
            # Destination charge: the whole amount goes to the connected account and the
            # application fee comes back to the platform (Stripe's flow of funds for
            # application_fee_amount with transfer_data[destination]).
            transfer = self.create("transfer", {
                "amount": amount, "amount_reversed": 0, "currency": CURRENCY,
                "description": None, "destination": destination, "metadata": {}, "reversed": False,
                "source_transaction": charge["id"], "source_type": "card",
                "transfer_group": pi["transfer_group"],
            }, account=account, clock_id=clock_id)
            transfer["balance_transaction"] = self.balance_txn(account, -amount, "transfer", transfer["id"],
                                                               "transfer")
            payment = self.create("charge", {
                "amount": amount, "amount_captured": amount, "amount_refunded": 0, "captured": True,
                "currency": CURRENCY, "description": None, "disputed": False, "fraud_details": {},
                "paid": True, "refunded": False, "source_transfer": transfer["id"], "status": "succeeded",
                "payment_method_details": {"type": "stripe_account", "stripe_account": {}},
            }, account=destination, clock_id=clock_id, obj_id="py_" + token(24))
            payment["balance_transaction"] = self.balance_txn(destination, amount, "payment", payment["id"],
                                                              "charge")
            transfer["destination_payment"] = payment["id"]
            charge["transfer"] = transfer["id"]
            if fee is not None:
                app_fee = self.create("application_fee", {
                    "account": destination, "amount": fee, "amount_refunded": 0, "application": None,
                    "charge": charge["id"], "currency": CURRENCY,
                    "fee_source": {"type": "charge", "charge": charge["id"]},
                    "originating_transaction": payment["id"], "refunded": False,
                }, account=account, clock_id=clock_id)
                app_fee["balance_transaction"] = self.balance_txn(account, fee, "application_fee",
                                                                  app_fee["id"], "platform_earning")
                self.balance_txn(destination, -fee, "application_fee", app_fee["id"], "platform_earning")
                charge["application_fee"] = app_fee["id"]
                payment["application_fee"] = app_fee["id"]
                payment["application_fee_amount"] = fee
            self.emit("charge.succeeded", charge)
            self.emit("payment_intent.succeeded", pi)
            self.emit("transfer.created", transfer)
            if fee is not None:
                self.emit("application_fee.created", app_fee)
        else:
            self.emit("charge.succeeded", charge)
            self.emit("payment_intent.succeeded", pi)
        invoice_payment["amount_paid"] = amount
        invoice_payment["status"] = "paid"
        invoice_payment["status_transitions"]["paid_at"] = now
        self._mark_paid(invoice, now)
        if sub and sub["status"] in ("past_due", "incomplete", "unpaid"):
            before = self.render(sub)
            sub["status"] = "active"
            self.emit_updated("customer.subscription.updated", sub, before)
        if behavior == "dispute":
            self.open_dispute(charge)
        return True

    def _mark_paid(self, invoice, now):
        invoice["status"] = "paid"
        invoice["amount_paid"] = invoice["amount_due"]
        invoice["amount_remaining"] = 0
        invoice["next_payment_attempt"] = None
        invoice["status_transitions"]["paid_at"] = now
        invoice["attempted"] = True
        self.emit("invoice.paid", invoice)
        self.emit("invoice.payment_succeeded", invoice)

    def _payment_failed(self, invoice, sub, now):
        if sub is not None and sub["status"] == "incomplete":
            # a first invoice is not retried: the customer has 23 hours to pay it on-session
            invoice["next_payment_attempt"] = None
            self.emit("invoice.payment_failed", invoice)
            return
        if invoice["_first_failure"] is None:
            invoice["_first_failure"] = now
        first = invoice["_first_failure"]
        upcoming = [first + d * DAY for d in RETRY_DAYS if first + d * DAY > now]
        invoice["next_payment_attempt"] = upcoming[0] if upcoming else None
        self.emit("invoice.payment_failed", invoice)
        if sub is None:
            return
        if upcoming:
            self.schedule(upcoming[0], "retry", self.clock_of(invoice), invoice=invoice["id"])
        if sub["status"] in ("active", "trialing"):
            before = self.render(sub)
            sub["status"] = "past_due"
            self.emit_updated("customer.subscription.updated", sub, before)
        elif not upcoming and sub["status"] == "past_due":
            self.cancel_subscription(sub, reason="payment_failed")

    def cancel_subscription(self, sub, reason="cancellation_requested"):
        if sub["status"] == "canceled":
            return
        now = self.now(self.clock_of(sub))
        sub["status"] = "canceled"
        sub["canceled_at"] = sub["canceled_at"] or now
        sub["ended_at"] = now
        sub["cancellation_details"] = {"comment": None, "feedback": None, "reason": reason}
        self.emit("customer.subscription.deleted", sub)

    # ------------------------------------------------------------------ jobs
    def job_cycle(self, sub, period_end):
        sub = self.objects[sub]
        if sub["status"] in ("canceled", "incomplete_expired"):
            return
        items = self.items_of(sub)
        if not items or items[0]["current_period_end"] != period_end:
            return  # superseded (the period was changed since this was scheduled)
        before = self.render(sub)
        if sub["cancel_at_period_end"] or (sub.get("cancel_at") and sub["cancel_at"] <= period_end):
            self.cancel_subscription(sub)
            return
        interval, count = sub["_interval"]
        sub["_period_index"] += 1
        new_end = add_interval(sub["billing_cycle_anchor"], interval, count * sub["_period_index"])
        old_start = items[0]["current_period_start"]
        for item in items:
            item["current_period_start"] = period_end
            item["current_period_end"] = new_end
        was_trial = sub["status"] == "trialing"
        if was_trial:
            sub["status"] = "active"
        lines = self.subscription_lines(sub, period_end, new_end)
        # Stripe: a renewal invoice's own period is the period that just ended; its lines carry
        # the period being paid for
        invoice = self.create_invoice(sub, "subscription_cycle", lines, old_start, period_end)
        sub["latest_invoice"] = invoice["id"]
        self.emit_updated("customer.subscription.updated", sub, before)
        customer = self.objects[sub["customer"]]
        self.pay_invoice(invoice, self.default_pm(customer, sub))
        self.schedule(new_end, "cycle", self.clock_of(sub), sub=sub["id"], period_end=new_end)

    def job_retry(self, invoice):
        invoice = self.objects[invoice]
        sub = self.objects.get(invoice["subscription"])
        if invoice["status"] != "open" or sub is None or sub["status"] == "canceled":
            return
        customer = self.objects[invoice["customer"]]
        self.pay_invoice(invoice, self.default_pm(customer, sub))

    def job_expire_incomplete(self, sub):
        sub = self.objects[sub]
        if sub["status"] != "incomplete":
            return
        invoice = self.objects.get(sub["latest_invoice"])
        if invoice and invoice["status"] == "open":
            invoice["status"] = "void"
            invoice["status_transitions"]["voided_at"] = self.now(self.clock_of(sub))
            invoice["amount_remaining"] = 0
            self.emit("invoice.voided", invoice)
        sub["status"] = "incomplete_expired"
        sub["ended_at"] = self.now(self.clock_of(sub))
        self.emit("customer.subscription.deleted", sub)

    def job_cancel_at(self, sub, at):
        sub = self.objects[sub]
        if sub.get("cancel_at") == at and sub["status"] not in ("canceled", "incomplete_expired"):
            self.cancel_subscription(sub)

    def job_trial_will_end(self, sub):
        sub = self.objects[sub]
        if sub["status"] == "trialing":
            self.emit("customer.subscription.trial_will_end", sub)

    def job_expire_session(self, session):
        session = self.objects[session]
        if session["status"] == "open":
            self.expire_session(session)

    def expire_session(self, session):
        session["status"] = "expired"
        session["url"] = None
        self.emit("checkout.session.expired", session)

    def retry_open_invoices(self, customer):
        """A new card pays what is overdue at once (Stripe's portal and smart retries do)."""
        for invoice in self.all("invoice", customer.get("_account")):
            if invoice["customer"] == customer["id"] and invoice["status"] == "open":
                sub = self.objects.get(invoice["subscription"])
                if sub and sub["status"] in ("past_due", "unpaid", "incomplete"):
                    self.pay_invoice(invoice, self.default_pm(customer, sub))

    # ------------------------------------------------------------------ refunds and disputes
    def refund(self, charge, amount, reverse_transfer=False, refund_application_fee=False, reason=None,
               metadata=None):
        remaining = charge["amount"] - charge["amount_refunded"]
        if charge["status"] != "succeeded":
            raise invalid(f"Charge {charge['id']} has not succeeded and cannot be refunded.", param="charge")
        if amount is None:
            amount = remaining
        if amount <= 0 or amount > remaining:
            raise invalid(f"Refund amount ({amount}) is greater than unrefunded amount on charge "
                          f"({remaining})", param="amount", code="amount_too_large")
        account = charge.get("_account")
        clock_id = self.clock_of(charge)
        refund = self.create("refund", {
            "amount": amount, "charge": charge["id"], "currency": CURRENCY, "customer": charge["customer"],
            "destination_details": {"type": "card", "card": {"type": "refund", "reference_status": "pending"}},
            "metadata": metadata or {}, "payment_intent": charge["payment_intent"],
            "payment_method": charge["payment_method"], "reason": reason, "status": "succeeded",
        }, account=account, clock_id=clock_id)
        refund["balance_transaction"] = self.balance_txn(account, -amount, "refund", refund["id"], "refund")
        fully = amount == remaining
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        transfer = self.objects.get(charge.get("transfer"))
        if reverse_transfer and transfer:
            # reversed in proportion to the refund; the last refund takes what is left, so the
            # parts always add up to the transfer
            left = transfer["amount"] - transfer["amount_reversed"]
            rev_amount = left if fully else min(left, part_of(transfer["amount"], amount, charge["amount"]))
            if rev_amount > 0:
                rev = self.reverse_transfer(transfer, rev_amount, source_refund=refund["id"])
                refund["transfer_reversal"] = rev["id"]
        fee = self.objects.get(charge.get("application_fee"))
        if refund_application_fee and fee:
            left = fee["amount"] - fee["amount_refunded"]
            fr_amount = left if fully else min(left, part_of(fee["amount"], amount, charge["amount"]))
            if fr_amount > 0:
                self.refund_fee(fee, fr_amount)
        self.emit("refund.created", refund)
        self.emit("charge.refunded", charge)
        return refund

    def reverse_transfer(self, transfer, amount, source_refund=None, metadata=None):
        left = transfer["amount"] - transfer["amount_reversed"]
        if amount <= 0 or amount > left:
            raise invalid(f"Reversal amount ({amount}) is greater than what is left of the transfer ({left})",
                          param="amount")
        account = transfer.get("_account")
        rev = self.create("transfer_reversal", {
            "amount": amount, "currency": CURRENCY, "destination_payment_refund": None,
            "metadata": metadata or {}, "source_refund": source_refund, "transfer": transfer["id"],
        }, account=account, clock_id=self.clock_of(transfer))
        rev["balance_transaction"] = self.balance_txn(account, amount, "transfer_refund", rev["id"],
                                                      "transfer_reversal")
        self.balance_txn(transfer["destination"], -amount, "payment_refund", rev["id"], "refund")
        transfer["amount_reversed"] += amount
        transfer["reversed"] = transfer["amount_reversed"] == transfer["amount"]
        self.emit("transfer.reversed", transfer)
        return rev

    def refund_fee(self, fee, amount, metadata=None):
        account = fee.get("_account")
        fr = self.create("fee_refund", {
            "amount": amount, "currency": CURRENCY, "fee": fee["id"], "metadata": metadata or {},
        }, account=account, clock_id=self.clock_of(fee))
        fr["balance_transaction"] = self.balance_txn(account, -amount, "application_fee_refund", fr["id"],
                                                     "platform_earning_refund")
        self.balance_txn(fee["account"], amount, "application_fee_refund", fr["id"], "platform_earning_refund")
        fee["amount_refunded"] += amount
        fee["refunded"] = fee["amount_refunded"] == fee["amount"]
        self.emit("application_fee.refunded", fee)
        return fr

    def open_dispute(self, charge, reason="fraudulent"):
        """Stripe takes the disputed amount from the platform at once (destination charges
        are disputed on the platform); the transfer stays unless the platform reverses it."""
        account = charge.get("_account")
        dispute = self.create("dispute", {
            "amount": charge["amount"], "balance_transactions": [], "charge": charge["id"],
            "currency": CURRENCY, "enhanced_eligibility_types": [],
            "evidence": {"uncategorized_text": None}, "evidence_details": {
                "due_by": self.now(self.clock_of(charge)) + 7 * DAY, "has_evidence": False,
                "past_due": False, "submission_count": 0},
            "is_charge_refundable": False, "metadata": {}, "payment_intent": charge["payment_intent"],
            "payment_method_details": {"type": "card", "card": {"brand": "visa", "network_reason_code": "10.4"}},
            "reason": reason, "status": "needs_response",
        }, account=account, clock_id=self.clock_of(charge))
        txn = self.balance_txn(account, -charge["amount"] - DISPUTE_FEE, "adjustment", dispute["id"],
                               "dispute", description="Chargeback withdrawal", fee=0)
        dispute["balance_transactions"].append(txn)
        charge["disputed"] = True
        self.emit("charge.dispute.created", dispute)
        self.emit("charge.dispute.funds_withdrawn", dispute)
        return dispute

    def close_dispute(self, dispute, won):
        if dispute["status"] in ("won", "lost"):
            raise invalid(f"Dispute {dispute['id']} is already closed.", param="dispute")
        dispute["status"] = "won" if won else "lost"
        if won:
            txn = self.balance_txn(dispute.get("_account"), dispute["amount"] + DISPUTE_FEE, "adjustment",
                                   dispute["id"], "dispute_reversal", description="Chargeback reversal")
            dispute["balance_transactions"].append(txn)
            self.emit("charge.dispute.funds_reinstated", dispute)
        self.emit("charge.dispute.closed", dispute)

    # ------------------------------------------------------------------ checkout
    def complete_checkout(self, session, pm, name=None, email=None):
        """What Stripe does when the buyer pays a subscription-mode Checkout Session."""
        account = session.get("_account")
        customer = self.objects.get(session["customer"]) if session["customer"] else None
        if customer is None:
            customer = self.create("customer", {
                "balance": 0, "delinquent": False, "email": session["customer_email"] or email,
                "invoice_prefix": token(8).upper(),
                "invoice_settings": {"custom_fields": None, "default_payment_method": None, "footer": None,
                                     "rendering_options": None},
                "metadata": {}, "name": name, "next_invoice_sequence": 1, "preferred_locales": [],
                "tax_exempt": "none",
            }, account=account)
            self.emit("customer.created", customer)
        pm["billing_details"]["name"] = name
        pm["billing_details"]["email"] = customer["email"]
        self.attach_card(pm, customer)
        customer["invoice_settings"]["default_payment_method"] = pm["id"]
        now = self.now(self.clock_of(customer))
        trial_end = session["_trial_end"]
        if session["_trial_days"]:
            trial_end = now + session["_trial_days"] * DAY
        sub = self.create_subscription(
            customer, session["_line_items"], payment_method=pm,
            fee_percent=Decimal(session["_fee_percent"]) if session["_fee_percent"] else None,
            destination=session["_destination"], trial_end=trial_end, metadata=session["_sub_metadata"],
            description=session["_sub_description"], default_tax_rates=session["_default_tax_rates"],
            authenticated=True)  # the buyer confirmed the first payment on the Checkout page
        invoice = self.objects[sub["latest_invoice"]]
        session.update({
            "status": "complete", "url": None, "customer": customer["id"], "subscription": sub["id"],
            "invoice": invoice["id"],
            "payment_status": "paid" if invoice["amount_due"] else "no_payment_required",
            "customer_details": {"address": None, "business_name": None, "email": customer["email"],
                                 "individual_name": None, "name": name, "phone": None, "tax_exempt": "none",
                                 "tax_ids": []},
        })
        self.emit("checkout.session.completed", session)
        return sub

    def complete_setup(self, session, pm, name=None, email=None):
        """What Stripe does when a setup-mode Checkout Session is completed: a succeeded
        SetupIntent for off-session use, its card attached to the customer (not made the
        customer's default: Stripe leaves that to the integration)."""
        account = session.get("_account")
        customer = self.objects.get(session["customer"]) if session["customer"] else None
        if customer is None:
            customer = self.create("customer", {
                "balance": 0, "delinquent": False, "email": session["customer_email"] or email,
                "invoice_prefix": token(8).upper(),
                "invoice_settings": {"custom_fields": None, "default_payment_method": None, "footer": None,
                                     "rendering_options": None},
                "metadata": {}, "name": name, "next_invoice_sequence": 1, "preferred_locales": [],
                "tax_exempt": "none",
            }, account=account)
            self.emit("customer.created", customer)
        pm["billing_details"]["name"] = name
        pm["billing_details"]["email"] = customer["email"]
        self.attach_card(pm, customer)
        intent = self.create("setup_intent", {
            "automatic_payment_methods": None, "customer": customer["id"],
            "description": session["_setup_description"], "flow_directions": None,
            "metadata": session["_setup_metadata"] or {}, "payment_method": pm["id"],
            "payment_method_configuration_details": None, "payment_method_options": {
                "card": {"mandate_options": None, "network": None, "request_three_d_secure": "automatic"}},
            "payment_method_types": list(session["payment_method_types"] or ["card"]),
            "status": "succeeded", "usage": "off_session",
        }, account=account, clock_id=self.clock_of(customer))
        intent["client_secret"] = f"{intent['id']}_secret_{token(24)}"
        self.emit("setup_intent.created", intent)
        self.emit("setup_intent.succeeded", intent)
        session.update({
            "status": "complete", "url": None, "customer": customer["id"], "setup_intent": intent["id"],
            "payment_status": "no_payment_required",
            "customer_details": {"address": None, "business_name": None, "email": customer["email"],
                                 "individual_name": None, "name": name, "phone": None, "tax_exempt": "none",
                                 "tax_ids": []},
        })
        self.emit("checkout.session.completed", session)
        return intent
