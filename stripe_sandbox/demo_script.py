"""End to end through the unmodified `stripe` library, offline, in seconds:

product, price and 25 % moms; an Express account onboarded through the hosted form; a Checkout
Session with a 40 % application fee to that account, paid on the hosted page with 4242…; signed
webhooks verified by `stripe.Webhook.construct_event`; invoice, charge, application fee and
transfer adding up to the öre. Then (Issue G) a year of renewals, a failed renewal and its
recovery, a refund and a lost dispute, with both balances checked against Stripe's rules.

    python -m stripe_sandbox.demo_script            # starts its own sandbox
    python -m stripe_sandbox.demo_script --url URL  # uses a running one
"""

import argparse
import http.server
import json
import re
import sys
import threading
import time

import requests
import stripe

from .engine import pct_of
from .testing import API_KEY, start_sandbox


class Receiver:
    """A tiny webhook receiver that verifies every delivery with the stripe library."""

    def __init__(self):
        self.events, self.secrets = [], []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                for secret in receiver.secrets:
                    try:
                        event = stripe.Webhook.construct_event(body, self.headers["Stripe-Signature"], secret)
                    except stripe.SignatureVerificationError:
                        continue
                    receiver.events.append(event)
                    self.send_response(200)
                    self.end_headers()
                    return
                self.send_response(400)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def types(self):
        return [e.type for e in self.events]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print(f"ok  {what}")


def post(url, path, **params):
    resp = requests.post(url + path, data=params, timeout=60, headers={"Authorization": f"Bearer {API_KEY}"})
    resp.raise_for_status()
    return resp.json()


def run(url, year=True):
    client = stripe.StripeClient(API_KEY, base_addresses={"api": url, "connect": url, "files": url},
                                 max_network_retries=0)
    receiver = Receiver()
    started = time.monotonic()
    try:
        platform_hook = client.v1.webhook_endpoints.create(params={"url": receiver.url, "enabled_events": ["*"]})
        connect_hook = client.v1.webhook_endpoints.create(
            params={"url": receiver.url, "enabled_events": ["account.updated"], "connect": True})
        receiver.secrets += [platform_hook.secret, connect_hook.secret]

        product = client.v1.products.create(params={"name": "Time Tracker Pro"})
        price = client.v1.prices.create(params={"product": product.id, "unit_amount": 19900, "currency": "sek",
                                                "recurring": {"interval": "month"}})
        moms = client.v1.tax_rates.create(params={"display_name": "Moms", "percentage": 25, "inclusive": False,
                                                  "country": "SE"})

        account = client.v1.accounts.create(params={"type": "express", "country": "SE",
                                                    "capabilities": {"transfers": {"requested": True}}})
        link = client.v1.account_links.create(params={
            "account": account.id, "type": "account_onboarding",
            "refresh_url": "http://127.0.0.1:9/refresh", "return_url": "http://127.0.0.1:9/return"})
        browser = requests.Session()
        form = browser.get(link.url, timeout=10).text
        fields = dict(re.findall(r'name="([a-z_]+)" value="([^"]*)"', form))
        done = browser.post(link.url, data=fields, allow_redirects=False, timeout=10)
        check(done.status_code == 303 and done.headers["Location"] == "http://127.0.0.1:9/return",
              "onboarding form submits and returns to return_url")
        account = client.v1.accounts.retrieve(account.id)
        check(account.capabilities["transfers"] == "active" and account.charges_enabled, "transfers active")

        fee_percent = 40  # 25 % of the amount excl. moms, at 25 % moms (DESIGN.md §2)
        session = client.v1.checkout.sessions.create(params={
            "mode": "subscription", "customer_email": "buyer@example.com", "client_reference_id": "company-1",
            "line_items": [{"price": price.id, "quantity": 1, "tax_rates": [moms.id]}],
            "success_url": "http://127.0.0.1:9/done?session={CHECKOUT_SESSION_ID}",
            "cancel_url": "http://127.0.0.1:9/cancel",
            "subscription_data": {"application_fee_percent": fee_percent,
                                  "transfer_data": {"destination": account.id},
                                  "metadata": {"app": "time-tracker-pro"}},
        }, options={"idempotency_key": "demo-checkout-1"})
        paid = browser.post(session.url, data={"card_number": "4242 4242 4242 4242", "exp": "12/34",
                                               "cvc": "123", "name": "Demo Buyer"},
                            allow_redirects=False, timeout=10)
        check(paid.status_code == 303 and paid.headers["Location"].endswith(f"session={session.id}"),
              "hosted checkout accepts 4242… and redirects to success_url with the session id")

        session = client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["subscription"]})
        sub = session.subscription
        invoice = client.v1.invoices.retrieve(sub.latest_invoice, params={"expand": ["payments"]})
        payment = invoice.payments.data[0].payment
        pi = client.v1.payment_intents.retrieve(payment.payment_intent)
        charge = client.v1.charges.retrieve(pi.latest_charge)
        fee = client.v1.application_fees.retrieve(charge.application_fee)
        transfer = client.v1.transfers.retrieve(charge.transfer)
        check(invoice.subtotal == 19900 and invoice.total_taxes[0].amount == 4975 and invoice.total == 24875,
              "invoice: 199,00 + 25 % moms 49,75 = 248,75 kr")
        check(charge.amount == invoice.amount_paid == 24875, "charge = invoice amount paid")
        check(fee.amount == pct_of(24875, fee_percent) == 9950, "application fee = 40 % of 248,75 = 99,50 kr")
        check(transfer.amount == charge.amount and transfer.destination == account.id,
              "transfer of the charge to the developer's account (fee collected back from it)")
        dev = client.v1.balance.retrieve(options={"stripe_account": account.id}).available[0].amount
        platform = client.v1.balance.retrieve().available[0].amount
        check(dev == transfer.amount - fee.amount == 14925 and platform == fee.amount
              and dev + platform == charge.amount,
              "transfer 248,75 − application fee 99,50 = developer 149,25 kr (75 % of net); platform "
              "99,50 kr (25 % of net + moms); together the charge, to the öre")

        post(url, "/_sandbox/drain")
        types = receiver.types()
        for needed in ("checkout.session.completed", "customer.subscription.created", "invoice.created",
                       "invoice.finalized", "invoice.paid", "invoice.payment_succeeded", "charge.succeeded",
                       "account.updated"):
            check(needed in types, f"signed webhook {needed} verified by stripe.Webhook.construct_event")
        acct_event = next(e for e in receiver.events if e.type == "account.updated")
        check(acct_event.account == account.id, "account.updated carries the connected account")
        print(f"Issue C flow: {time.monotonic() - started:.2f} s")
        if year:
            run_year(client, url, receiver, sub.id, account.id, fee_percent)
        print(f"total: {time.monotonic() - started:.2f} s")
    finally:
        receiver.stop()


