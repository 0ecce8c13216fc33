"""The task queues of TASKS in the in-process test mode: the bus runs each queue's actor (the real
`TaskRunner`), results live in memory, sync task functions run in the caller's thread.

Django's Tasks framework is optional: without it there are no queues and nothing to divert.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
from collections.abc import Coroutine
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

from asgiref.sync import async_to_sync

from ..actors import Actor

if TYPE_CHECKING:
    from ..tasks.queues import TaskQueue
    from ..tasks.records import TaskRecord
    from ..tasks.routing import StandIn
    from ..tasks.store import ResultStore
    from .task_results import ResultsInMemory

T = TypeVar("T")

TASKS_MODULES = ("django_tasks", "django.tasks")


@functools.cache
def tasks_routing() -> ModuleType | None:
    """`walnats_django.tasks.routing`, or None without Django's Tasks framework (imported once)."""
    try:
        from ..tasks import routing
    except ModuleNotFoundError as exc:
        if exc.name not in TASKS_MODULES:
            raise
        return None
    return routing


def divert(stand_in: StandIn | None) -> StandIn | None:
    """Install `stand_in` for every WalnatsBackend (None: NATS); return the previous one."""
    routing = tasks_routing()
    if routing is None:
        return None
    previous: StandIn | None = routing.divert(stand_in)
    return previous


def queue_actors() -> dict[str, Actor[Any, Any]]:
    """The actors of the task queues of TASKS as `runactors` runs them, by queue name; none
    without Django's Tasks framework."""
    if tasks_routing() is None:
        return {}
    from ..tasks.queues import configured_queues
    from ..tasks.runner import queue_actor

    return {queue.name: queue_actor(queue) for queue in configured_queues()}


class InProcessTasks:
    """Stands in for NATS for the task backend while its bus is active (`tasks.routing.StandIn`)."""

    def __init__(self, *, max_payload: int) -> None:
        self.max_payload = max_payload
        self._lock = threading.Lock()
        self._results: dict[str, ResultsInMemory] = {}
        self._actors: dict[str, Actor[Any, Any]] | None = None

    def results(self, store: ResultStore) -> ResultsInMemory:
        """The in-memory stand-in for `store`'s bucket (one per bucket, shared by every thread)."""
        from .task_results import ResultsInMemory

        with self._lock:
            if store.bucket not in self._results:
                self._results[store.bucket] = ResultsInMemory(store.bucket, max_payload=self.max_payload)
            return self._results[store.bucket]

    def run_sync(self, coro: Coroutine[Any, Any, T]) -> T:
        """Through async_to_sync, so the tasks it runs share the caller's thread (and database
        connection), as the sync twins run handlers in process."""

        async def awaited() -> T:
            return await coro

        return async_to_sync(awaited)()

    def actor_for(self, event_name: str) -> Actor[Any, Any] | None:
        """The actor running the task queue whose event is `event_name`, or None."""
        if tasks_routing() is None:
            return None
        from ..tasks.queues import SUBJECT_PREFIX

        if not event_name.startswith(f"{SUBJECT_PREFIX}."):
            return None  # not a queue: the queue actors (and TASKS' checks) stay untouched
        return self._queue_actors().get(event_name)

    def current(self, record: TaskRecord) -> TaskRecord:
        """`record` (as enqueued) as it is stored now."""
        from ..tasks.backend import bucket_name

        with self._lock:
            results = self._results.get(bucket_name(record.backend))
        stored = None if results is None else results.get(record.id)
        return record if stored is None else stored.record

    def _queue_actors(self) -> dict[str, Actor[Any, Any]]:
        if self._actors is None:
            from ..tasks.queues import configured_queues

            self._actors = {queue.event.name: self._queue_actor(queue) for queue in configured_queues()}
        return self._actors

    def _queue_actor(self, queue: TaskQueue) -> Actor[Any, Any]:
        """The queue's actor as `runactors` has it, its runner on these results and calls."""
        from ..tasks.backend import WalnatsBackend
        from ..tasks.compat import task_backends
        from ..tasks.runner import TaskRunner, queue_actor
        from .task_calls import CallerThreadCalls

        backend = task_backends[queue.alias]
        assert isinstance(backend, WalnatsBackend)
        runner = TaskRunner(
            backend,
            queue.name,
            store=self.results(backend.store),
            calls=CallerThreadCalls(backend.task_options.job_timeout),
        )
        return dataclasses.replace(queue_actor(queue), handler=runner)
