"""The task queues of TASKS (walnats_django.tasks) as channels: a queue is an event with one actor."""

from __future__ import annotations

import dataclasses
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from ..actors import Actor
from ..events import Event
from .errors import AsyncAPIError
from .schema import Schema

_TIME: Schema = {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]}
_NAME: Schema = {"type": "string", "minLength": 1}


def record_schema(statuses: list[str]) -> Schema:
    """The JSON of `TaskRecord.encode()`: a task to run, with its result so far."""
    return {
        "type": "object",
        "title": "TaskRecord",
        "description": "A Django task to run (Django's Tasks API, walnats_django.tasks.WalnatsBackend).",
        "properties": {
            "id": {**_NAME, "description": "The result id (also the message's Nats-Msg-Id)."},
            "task": {**_NAME, "description": "The task function's dotted path."},
            "backend": {**_NAME, "description": "The TASKS alias."},
            "queue": _NAME,
            "status": {"enum": statuses},
            "args": {"type": "array"},
            "kwargs": {"type": "object"},
            "run_after": _TIME,
            "enqueued_at": _TIME,
            "started_at": _TIME,
            "finished_at": _TIME,
            "last_attempted_at": _TIME,
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "exception_class_path": {"type": "string"},
                        "traceback": {"type": "string"},
                    },
                    "required": ["exception_class_path", "traceback"],
                },
            },
            "worker_ids": {"type": "array", "items": {"type": "string"}},
            "return_value": {"description": "The task's return value (JSON)."},
            "ready_revision": {
                "type": "integer",
                "minimum": 1,
                "description": "In a queue message only: the revision of the READY result the enqueuer "
                "stored, which the worker's claim replaces.",
            },
        },
        "required": ["id", "task", "backend", "queue", "status", "args", "kwargs"],
    }


@dataclasses.dataclass(frozen=True)
class DescribedRecords:
    """The record serializer, with the schema of what it sends (for the document only)."""

    inner: Any
    statuses: tuple[str, ...]

    def encode(self, message: Any) -> bytes:
        data: bytes = self.inner.encode(message)
        return data

    def decode(self, data: bytes) -> Any:
        return self.inner.decode(data)

    def json_schema(self) -> Schema:
        return record_schema(list(self.statuses))


def task_queue_channels() -> list[tuple[Event[Any, Any], tuple[Actor[Any, Any], ...]]]:
    """Each configured queue's event (with a described serializer) and actor; none without TASKS."""
    try:
        from ..tasks.queues import configured_queues
        from ..tasks.records import RECORD_SERIALIZER, STATUSES
        from ..tasks.runner import queue_actor
    except ModuleNotFoundError as exc:
        if exc.name not in ("django_tasks", "django.tasks"):
            raise
        return []
    try:
        queues = configured_queues()
        actors = [queue_actor(queue) for queue in queues]
    except ImproperlyConfigured as exc:
        raise AsyncAPIError(f"TASKS cannot be read ({exc}); fix it (see manage.py check).") from exc
    serializer = DescribedRecords(RECORD_SERIALIZER, tuple(sorted(STATUSES)))
    return [
        (dataclasses.replace(queue.event, serializer=serializer), (actor,))
        for queue, actor in zip(queues, actors, strict=True)
    ]
