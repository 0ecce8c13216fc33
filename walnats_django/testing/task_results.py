"""One results bucket in memory, for the in-process test mode: what `tasks.store.ResultStore` does
over NATS (encoded records, compare-and-set writes, the size limit, waiting on a key), in process."""

from __future__ import annotations

import asyncio
import threading
import time

from ..tasks.errors import TaskWaitTimeout
from ..tasks.records import TaskRecord
from ..tasks.store import Stored, check_record_size

_Waiter = tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]


class ResultsInMemory:
    """A backend's results while an in-process bus is active; safe from any thread and event loop."""

    def __init__(self, bucket: str, *, max_payload: int) -> None:
        self.bucket = bucket
        self.max_payload = max_payload
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[bytes, int]] = {}
        self._last_revision = 0
        """As a bucket's stream sequence: revisions grow across all keys."""
        self._waiters: dict[str, list[_Waiter]] = {}

    def get(self, result_id: str) -> Stored | None:
        """The stored record and its revision, or None (no await needed: for the bus's assertions)."""
        with self._lock:
            entry = self._entries.get(result_id)
        return None if entry is None else Stored(TaskRecord.decode(entry[0]), entry[1])

    async def size_limit(self) -> int:
        return self.max_payload - 1024

    async def ensure_once(self) -> None:
        """Nothing to create in memory."""

    async def read(self, result_id: str) -> Stored | None:
        return self.get(result_id)

    async def write(self, record: TaskRecord, revision: int) -> int | None:
        """Store `record` over `revision` (0: only if none is stored); None when another write came first."""
        data = record.encode()
        check_record_size(data, self.max_payload)
        with self._lock:
            entry = self._entries.get(record.id)
            if (0 if entry is None else entry[1]) != revision:
                return None
            self._last_revision += 1
            self._entries[record.id] = (data, self._last_revision)
            waiters = self._waiters.pop(record.id, [])
        for loop, future in waiters:
            loop.call_soon_threadsafe(_wake, future)
        return self._last_revision

    async def wait_finished(self, result_id: str, timeout: float) -> TaskRecord | None:
        """The record once it is finished; None if there is none; `TaskWaitTimeout` after `timeout`."""
        deadline = time.monotonic() + timeout
        loop = asyncio.get_running_loop()
        while True:
            future: asyncio.Future[None] = loop.create_future()
            with self._lock:
                entry = self._entries.get(result_id)
                if entry is None:
                    return None
                record = TaskRecord.decode(entry[0])
                if record.is_finished:
                    return record
                self._waiters.setdefault(result_id, []).append((loop, future))
            try:
                await asyncio.wait_for(future, max(deadline - time.monotonic(), 0))
            except TimeoutError:
                with self._lock:
                    waiting = self._waiters.get(result_id, [])
                    if (loop, future) in waiting:
                        waiting.remove((loop, future))
                raise TaskWaitTimeout(
                    f"task result {result_id!r} did not finish within {timeout:g}s (status {record.status}). "
                    "In process (inline()) a task runs inside enqueue(): one with run_after waits for "
                    "bus.run_delayed(), and inline(run=False) runs none."
                ) from None


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
