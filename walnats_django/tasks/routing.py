"""Where a WalnatsBackend keeps its results and how its sync calls run: the results bucket and the
shared background loop, unless a stand-in is installed with `divert()` (the in-process test mode,
`walnats_django.testing.inline`), which keeps results in memory and runs tasks in the caller's thread.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, Protocol, TypeVar

from .. import sync
from .records import TaskRecord
from .store import ResultStore, Stored

T = TypeVar("T")


class Results(Protocol):
    """What the backend, the runner and `wait()` ask of a results bucket (`ResultStore` is one)."""

    async def size_limit(self) -> int: ...

    async def ensure_once(self) -> None: ...

    async def read(self, result_id: str) -> Stored | None: ...

    async def write(self, record: TaskRecord, revision: int) -> int | None: ...

    async def wait_finished(self, result_id: str, timeout: float) -> TaskRecord | None: ...


class StandIn(Protocol):
    """Takes the place of NATS for every WalnatsBackend of the process while installed."""

    def results(self, store: ResultStore) -> Results:
        """The stand-in for `store` (one per bucket)."""

    def run_sync(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a backend coroutine for sync code (`enqueue`, `get_result`)."""


_stand_in: StandIn | None = None


def divert(stand_in: StandIn | None) -> StandIn | None:
    """Send every backend's results and sync calls to `stand_in` (None: to NATS again); return the
    previous one. Process-wide, like `publisher.divert`, so calls from any thread are diverted alike."""
    global _stand_in
    previous, _stand_in = _stand_in, stand_in
    return previous


def results(store: ResultStore) -> Results:
    """`store`, or its stand-in while one is installed."""
    stand_in = _stand_in
    return store if stand_in is None else stand_in.results(store)


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` for sync code: on the shared background loop, or as the stand-in runs it."""
    stand_in = _stand_in
    return sync.run_sync(coro) if stand_in is None else stand_in.run_sync(coro)
