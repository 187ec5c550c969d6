"""Why billing says no: the refusals a customer, a developer or an admin reads as they are.

They carry no HTTP status; the views map each kind to one (views/billing.py). A BuyRefused
that is neither of the two narrower kinds means "not now" (the view answers 409).
"""


class BuyRefused(Exception):
    """Buy, or a change to a subscription, cannot go ahead; the message is shown as it is."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


class NotFound(BuyRefused):
    """What the customer acts on is not there: an app not on sale, no subscription to change,
    no plan change waiting, no billing account yet, nothing of the app to remove."""


class InvalidChoice(BuyRefused):
    """The customer chose something that cannot be chosen: a plan the app does not have, the
    plan it is already on, buying a free app."""


class AlreadyEntitled(Exception):
    """The company may already use the app: there is nothing to buy."""


class AlreadyPaid(Exception):
    """The open Checkout Session was completed at Stripe; the webhook is on its way."""


class RefundRefused(Exception):
    """The admin's refund cannot be made as asked; the message says what to correct."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


class MoneyBackRefused(BuyRefused):
    """Money back (issue T) is not offered for this subscription now: outside the window, already
    given once, nothing paid. The view answers 409 with the message."""
