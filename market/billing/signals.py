"""What the billing room tells the rooms after it (connected in market.wiring).

Every signal is sent inside the transaction that made the change, with keyword arguments
`config` (the settings mapping) and `now` (the naive UTC datetime the tables store);
handlers only write rows.
"""
from blinker import Namespace

_signals = Namespace()

# sender: the Subscription row as it is now; kind: the app event name
# ("subscription.created", "subscription.updated", "subscription.canceled").
subscription_changed = _signals.signal("subscription-changed")

# sender: the Company; app: the App. The company's entitlement to the app ended through billing
# (grace passed, the subscription ended or was refunded): what it granted the app is withdrawn.
access_ended = _signals.signal("access-ended")

# sender: the Company; app: the App. A company admin removed the app (Remove app, DESIGN.md §3):
# billing has set the subscription to cancel at period end (told as subscription_changed);
# the grant to the app is withdrawn at once.
app_removed = _signals.signal("app-removed")

# sender: a LedgerEntry of the app (the payment, or the reversal that was undone); a refund or
# lost dispute reversed (part of) a payment, or a failed refund was booked back. A payment
# refunded in full no longer makes its company a verified customer (DESIGN.md §3).
payment_reversed = _signals.signal("payment-reversed")

# sender: the Subscription told; kind: "subscription.price_change_scheduled" or
# "subscription.price_change_withdrawn"; change: the ScheduledPriceChange (billing.price_schedule).
price_change_told = _signals.signal("price-change-told")
