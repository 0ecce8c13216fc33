"""From a stored task path back to the `Task` object, refusing anything that is not one."""

from __future__ import annotations

from typing import Any

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from .compat import BaseTaskBackend, InvalidTask, Task
from .records import TaskRecord

_resolved: dict[tuple[str, str, str], tuple[Task[Any, Any], Task[Any, Any]]] = {}
"""(backend alias, path, queue) -> (the imported Task, its validated `using()` copy), for tasks
without run_after: every result read and every run resolves its task. Per process (Django hands
out a backend per thread and per asyncio task); emptied when TASKS changes."""


@receiver(setting_changed)
def _forget_resolved(*, setting: str, **kwargs: Any) -> None:
    if setting == "TASKS":
        _resolved.clear()


def resolve_task(record: TaskRecord, backend: BaseTaskBackend) -> Task[Any, Any]:
    """The `Task` at `record.task`, on `backend` and the record's queue; `InvalidTask` says why not.

    Only module-level `Task` objects (functions decorated with `@task`) qualify: a message
    naming any other callable is refused, never called.
    """
    if record.backend != backend.alias:
        raise InvalidTask(
            f"result {record.id!r} belongs to task backend {record.backend!r}, not {backend.alias!r}; "
            "each WalnatsBackend alias needs queues of its own."
        )
    try:
        found = import_string(record.task)
    except Exception as exc:
        raise InvalidTask(
            f"task {record.task!r} cannot be imported ({type(exc).__name__}: {exc}); was it renamed "
            "or removed while results or queued runs of it remain?"
        ) from exc
    if not isinstance(found, Task):
        raise InvalidTask(
            f"{record.task!r} is a {type(found).__name__}, not a Task: only functions decorated "
            "with @task run as tasks."
        )
    if record.run_after is not None:
        return found.using(backend=backend.alias, queue_name=record.queue, run_after=record.run_after)
    key = (backend.alias, record.task, record.queue)
    cached = _resolved.get(key)
    if cached is not None and cached[0] is found:
        return cached[1]
    task: Task[Any, Any] = found.using(backend=backend.alias, queue_name=record.queue, run_after=None)
    _resolved[key] = (found, task)
    return task
