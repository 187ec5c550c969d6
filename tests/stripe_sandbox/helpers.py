"""Helpers the sandbox tests share: a browser filling in hosted forms, a standard checkout."""

import re


def form_fields(html):
    """The prefilled values of a hosted form, as a browser would submit them."""
    return dict(re.findall(r'name="([a-z_]+)" value="([^"]*)"', html))


def pay(browser, url, card="4242 4242 4242 4242", exp="12/34", cvc="123", name="Test Buyer"):
    browser.get(url, timeout=10)
    return browser.post(url, data={"card_number": card, "exp": exp, "cvc": cvc, "name": name},
                        allow_redirects=False, timeout=10)


def checkout(client, plan, developer=None, fee=40, trial_days=None, **extra):
    sd = {"metadata": {"company": "c1"}}
    if developer is not None:
        sd.update({"application_fee_percent": fee, "transfer_data": {"destination": developer.id}})
    if trial_days:
        sd["trial_period_days"] = trial_days
    params = {"mode": "subscription", "line_items": [{"price": plan["price"].id, "quantity": 1,
                                                       "tax_rates": [plan["tax"].id]}],
              "success_url": "http://market.test/ok?s={CHECKOUT_SESSION_ID}",
              "cancel_url": "http://market.test/cancel", "subscription_data": sd}
    if "customer" not in extra:
        params["customer_email"] = "buyer@example.com"
    params["locale"] = "en"  # the tests read the pages' English (no locale reads Swedish)
    params.update(extra)
    return client.v1.checkout.sessions.create(params=params)
