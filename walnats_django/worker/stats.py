"""What a worker did, counted for its stop line."""

from __future__ import annotations


class Stats:
    """Counts of jobs by outcome; `str()` gives `handled=1 failed=0 ...` for logs."""

    __slots__ = ("dead", "expired", "failed", "handled", "terminated")

    def __init__(self) -> None:
        self.handled = 0
        """Jobs whose handler succeeded and whose message was acked."""
        self.failed = 0
        """Handler failures (each retried or dead-lettered)."""
        self.expired = 0
        """Requests dropped unhandled because their requester had given up."""
        self.terminated = 0
        """Messages that could not be decoded (dead-lettered at once)."""
        self.dead = 0
        """Dead letters recorded."""

    def __str__(self) -> str:
        return " ".join(
            f"{name}={getattr(self, name)}" for name in ("handled", "failed", "expired", "terminated", "dead")
        )
