"""What the notifications room tells the serving process (not another room): an event was
written to the outbox. market.notifications.web listens, so the request that wrote it wakes
the background sender once it has committed."""
from blinker import Namespace

_signals = Namespace()

# sender: the AppNotification row just written (not yet committed).
queued = _signals.signal("notification-queued")
