"""An ongoing problem of the relay (NATS down, the database, one event's stream), logged when it
starts and when it ends rather than at every retry, with retries backing off."""

from __future__ import annotations

import logging
import time

logger = logging.getLogger("walnats_django.outbox")

FIRST_WAIT = 0.2
"""Seconds before the first retry; each further failure doubles it."""
MAX_WAIT = 10.0


class Trouble:
    """One kind of failure the relay retries: `occurred` says how long to wait before the next try."""

    def __init__(self, what: str) -> None:
        self.what = what
        """How log lines name it, e.g. "NATS" or "event=orders.placed"."""
        self.since: float | None = None
        self.wait = 0.0
        self.until = 0.0
        """Monotonic time before which the next try is pointless."""

    @property
    def active(self) -> bool:
        """Whether the problem is still there (no success since it occurred)."""
        return self.since is not None

    def holding(self) -> bool:
        """Whether its wait is still running."""
        return self.active and time.monotonic() < self.until

    def occurred(self, reason: str) -> float:
        """Note a failure; return the seconds to wait before trying again."""
        if self.since is None:
            self.since = time.monotonic()
            self.wait = FIRST_WAIT
            logger.warning("Outbox relay: %s unavailable: %s; retrying with backoff", self.what, reason)
        else:
            self.wait = min(self.wait * 2, MAX_WAIT)
            logger.debug("Outbox relay: %s still unavailable: %s; retry in %gs", self.what, reason, self.wait)
        self.until = time.monotonic() + self.wait
        return self.wait

    def ended(self) -> None:
        """Note a success; log the end of the problem if there was one."""
        if self.since is not None:
            logger.info("Outbox relay: %s is back after %.1fs", self.what, time.monotonic() - self.since)
            self.since = None
