"""A task result as JSON: the queue message that asks for a run and the value kept in the bucket.

One format for both, so a worker that gets a message before its result is stored can store it.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import traceback
from typing import Any

from .compat import Task, TaskError, TaskResult, TaskResultStatus

MAX_TRACEBACK = 32 * 1024
"""Characters of a traceback kept per error (the end, where the exception is)."""
FINISHED = frozenset({TaskResultStatus.SUCCESSFUL.value, TaskResultStatus.FAILED.value})
STATUSES = frozenset(status.value for status in TaskResultStatus)
_TIMES = ("run_after", "enqueued_at", "started_at", "finished_at", "last_attempted_at")


SHORT_TRACEBACK = 1024
"""Characters of each traceback kept when a record would not fit the server's max_payload."""


def task_error(exc: BaseException) -> TaskError:
    """`exc` as a result's error: its class path and its traceback (chained causes included)."""
    kind = type(exc)
    return TaskError(
        exception_class_path=f"{kind.__module__}.{kind.__qualname__}",
        traceback=_tail("".join(traceback.format_exception(exc)), MAX_TRACEBACK),
    )


def _tail(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"[{len(text) - limit} characters cut]\n{text[-limit:]}"


class NotJSON(ValueError):
    """A record holds a value JSON cannot (the arguments or the return value)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class TaskRecord:
    """Everything a `TaskResult` holds, with its task as a dotted path."""

    id: str
    task: str
    """The task's module path, e.g. `myapp.tasks.send_email`."""
    backend: str
    queue: str
    args: list[Any]
    kwargs: dict[str, Any]
    status: str = TaskResultStatus.READY.value
    run_after: datetime.datetime | None = None
    enqueued_at: datetime.datetime | None = None
    started_at: datetime.datetime | None = None
    finished_at: datetime.datetime | None = None
    last_attempted_at: datetime.datetime | None = None
    errors: tuple[TaskError, ...] = ()
    worker_ids: tuple[str, ...] = ()
    return_value: Any = None
    ready_revision: int | None = None
    """In a queue message only: the revision of the READY record the enqueuer stored, so the
    worker's claim of a first delivery is one compare-and-set write with no read."""

    @classmethod
    def of(cls, result: TaskResult[Any]) -> TaskRecord:
        """The record of a result just made by `enqueue` (arguments already JSON-normalized)."""
        task = result.task
        return cls(
            id=result.id,
            task=task.module_path,
            backend=result.backend,
            queue=task.queue_name,
            args=list(result.args),
            kwargs=dict(result.kwargs),
            status=result.status.value,
            run_after=task.run_after,
            enqueued_at=result.enqueued_at,
        )

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED

    @property
    def failures(self) -> int:
        """Attempts that ended without success (raised, timed out or lost with their worker)."""
        return len(self.errors)

    def started(self, worker_id: str, now: datetime.datetime) -> TaskRecord:
        """An attempt begins on `worker_id`."""
        return dataclasses.replace(
            self,
            status=TaskResultStatus.RUNNING.value,
            started_at=self.started_at or now,
            last_attempted_at=now,
            worker_ids=(*self.worker_ids, worker_id),
        )

    def succeeded(self, value: Any, now: datetime.datetime) -> TaskRecord:
        return dataclasses.replace(
            self, status=TaskResultStatus.SUCCESSFUL.value, finished_at=now, return_value=value
        )

    def failed(self, error: TaskError, now: datetime.datetime, *, final: bool) -> TaskRecord:
        """An attempt failed: FAILED when `final`, else READY for a retry."""
        status = TaskResultStatus.FAILED if final else TaskResultStatus.READY
        return dataclasses.replace(
            self,
            status=status.value,
            errors=(*self.errors, error),
            finished_at=now if final else None,
        )

    def shrunk(self) -> TaskRecord:
        """The record with each traceback cut to its last lines (when the whole is too large to store)."""
        errors = tuple(
            TaskError(
                exception_class_path=e.exception_class_path, traceback=_tail(e.traceback, SHORT_TRACEBACK)
            )
            for e in self.errors
        )
        return dataclasses.replace(self, errors=errors)

    def handed_back(self) -> TaskRecord:
        """The attempt was interrupted on purpose (the worker stopped): READY for another worker."""
        return dataclasses.replace(self, status=TaskResultStatus.READY.value)

    def to_result(self, task: Task[Any, Any]) -> TaskResult[Any]:
        """The `TaskResult` this record describes, for `task` (resolved from `self.task`)."""
        result: TaskResult[Any] = TaskResult(
            task=task,
            id=self.id,
            status=TaskResultStatus(self.status),
            enqueued_at=self.enqueued_at,
            started_at=self.started_at,
            finished_at=self.finished_at,
            last_attempted_at=self.last_attempted_at,
            args=self.args,
            kwargs=self.kwargs,
            backend=self.backend,
            errors=list(self.errors),
            worker_ids=list(self.worker_ids),
        )
        object.__setattr__(result, "_return_value", self.return_value)
        return result

    def encode(self) -> bytes:
        """Compact JSON; `NotJSON` when a value is not JSON."""
        fields: dict[str, Any] = {
            "id": self.id,
            "task": self.task,
            "backend": self.backend,
            "queue": self.queue,
            "status": self.status,
            "args": self.args,
            "kwargs": self.kwargs,
            **{name: _time_text(getattr(self, name)) for name in _TIMES},
            "errors": [
                {"exception_class_path": e.exception_class_path, "traceback": e.traceback}
                for e in self.errors
            ],
            "worker_ids": list(self.worker_ids),
            "return_value": self.return_value,
        }
        if self.ready_revision is not None:
            fields["ready_revision"] = self.ready_revision
        try:
            return json.dumps(fields, separators=(",", ":"), allow_nan=False).encode()
        except (TypeError, ValueError) as exc:
            raise NotJSON(str(exc)) from exc

    @classmethod
    def decode(cls, data: bytes) -> TaskRecord:
        """The record in `data`; `ValueError` says what is malformed."""
        fields = json.loads(data)
        if not isinstance(fields, dict):
            raise ValueError("a task record must be a JSON object")
        for name in ("id", "task", "backend", "queue", "status"):
            if not isinstance(fields.get(name), str) or not fields[name]:
                raise ValueError(f"task record field {name!r} must be a non-empty string")
        if fields["status"] not in STATUSES:
            raise ValueError(f"task record status {fields['status']!r} is not one of {sorted(STATUSES)}")
        if not isinstance(fields.get("args"), list) or not isinstance(fields.get("kwargs"), dict):
            raise ValueError("task record args must be a list and kwargs an object")
        errors = fields.get("errors") or []
        workers = fields.get("worker_ids") or []
        if not isinstance(errors, list) or not all(_is_error(e) for e in errors):
            raise ValueError("task record errors must be objects with exception_class_path and traceback")
        if not isinstance(workers, list) or not all(isinstance(w, str) for w in workers):
            raise ValueError("task record worker_ids must be a list of strings")
        ready_revision = fields.get("ready_revision")
        if ready_revision is not None and (type(ready_revision) is not int or ready_revision < 1):
            raise ValueError("task record ready_revision must be a positive integer or absent")
        return cls(
            id=fields["id"],
            task=fields["task"],
            backend=fields["backend"],
            queue=fields["queue"],
            status=fields["status"],
            args=fields["args"],
            kwargs=fields["kwargs"],
            **{name: _time(fields.get(name), name) for name in _TIMES},
            errors=tuple(
                TaskError(exception_class_path=e["exception_class_path"], traceback=e["traceback"])
                for e in errors
            ),
            worker_ids=tuple(workers),
            return_value=fields.get("return_value"),
            ready_revision=ready_revision,
        )


_STATUS_FIELD = b',"status":"'


def record_status(data: bytes) -> str:
    """The status of an encoded record, read without decoding the rest when `encode()` wrote it
    (which puts it before args and return value); `ValueError` when the record is malformed."""
    start = data.find(_STATUS_FIELD) + len(_STATUS_FIELD)
    end = data.find(b'"', start) if start >= len(_STATUS_FIELD) else -1
    status = data[start:end].decode("ascii", "replace") if end >= 0 else ""
    return status if status in STATUSES else TaskRecord.decode(data).status


def _is_error(value: object) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("exception_class_path"), str)
        and isinstance(value.get("traceback"), str)
    )


def _time_text(value: datetime.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _time(value: object, name: str) -> datetime.datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"task record field {name!r} must be an ISO 8601 time or null")
    return datetime.datetime.fromisoformat(value)


class RecordSerializer:
    """The queue events' serializer: task records as JSON."""

    def encode(self, message: TaskRecord) -> bytes:
        return message.encode()

    def decode(self, data: bytes) -> TaskRecord:
        return TaskRecord.decode(data)


RECORD_SERIALIZER = RecordSerializer()
