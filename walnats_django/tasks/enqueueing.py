"""Putting a task on its queue: store the READY result, then publish the message that names it.

READY first, so the message can carry that revision and a worker claims it with one
compare-and-set write. A publish that fails is settled on the READY record: FAILED with the
error, unless a worker claimed the task already (its PubAck came late), when the enqueue stands.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable

from django.utils import timezone

from ..errors import EventNotRegistered
from ..events import Event
from ..publisher import publish_encoded
from ..wire import build_headers
from .errors import TaskQueueMissing
from .queues import queue_event
from .records import TaskRecord, task_error
from .routing import Results

logger = logging.getLogger("walnats_django.tasks")


async def enqueue_record(store: Results, record: TaskRecord, delay: float | None) -> None:
    """Store `record` READY and publish it to its queue; returns once JetStream has the message.

    Runs to its end even when the caller is cancelled (the task may then still run): stopping
    between the two steps would leave a READY result that nothing runs.
    """
    job = asyncio.ensure_future(_store_and_publish(store, record, delay))
    try:
        await asyncio.shield(job)
    except asyncio.CancelledError:
        job.add_done_callback(_report_in_background(record))
        raise


async def _store_and_publish(store: Results, record: TaskRecord, delay: float | None) -> None:
    revision = await store.write(record, 0)
    if revision is None:
        raise RuntimeError(f"result id {record.id!r} exists already in the results bucket: a bug.")
    event = queue_event(record.queue)
    message = dataclasses.replace(record, ready_revision=revision).encode()
    try:
        await _publish(event, message, build_headers(uid=record.id, delay=delay), record.queue)
    except Exception as exc:
        if await _abandon(store, record, revision, exc):
            raise
        logger.info(
            "Task id=%s path=%s: the publish raised %s, but a worker has claimed the task already: "
            "it is enqueued",
            record.id,
            record.task,
            type(exc).__name__,
        )


async def _publish(
    event: Event[TaskRecord, None], message: bytes, headers: dict[str, str], queue: str
) -> None:
    """Publish a task message and wait for JetStream to store it; `TaskQueueMissing` without a stream."""
    try:
        await publish_encoded(event, message, headers, wait=True)
    except EventNotRegistered as exc:
        if isinstance(exc, TaskQueueMissing):
            raise
        raise TaskQueueMissing(
            f"task queue {queue!r} has no stream yet ({event.stream_name!r}); run "
            "`manage.py runactors` once (it creates the queues of TASKS), then enqueue again."
        ) from exc


async def _abandon(store: Results, record: TaskRecord, revision: int, error: Exception) -> bool:
    """Store FAILED with `error` over the READY record of a failed publish, so its message, should
    JetStream have stored it after all, never runs; False when a worker claimed it first."""
    failed = record.failed(task_error(error), timezone.now(), final=True)
    try:
        return await store.write(failed, revision) is not None
    except Exception as exc:  # noqa: BLE001 - the enqueue's own error is the one raised
        logger.warning(
            "Task id=%s path=%s was not enqueued (%s) and its READY result could not be marked FAILED "
            "(%r); it stays READY until RESULT_TTL, and runs if JetStream stored its message after all",
            record.id,
            record.task,
            type(error).__name__,
            exc,
        )
        return True


def _report_in_background(record: TaskRecord) -> Callable[[asyncio.Future[None]], None]:
    """Log how an enqueue whose caller was cancelled ended."""

    def report(job: asyncio.Future[None]) -> None:
        if job.cancelled():
            return
        error = job.exception()
        if error is None:
            logger.info("Task id=%s path=%s enqueued after its caller was cancelled", record.id, record.task)
        else:
            logger.warning(
                "Task id=%s path=%s: enqueue failed after its caller was cancelled: %r",
                record.id,
                record.task,
                error,
            )

    return report