def run_year(client, url, receiver, sub_id, account_id, fee_percent):
    """A year of renewals, one failed and recovered, a refund and a lost dispute."""
    gross, fee = 24875, pct_of(24875, fee_percent)
    sub = client.v1.subscriptions.retrieve(sub_id)
    customer = sub.customer

    def to_next_renewal():
        """Advance the sandbox clock to one minute past the current period's end."""
        item = client.v1.subscriptions.retrieve(sub_id)["items"].data[0]
        now = requests.get(url + "/_sandbox/clock", timeout=10,
                           headers={"Authorization": f"Bearer {API_KEY}"}).json()["now"]
        post(url, "/_sandbox/advance", seconds=item.current_period_end - now + 60)

    for _ in range(3):  # months 2..4 renew normally
        to_next_renewal()
    post(url, f"/_sandbox/payment_methods/{customer}/behavior", behavior="fail")
    to_next_renewal()
    sub = client.v1.subscriptions.retrieve(sub_id)
    check(sub.status == "past_due", "a failed renewal makes the subscription past_due")
    post(url, "/_sandbox/advance", days=3)  # the retry 3 days after the failure fails too
    post(url, f"/_sandbox/payment_methods/{customer}/behavior", behavior="succeed")
    post(url, "/_sandbox/advance", days=2)  # the retry on day 5 succeeds
    sub = client.v1.subscriptions.retrieve(sub_id)
    check(sub.status == "active", "the retry 5 days after the first failure succeeds: active again")
    for _ in range(8):
        to_next_renewal()
    invoices = list(client.v1.invoices.list(params={"subscription": sub_id, "limit": 100}).auto_paging_iter())
    paid = [i for i in invoices if i.status == "paid"]
    check(len(paid) == 13, f"13 paid invoices over a year and a month (got {len(paid)})")
    charges = [c for c in client.v1.charges.list(params={"customer": customer, "limit": 100}).auto_paging_iter()
               if c.status == "succeeded"]
    # refund the latest charge in full, with the developer's and the platform's parts
    last = charges[0]
    client.v1.refunds.create(params={"charge": last.id, "reverse_transfer": True, "refund_application_fee": True})
    # a new card that disputes; the next renewal is disputed and lost
    pm = client.v1.payment_methods.attach("pm_card_createDispute", params={"customer": customer})
    client.v1.subscriptions.update(sub_id, params={"default_payment_method": pm.id})
    to_next_renewal()
    disputes = list(client.v1.disputes.list().auto_paging_iter())
    check(len(disputes) == 1, "the disputing card's renewal is disputed")
    post(url, f"/_sandbox/disputes/{disputes[0].id}/lose")
    n_paid = len(charges) + 1  # every succeeded charge incl. the disputed one
    platform_expected = n_paid * fee - fee - gross  # fees kept, minus the refunded fee, minus the lost dispute
    dev_expected = n_paid * (gross - fee) - (gross - fee)  # shares kept, minus the refunded share
    platform = client.v1.balance.retrieve().available[0].amount
    dev = client.v1.balance.retrieve(options={"stripe_account": account_id}).available[0].amount
    check(platform == platform_expected, f"platform balance {platform} = {platform_expected} öre")
    check(dev == dev_expected, f"developer balance {dev} = {dev_expected} öre")
    post(url, "/_sandbox/drain")
    for needed in ("invoice.payment_failed", "customer.subscription.updated", "charge.refunded",
                   "charge.dispute.created", "charge.dispute.closed"):
        check(needed in receiver.types(), f"signed webhook {needed}")


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", help="a running sandbox (default: start one)")
    parser.add_argument("--issue-c-only", action="store_true")
    args = parser.parse_args(argv)
    handle = None
    url = args.url
    if not url:
        handle = start_sandbox()
        url = handle.url
    try:
        run(url, year=not args.issue_c_only)
    finally:
        if handle:
            handle.stop()
    print(json.dumps({"result": "ok"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
