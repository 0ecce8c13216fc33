"""Calling task functions: coroutines on the worker's loop, plain functions in threads, with a timeout."""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
from collections.abc import Callable
from typing import Any

from django.db import close_old_connections

from .errors import TaskTimeout

_threads: set[concurrent.futures.Future[Any]] = set()
"""Sync task calls of this process still running (a thread cannot be stopped)."""


def running_threads() -> int:
    """Sync task functions still running in threads, e.g. past their timeout."""
    return sum(not call.done() for call in list(_threads))


class TaskCalls:
    """Runs one queue's task functions within `timeout` seconds each."""

    def __init__(self, *, max_threads: int, timeout: float) -> None:
        self.timeout = timeout
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=max_threads, thread_name_prefix="walnats-task"
        )

    async def call(self, func: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> Any:
        """`func(*args, **kwargs)`; `TaskTimeout` (with the thread still running, for sync
        functions, in `.thread`) once it runs longer than the timeout."""
        if inspect.iscoroutinefunction(func):
            timer = asyncio.timeout(self.timeout)
            try:
                async with timer:
                    return await func(*args, **kwargs)
            except TimeoutError:
                if timer.expired():
                    raise self._timed_out(func) from None
                raise
        job = self._executor.submit(_call_sync, func, args, kwargs)
        _threads.add(job)
        job.add_done_callback(_threads.discard)
        thread = asyncio.wrap_future(job)
        try:
            # Shielded: the timeout ends our wait, not the thread, which the caller may wait for.
            return await asyncio.wait_for(asyncio.shield(thread), self.timeout)
        except TimeoutError:
            if thread.done():
                raise
            error = self._timed_out(func)
            error.thread = thread
            raise error from None

    def _timed_out(self, func: Callable[..., Any]) -> TaskTimeout:
        return TaskTimeout(
            f"task {func.__module__}.{func.__qualname__} ran past its JOB_TIMEOUT of {self.timeout:g}s."
        )

    def shutdown(self) -> None:
        """Start no more calls; running ones go on."""
        self._executor.shutdown(wait=False, cancel_futures=True)


def _call_sync(func: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> Any:
    close_old_connections()
    try:
        return func(*args, **kwargs)
    finally:
        close_old_connections()
