"""What the catalog room tells the rooms after it (connected in market.wiring).

Sent inside the transaction that made the change, with keyword argument `now`; handlers only
write rows.
"""
from blinker import Namespace

_signals = Namespace()

# sender: the App; scopes: the scopes its OAuth client keeps. An approved revision took scopes
# away from the app: every grant to it is narrowed at once (the oauth room).
scopes_narrowed = _signals.signal("scopes-narrowed")
