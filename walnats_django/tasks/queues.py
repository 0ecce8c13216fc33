"""Task queues: each queue of a WalnatsBackend is a JetStream stream with one durable consumer.

Queue `emails` is the subject `tasks.emails`, the stream `tasks-emails` and the consumer
`tasks-emails`: an `Event` and an `Actor` like any other, so `runactors` runs tasks with the
same pulls, pulses, retries, dead letters and graceful shutdown as actors.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Iterable
from typing import Any

from django.utils.module_loading import import_string

from ..events import Event
from .compat import task_backends
from .records import RECORD_SERIALIZER, TaskRecord

SUBJECT_PREFIX = "tasks"
_QUEUE_NAME = re.compile(r"[A-Za-z0-9_-]{1,200}")


def queue_name_problem(name: object) -> str | None:
    """Why `name` cannot be a task queue name (a subject token and a stream name), or None."""
    if isinstance(name, str) and _QUEUE_NAME.fullmatch(name):
        return None
    return (
        f"task queue name {name!r} must be 1 to 200 letters, digits, '-' or '_' "
        f"(it becomes the subject {SUBJECT_PREFIX}.<queue> and the stream {SUBJECT_PREFIX}-<queue>)"
    )


@functools.lru_cache(maxsize=256)
def queue_event(queue: str) -> Event[TaskRecord, None]:
    """The event (subject and stream) of task queue `queue`."""
    return Event(
        f"{SUBJECT_PREFIX}.{queue}",
        TaskRecord,
        serializer=RECORD_SERIALIZER,
        description=f"Django tasks of queue {queue!r} (walnats_django.tasks).",
    )


@dataclasses.dataclass(frozen=True)
class TaskQueue:
    """One queue of one WalnatsBackend alias in TASKS."""

    alias: str
    name: str

    @property
    def event(self) -> Event[TaskRecord, None]:
        return queue_event(self.name)

    @property
    def consumer(self) -> str:
        """The durable consumer (actor) name that runs the queue."""
        return self.event.stream_name

    def __str__(self) -> str:
        return f"task queue {self.name!r} of backend {self.alias!r}"


def walnats_aliases() -> list[str]:
    """The TASKS aliases whose BACKEND is a WalnatsBackend (others are left alone)."""
    from .backend import WalnatsBackend

    aliases = []
    for alias, params in task_backends.settings.items():
        path = params.get("BACKEND") if isinstance(params, dict) else None
        try:
            backend_class: Any = import_string(path) if isinstance(path, str) else None
        except ImportError:
            continue
        if isinstance(backend_class, type) and issubclass(backend_class, WalnatsBackend):
            aliases.append(alias)
    return aliases


def configured_queues() -> list[TaskQueue]:
    """Every queue of every WalnatsBackend, in TASKS order."""
    from .backend import WalnatsBackend

    queues: list[TaskQueue] = []
    for alias in walnats_aliases():
        backend = task_backends[alias]
        assert isinstance(backend, WalnatsBackend)
        queues += [TaskQueue(alias, name) for name in backend.queue_names]
    return queues


def select_queues(names: Iterable[str] | None) -> list[TaskQueue]:
    """The configured queues named `names` (all when empty); `LookupError` names the known ones."""
    queues = configured_queues()
    wanted = list(dict.fromkeys(names or []))
    if not wanted:
        return queues
    by_name = {queue.name: queue for queue in queues}
    unknown = [name for name in wanted if name not in by_name]
    if unknown:
        known = ", ".join(by_name) or "none (no TASKS backend is walnats_django.tasks.WalnatsBackend)"
        raise LookupError(f"unknown task queue(s): {', '.join(unknown)} (configured: {known}).")
    return [by_name[name] for name in wanted]
