"""Running a queue's tasks in `runactors`: each queue's actor hands its messages to a `TaskRunner`.

One attempt: read the stored result (finished: skip), mark it RUNNING with this worker's id,
call the task, store SUCCESSFUL, or the error with READY (a retry follows after RETRY_DELAY)
or FAILED (a dead letter follows). Every write names the revision it replaces.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import logging
import os
import socket
from typing import TYPE_CHECKING, Any

from django.utils import timezone
from django.utils.crypto import get_random_string

from ..actors import Actor
from ..errors import NatsUnavailable, PayloadTooLarge, RequestTimeout
from ..worker.outcomes import GiveUp, HandBack
from . import signals
from .calls import TaskCalls
from .compat import (
    InvalidTask,
    Task,
    TaskContext,
    TaskResultStatus,
    normalize_json,
    task_finished,
    task_started,
)
from .errors import ReturnValueNotStored, TaskTimeout, WorkerLost
from .queues import TaskQueue
from .records import NotJSON, TaskRecord, task_error
from .resolve import resolve_task
from .routing import Results

if TYPE_CHECKING:
    from .backend import WalnatsBackend

logger = logging.getLogger("walnats_django.tasks")

STORE_RETRY = 1.0
"""Seconds before a task whose result cannot be read or written (NATS trouble) is tried again."""
MAX_CLAIMS = 5
"""Reads of a result that keeps changing under us before the message is handed back."""
MAX_ACK_PENDING = 20_000
"""Tasks of a queue delivered and not yet done, across workers; waiting `run_after` tasks count."""

_worker_id: tuple[int, str] | None = None


def worker_id() -> str:
    """This process's id in `TaskResult.worker_ids`: host, pid and a random suffix."""
    global _worker_id
    if _worker_id is None or _worker_id[0] != os.getpid():
        name = f"{socket.gethostname()[:40]}-{os.getpid()}-{get_random_string(6)}"
        _worker_id = (os.getpid(), name)
    return _worker_id[1]


def queue_actor(queue: TaskQueue) -> Actor[TaskRecord, None]:
    """The actor that runs `queue` in `runactors` (a durable consumer on the queue's stream)."""
    from .backend import WalnatsBackend
    from .compat import task_backends

    backend = task_backends[queue.alias]
    assert isinstance(backend, WalnatsBackend)
    options = backend.task_options
    return Actor(
        queue.consumer,
        queue.event,
        TaskRunner(backend, queue.name),
        description=f"Runs the Django tasks of queue {queue.name!r} (backend {queue.alias!r}).",
        ack_wait=options.ack_wait,
        max_attempts=None,  # the runner counts attempts; JetStream deliveries include run_after waits
        max_ack_pending=MAX_ACK_PENDING,
        max_jobs=options.max_jobs,
        # A backstop only: the runner enforces JOB_TIMEOUT itself, then may wait for a sync task's thread.
        job_timeout=2 * options.job_timeout + 30,
        retry_delay=(STORE_RETRY,),
    )


