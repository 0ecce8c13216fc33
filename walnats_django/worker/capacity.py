"""The process-wide cap on jobs that `runactors --max-jobs` sets, shared by all actors."""

from __future__ import annotations

import asyncio
import contextlib


class Capacity:
    """Jobs running in this process, against an optional cap (None: only per-actor caps).

    Pulls are sized by `free()`, but several actors may pull at once, so handlers also
    take one of `slots` before they run; waiting messages keep their pulse.
    """

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.busy = 0
        self.slots: asyncio.Semaphore | contextlib.nullcontext[None] = (
            contextlib.nullcontext() if limit is None else asyncio.Semaphore(limit)
        )

    @property
    def shared(self) -> bool:
        """Whether a cap across actors is set (a freed slot may let any actor pull)."""
        return self.limit is not None

    def free(self) -> int:
        """Jobs that may still start in this process."""
        return 1 << 30 if self.limit is None else self.limit - self.busy
