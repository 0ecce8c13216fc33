"""The outbox's own error, in the walnats-django hierarchy."""

from __future__ import annotations

from ..errors import WalnatsError


class UnregisteredEvent(WalnatsError, LookupError):
    """The outbox relays registered events only (it finds them by name); register the event."""
