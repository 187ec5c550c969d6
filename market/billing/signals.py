"""What the billing room tells the rooms after it (connected in market.wiring).

Every signal is sent inside the transaction that made the change, with keyword arguments
`config` (the settings mapping) and `now` (an aware UTC datetime); handlers only write rows.
"""
from blinker import Namespace

_signals = Namespace()

# sender: the Subscription row as it is now; kind: the app event name
# ("subscription.created", "subscription.updated", "subscription.canceled").
subscription_changed = _signals.signal("subscription-changed")

# sender: the Company; app: the App. The company's entitlement to the app ended through billing
# (grace passed, the subscription ended or was refunded): what it granted the app is withdrawn.
access_ended = _signals.signal("access-ended")
