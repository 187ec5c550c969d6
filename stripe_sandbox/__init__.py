"""An offline, stateful stand-in for Stripe that the unmodified `stripe` library talks to through
`api_base` (see DESIGN.md §5). Run it with `python -m stripe_sandbox --port P [--data FILE]`, or
from tests with `stripe_sandbox.testing.start_sandbox()`."""

from .server import Sandbox, make_app

__all__ = ["Sandbox", "make_app"]
