"""The observer of this process: publishers and workers check `observer` (None: nothing to do)."""

from __future__ import annotations

from .observer import Observer

observer: Observer | None = None
"""Read it as `current.observer` at each point: `use()` replaces it."""


def use(new: Observer | None) -> Observer | None:
    """Send every observation point to `new` (None: observe nothing); return the previous observer."""
    global observer
    previous, observer = observer, new
    return previous
