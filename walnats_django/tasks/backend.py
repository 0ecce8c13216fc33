"""`WalnatsBackend`: Django's Tasks API on NATS JetStream.

`enqueue` publishes the task to its queue's stream (`Nats-Msg-Id` = result id) and returns
after JetStream stored it; `runactors` runs the queues; results live in a key-value bucket
that any process reads with `get_result`.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Coroutine, Iterable
from typing import Any, ParamSpec, TypeVar

from django.core import checks
from django.core.exceptions import ImproperlyConfigured, SynchronousOnlyOperation
from django.utils import timezone

from ..errors import PayloadTooLarge
from . import signals
from .compat import (
    DEFAULT_TASK_PRIORITY,
    BaseTaskBackend,
    InvalidTask,
    Task,
    TaskResult,
    TaskResultDoesNotExist,
    TaskResultStatus,
    task_enqueued,
)
from .enqueueing import enqueue_record
from .errors import TaskArgumentsError
from .options import parse_options
from .queues import queue_name_problem
from .records import TaskRecord
from .resolve import resolve_task
from .routing import results, run_sync
from .store import ResultStore

T = TypeVar("T")
P = ParamSpec("P")

DEFAULT_QUEUES = ("default",)


def bucket_name(alias: str) -> str:
    """The results bucket of backend `alias` (a JetStream key-value bucket)."""
    return f"tasks-{alias}"


class WalnatsBackend(BaseTaskBackend):
    """`TASKS = {"default": {"BACKEND": "walnats_django.tasks.WalnatsBackend", "QUEUES": [...],
    "OPTIONS": {...}}}`; see `options.DEFAULTS` for the OPTIONS."""

    supports_defer = True
    supports_async_task = True
    supports_get_result = True
    supports_priority = False

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        queues = params.get("QUEUES", DEFAULT_QUEUES)
        self.queue_names: tuple[str, ...] = (
            ()
            if isinstance(queues, str) or not isinstance(queues, Iterable)
            else tuple(dict.fromkeys(queues))
        )
        """The queues in TASKS order (the base class keeps them as a set)."""
        self.task_options, self.option_problems = parse_options(alias, params.get("OPTIONS", {}))
        self.store = ResultStore(bucket_name(alias), ttl=self.task_options.result_ttl)

    def validate_task(self, task: Task[Any, Any]) -> None:
        """The base checks, with priority refused in words that say what to do instead."""
        if task.priority != DEFAULT_TASK_PRIORITY:
            raise InvalidTask(
                f"WalnatsBackend cannot honour priority={task.priority!r} ({task.module_path}): a queue "
                "runs its tasks in the order they were enqueued. Give urgent tasks a queue of their own "
                "(QUEUES, with `runactors --queue NAME` workers) and leave priority at 0."
            )
        if task.queue_name not in self.queue_names:
            raise InvalidTask(
                f"queue {task.queue_name!r} of {task.module_path} is not in TASKS[{self.alias!r}]['QUEUES'] "
                f"({', '.join(self.queue_names) or 'none'}); add it there (runactors then runs it)."
            )
        problem = queue_name_problem(task.queue_name)
        if problem is not None:
            raise InvalidTask(f"{problem}; rename it in TASKS[{self.alias!r}]['QUEUES'].")
        super().validate_task(task)

    def require_valid_options(self) -> None:
        """`ImproperlyConfigured` when OPTIONS has problems (`manage.py check` lists them all)."""
        if self.option_problems:
            raise ImproperlyConfigured(f"{self.option_problems[0]} (manage.py check lists every problem).")

    # -- enqueue ----------------------------------------------------------------------------------

    def enqueue(self, task: Task[P, T], args: P.args, kwargs: P.kwargs) -> TaskResult[T]:  # type: ignore[valid-type]
        """Store the task in its queue and return its READY result once JetStream has it."""
        result = self._new_result(task, list(args), dict(kwargs))
        _run_sync(self._submit(result), "Task.enqueue()", "await task.aenqueue(...)")
        task_enqueued.send(sender=type(self), task_result=result)
        return result

    async def aenqueue(self, task: Task[P, T], args: P.args, kwargs: P.kwargs) -> TaskResult[T]:  # type: ignore[valid-type]
        """`enqueue` on the caller's event loop (no thread)."""
        result = self._new_result(task, list(args), dict(kwargs))
        await self._submit(result)
        await signals.asend(task_enqueued, type(self), task_result=result)
        return result

    def _new_result(self, task: Task[Any, T], args: list[Any], kwargs: dict[str, Any]) -> TaskResult[T]:
        self.validate_task(task)
        self.require_valid_options()
        try:
            return TaskResult(
                task=task,
                id=secrets.token_urlsafe(24),
                status=TaskResultStatus.READY,
                enqueued_at=timezone.now(),
                started_at=None,
                finished_at=None,
                last_attempted_at=None,
                args=args,
                kwargs=kwargs,
                backend=self.alias,
                errors=[],
                worker_ids=[],
            )
        except (TypeError, ValueError) as exc:
            raise TaskArgumentsError(
                f"the arguments of {task.module_path} cannot be stored as JSON ({exc}); pass str, int, "
                "float, bool, None, and lists and dicts of them (e.g. a model's pk, not the instance)."
            ) from exc

    async def _submit(self, result: TaskResult[Any]) -> None:
        store = results(self.store)
        record = TaskRecord.of(result)
        payload = record.encode()
        # Half the room: the stored result must still take errors and the return value.
        limit = await store.size_limit() // 2
        if len(payload) > limit:
            raise PayloadTooLarge(
                f"the arguments of {record.task} take {len(payload)} bytes, over the {limit} a task may "
                "take (half the server's max_payload); pass a reference instead (a pk, a file name)."
            )
        delay = None if record.run_after is None else record.run_after.timestamp() - time.time()
        await enqueue_record(store, record, delay if delay and delay > 0 else None)

    # -- results ----------------------------------------------------------------------------------

    def get_result(self, result_id: str) -> TaskResult[Any]:
        """The stored result, from any process; `TaskResultDoesNotExist` for an unknown id."""
        return _run_sync(self.aget_result(result_id), "get_result()", "await ....aget_result(...)")

    async def aget_result(self, result_id: str) -> TaskResult[Any]:
        """`get_result` on the caller's event loop."""
        stored = await results(self.store).read(result_id)
        if stored is None:
            raise TaskResultDoesNotExist(result_id)
        return self.result_of(stored.record)

    def result_of(self, record: TaskRecord) -> TaskResult[Any]:
        """The `TaskResult` of a stored record; `InvalidTask` when its task cannot be imported here."""
        return record.to_result(resolve_task(record, self))

    # -- checks -----------------------------------------------------------------------------------

    def check(self, **kwargs: Any) -> Iterable[checks.CheckMessage]:
        """E030-E034: OPTIONS, queue and alias names, queues shared or clashing with events."""
        yield from super().check(**kwargs)
        from .checking import backend_problems

        yield from backend_problems(self)


def _run_sync(coro: Coroutine[Any, Any, T], what: str, instead: str) -> T:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return run_sync(coro)
    coro.close()
    raise SynchronousOnlyOperation(f"{what} cannot run inside an event loop; use `{instead}` in async code.")
