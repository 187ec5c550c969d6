"""Stripe's test cards and test PaymentMethod tokens, and what each one does in the sandbox.

Behaviours: "succeed"; "decline" (refused when attached or paid, nothing is created);
"fail" (attaches, every charge fails); "3ds" (Checkout asks for a confirmation step, then
succeeds, also off-session afterwards as a card set up for future use does); "authenticate"
(Stripe's 4000 0027 6000 3184: every payment, off-session too, asks for the confirmation step,
so a subscription made with it stays incomplete until the payer confirms on the invoice's hosted
page); "dispute" (succeeds, then the charge is disputed as fraudulent).
"""

import hashlib

CARDS = {
    "4242424242424242": ("visa", "succeed"),
    "4000056655665556": ("visa", "succeed"),
    "5555555555554444": ("mastercard", "succeed"),
    "4000000000000077": ("visa", "succeed"),
    "4000000000000002": ("visa", "decline"),
    "4000000000009995": ("visa", "decline"),
    "4000000000000341": ("visa", "fail"),
    "4000002500003155": ("visa", "3ds"),
    "4000002760003184": ("visa", "authenticate"),
    "4000000000000259": ("visa", "dispute"),
}

# PaymentMethod tokens Stripe accepts in test mode instead of card numbers.
TOKENS = {
    "pm_card_visa": "4242424242424242",
    "pm_card_mastercard": "5555555555554444",
    "pm_card_visa_chargeDeclined": "4000000000000002",
    "pm_card_chargeDeclined": "4000000000000002",
    "pm_card_chargeDeclinedInsufficientFunds": "4000000000009995",
    "pm_card_chargeCustomerFail": "4000000000000341",
    "pm_card_authenticationRequired": "4000002500003155",
    "pm_card_authenticationRequiredOnSetup": "4000002500003155",
    "pm_card_createDispute": "4000000000000259",
}


def luhn_ok(number: str) -> bool:
    if not number.isdigit() or not 12 <= len(number) <= 19:
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def clean(number: str) -> str:
    return "".join(ch for ch in (number or "") if not ch.isspace() and ch != "-")


def describe(number: str) -> dict:
    brand, behavior = CARDS.get(number, (None, "succeed"))
    if brand is None:
        brand = {"4": "visa", "5": "mastercard", "3": "amex"}.get(number[:1], "unknown")
    fingerprint = hashlib.sha256(number.encode()).hexdigest()[:16]
    return {"brand": brand, "behavior": behavior, "fingerprint": fingerprint}
