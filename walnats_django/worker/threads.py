"""The thread pool sync handlers run in, counting the jobs that are still running."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.db import close_old_connections


class SyncJobs:
    """Runs sync handlers in threads, each with fresh database connections, as Django views do."""

    def __init__(self, max_threads: int) -> None:
        self._executor = ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix="walnats-job")
        self._jobs: set[concurrent.futures.Future[Any]] = set()

    def run(self, handler: Callable[[Any], Any], payload: Any) -> asyncio.Future[Any]:
        """Run `handler(payload)` in the pool, in a copy of the job's context (its trace span, as
        `asyncio.to_thread` does); `running` counts it until it ends."""
        job = self._executor.submit(contextvars.copy_context().run, _run_sync_job, handler, payload)
        self._jobs.add(job)
        job.add_done_callback(self._jobs.discard)
        return asyncio.wrap_future(job)

    @property
    def running(self) -> int:
        """Sync handlers still running in threads (they cannot be interrupted)."""
        return sum(not job.done() for job in list(self._jobs))

    def shutdown(self) -> None:
        """Start no more jobs; running ones go on (threads cannot be stopped)."""
        self._executor.shutdown(wait=False, cancel_futures=True)


def _run_sync_job(handler: Callable[[Any], Any], payload: Any) -> Any:
    close_old_connections()
    try:
        return handler(payload)
    finally:
        close_old_connections()
