"""The receiver fixtures, shared with tests/notifications (tests/outbound/receivers.py)."""
from tests.outbound.receivers import other_receiver, receiver  # noqa: F401
