"""Waiting for a task's outcome without polling: watch its key in the results bucket."""

from __future__ import annotations

from typing import Any, TypeVar

from ..conf import walnats_settings
from ..sync import run_sync
from .compat import TASK_REFRESH_ATTRS, TaskResult, TaskResultDoesNotExist
from .routing import results

T = TypeVar("T")


async def wait(result: TaskResult[T], *, timeout: float | None = None) -> TaskResult[T]:
    """Wait until `result` is SUCCESSFUL or FAILED, refresh it in place and return it.

    `timeout` defaults to WALNATS["REQUEST_TIMEOUT"]; `TaskWaitTimeout` when it passes first
    (the task may still finish). `TaskResultDoesNotExist` when nothing is stored (expired).
    """
    from .backend import WalnatsBackend

    if result.is_finished:
        return result
    backend: Any = result.task.get_backend()
    if not isinstance(backend, WalnatsBackend):
        raise TypeError(
            f"wait() watches results of WalnatsBackend; {result.task.module_path} runs on "
            f"{type(backend).__name__} ({result.backend!r}): use result.refresh() there."
        )
    limit = walnats_settings.REQUEST_TIMEOUT if timeout is None else timeout
    record = await results(backend.store).wait_finished(result.id, limit)
    if record is None:
        raise TaskResultDoesNotExist(result.id)
    refreshed = backend.result_of(record)
    for attr in TASK_REFRESH_ATTRS:
        object.__setattr__(result, attr, getattr(refreshed, attr))
    return result


def wait_sync(result: TaskResult[T], *, timeout: float | None = None) -> TaskResult[T]:
    """`wait()` for sync code (WSGI views, commands, shell)."""
    return run_sync(wait(result, timeout=timeout))
