"""What the oauth room tells the rooms after it (connected in market.wiring).

Sent inside the transaction that made the change, with keyword arguments `config` and `now`;
handlers only write rows.
"""
from blinker import Namespace

_signals = Namespace()

# sender: the Connection, just revoked (its tokens with it).
connection_revoked = _signals.signal("connection-revoked")

# sender: the Connection whose tokens were used (an API call or a refresh); sent at most once
# an hour per connection, when last_used_at is written.
connection_used = _signals.signal("connection-used")

# sender: the Connection a company admin just consented to (new or widened).
connection_granted = _signals.signal("connection-granted")