class TaskRunner:
    """The handler of one queue's actor: runs each task message to a stored outcome."""

    def __init__(
        self,
        backend: WalnatsBackend,
        queue: str,
        *,
        store: Results | None = None,
        calls: TaskCalls | None = None,
    ) -> None:
        """`store` and `calls` replace the backend's results bucket and the thread pool (the
        in-process test mode keeps results in memory and calls sync tasks in the caller's thread)."""
        backend.require_valid_options()
        self.backend = backend
        self.queue = queue
        self.options = backend.task_options
        self.store: Results = backend.store if store is None else store
        self.calls = (
            TaskCalls(max_threads=self.options.max_jobs, timeout=self.options.job_timeout)
            if calls is None
            else calls
        )
        self.sender = type(backend)

    def __repr__(self) -> str:
        return f"TaskRunner(queue={self.queue!r}, backend={self.backend.alias!r})"

    async def __call__(self, message: TaskRecord) -> None:
        try:
            claimed = await self._claim(message)
        except PayloadTooLarge as exc:
            raise GiveUp(exc) from exc
        except (NatsUnavailable, RequestTimeout) as exc:
            logger.warning(
                "Task id=%s result unreachable (%s); trying again in %gs", message.id, exc, STORE_RETRY
            )
            raise HandBack(STORE_RETRY) from exc
        if claimed is None:
            return
        record, revision, task = claimed
        result = record.to_result(task)
        logger.debug("Task started id=%s path=%s attempt=%d", record.id, record.task, result.attempts)
        try:
            await signals.asend(task_started, self.sender, task_result=result)
            args = [TaskContext(task_result=result), *record.args] if task.takes_context else record.args
            value = await self.calls.call(task.func, args, record.kwargs)
        except asyncio.CancelledError:
            # Stopping (or the worker's backstop): hand the result back READY, not lost.
            with contextlib.suppress(Exception):
                await asyncio.shield(self.store.write(record.handed_back(), revision))
            raise
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - the task's failure, stored
            await self._failed(record, revision, task, exc)
            return
        await self._succeeded(record, revision, task, value)

    async def _claim(self, message: TaskRecord) -> tuple[TaskRecord, int, Task[Any, Any]] | None:
        """Mark the result RUNNING for this attempt; None when there is nothing to run."""
        await self.store.ensure_once()
        ready = dataclasses.replace(message, ready_revision=None)
        for claim in range(MAX_CLAIMS):
            if claim == 0 and message.ready_revision is not None:
                # Most likely still the READY record the enqueuer stored: a failed write reads it.
                record, revision = ready, message.ready_revision
            else:
                try:
                    stored = await self.store.read(message.id)
                except ValueError as exc:
                    logger.error("Task id=%s has an unreadable stored result: %s", message.id, exc)
                    raise GiveUp(exc) from exc
                record, revision = (stored.record, stored.revision) if stored else (ready, 0)
            if record.is_finished:
                logger.info(
                    "Task id=%s path=%s is %s already; this delivery is skipped",
                    record.id,
                    record.task,
                    record.status,
                )
                return None
            try:
                task = resolve_task(record, self.backend)
            except InvalidTask as exc:
                if await self._store_refusal(record, revision, exc):
                    raise GiveUp(exc) from exc
                continue
            if record.status == TaskResultStatus.RUNNING:
                # Its last attempt stored no outcome: the worker running it was killed or cut off.
                last = record.worker_ids[-1] if record.worker_ids else "?"
                lost = WorkerLost(
                    f"attempt {len(record.worker_ids)} on worker {last} "
                    "ended without an outcome (the worker was killed or lost NATS)."
                )
                record = record.failed(task_error(lost), _now(), final=self._final(record))
                if record.is_finished:
                    if await self.store.write(record, revision) is None:
                        continue
                    await self._finished(record, task, lost)
                    raise GiveUp(lost)
            started = record.started(worker_id(), _now())
            new_revision = await self.store.write(started, revision)
            if new_revision is not None:
                return started, new_revision, task
        logger.warning(
            "Task id=%s result kept changing during its claim; trying again in %gs", message.id, STORE_RETRY
        )
        raise HandBack(STORE_RETRY)

    async def _store_refusal(self, record: TaskRecord, revision: int, exc: InvalidTask) -> bool:
        """Store FAILED for a message that names no runnable Task; False when another write came first."""
        refused = record.failed(task_error(exc), _now(), final=True)
        if await self.store.write(refused, revision) is None:
            return False
        logger.error("Task refused id=%s path=%s: %s", record.id, record.task, exc)
        return True

    def _final(self, record: TaskRecord) -> bool:
        """Whether one more failure of `record` uses up its retries."""
        return record.failures + 1 > self.options.retries

    async def _failed(
        self, record: TaskRecord, revision: int, task: Task[Any, Any], exc: BaseException
    ) -> None:
        final = self._final(record)
        updated = record.failed(task_error(exc), _now(), final=final)
        if not await self._store_outcome(updated, revision):
            return
        if final:
            logger.error(
                "Task failed id=%s path=%s attempts=%d error=%s: %s",
                record.id,
                record.task,
                len(record.worker_ids),
                type(exc).__name__,
                exc,
            )
            await self._finished(updated, task, exc)
        else:
            logger.warning(
                "Task attempt failed id=%s path=%s attempt=%d error=%s: %s; retrying in %gs",
                record.id,
                record.task,
                len(record.worker_ids),
                type(exc).__name__,
                exc,
                self.options.retry_delay_for(updated.failures),
            )
        if isinstance(exc, TaskTimeout) and exc.thread is not None:
            # A sync task cannot be stopped: keep its message (in progress) and its job slot until
            # the thread ends, so no retry runs beside it and the thread pool is never oversold.
            await asyncio.wait({exc.thread})
        if final:
            raise GiveUp(exc)
        raise HandBack(self.options.retry_delay_for(updated.failures))

    async def _succeeded(self, record: TaskRecord, revision: int, task: Task[Any, Any], value: Any) -> None:
        try:
            done = record.succeeded(_normalized(value), _now())
            # The store encodes the record before any I/O: a value JSON cannot hold fails there.
            stored = await self._store_outcome(done, revision)
        except PayloadTooLarge as exc:
            await self._not_stored(record, revision, task, ReturnValueNotStored(f"{record.task}: {exc}"))
            return
        except NotJSON as exc:
            await self._not_stored(record, revision, task, _not_json(record, value, exc))
            return
        if stored:
            logger.debug("Task done id=%s path=%s", record.id, record.task)
            await self._finished(done, task, None)

    async def _not_stored(
        self, record: TaskRecord, revision: int, task: Task[Any, Any], error: ReturnValueNotStored
    ) -> None:
        """The task ran but its value cannot be kept: FAILED at once (a retry would repeat its effects)."""
        failed = record.failed(task_error(error), _now(), final=True)
        if await self._store_outcome(failed, revision):
            logger.error("Task failed id=%s path=%s: %s", record.id, record.task, error)
            await self._finished(failed, task, error)
            raise GiveUp(error)

    async def _store_outcome(self, record: TaskRecord, revision: int) -> bool:
        """Write an attempt's outcome, retrying through a NATS outage (the message stays in
        progress meanwhile); False (and a warning) when another attempt wrote since."""
        pause = 0.2
        while True:
            try:
                written = await self.store.write(record, revision)
                break
            except PayloadTooLarge as exc:
                if record.errors == record.shrunk().errors:
                    if record.status == TaskResultStatus.SUCCESSFUL.value:
                        raise  # the return value is too large: `_succeeded` stores FAILED instead
                    logger.error("Task id=%s outcome %s cannot be stored: %s", record.id, record.status, exc)
                    raise GiveUp(exc) from exc
                record = record.shrunk()
            except (NatsUnavailable, RequestTimeout) as exc:
                logger.warning(
                    "Task id=%s outcome %s not stored yet (%s); retrying in %gs",
                    record.id,
                    record.status,
                    exc,
                    pause,
                )
                await asyncio.sleep(pause)
                pause = min(pause * 2, 5.0)
        if written is not None:
            return True
        current = await self.store.read(record.id)
        logger.warning(
            "Task id=%s path=%s: another attempt stored %s meanwhile; this attempt's outcome is dropped",
            record.id,
            record.task,
            current.record.status if current else "nothing",
        )
        return False

    async def _finished(self, record: TaskRecord, task: Task[Any, Any], error: BaseException | None) -> None:
        """Send `task_finished` with `error` as the exception being handled, so `logger.exception`
        in receivers reports it."""
        await signals.asend_robust(task_finished, self.sender, error, task_result=record.to_result(task))


def _not_json(record: TaskRecord, value: Any, exc: Exception) -> ReturnValueNotStored:
    return ReturnValueNotStored(
        f"{record.task} returned {type(value).__name__} {value!r:.80}, which cannot be stored "
        f"as JSON ({exc}); return str, int, float, bool, None, or lists and dicts of them."
    )


def _normalized(value: Any) -> Any:
    """`normalize_json(value)`, its complaint as `NotJSON`."""
    try:
        return normalize_json(value)
    except (TypeError, ValueError) as exc:
        raise NotJSON(str(exc)) from exc


def _now() -> datetime.datetime:
    return timezone.now()
