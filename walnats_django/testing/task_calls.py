"""Calling task functions in the in-process test mode, as sync handlers are called there."""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from typing import Any

from ..tasks.calls import TaskCalls
from .jobs import call_in_caller_thread


class CallerThreadCalls(TaskCalls):
    """Coroutines on the running loop, plain functions in the caller's thread (sharing the test's
    database connection); a late one fails with `TaskTimeout` once it returns (a thread cannot be
    stopped, in a worker either)."""

    def __init__(self, timeout: float) -> None:
        super().__init__(max_threads=1, timeout=timeout)

    async def call(self, func: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> Any:
        if inspect.iscoroutinefunction(func):
            return await super().call(func, args, kwargs)
        started = time.monotonic()
        value = await call_in_caller_thread(func, *args, **kwargs)
        if time.monotonic() - started > self.timeout:
            raise self._timed_out(func)
        return value
