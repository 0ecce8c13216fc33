"""Live JetStream numbers of task queues and results buckets (the admin's "Task queues" page).

As in `walnats_django.introspection`: functions of a nats-py `JetStreamContext`; a stream, consumer
or bucket that does not exist yet is `None`, any other failure is raised to the caller.
"""

from __future__ import annotations

import asyncio
import dataclasses

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from .. import deadletters
from ..introspection import ConsumerStats, StreamStats, stream_stats
from .queues import TaskQueue


@dataclasses.dataclass(frozen=True)
class QueueState:
    """A task queue's stream, its consumer and its dead letters."""

    queue: TaskQueue
    stream: StreamStats | None
    consumer: ConsumerStats | None
    """`num_pending` is the backlog; `num_ack_pending` counts tasks running and tasks waiting for
    their `run_after` or a retry delay alike (JetStream does not tell them apart)."""
    dead_letters: int
    """Messages of this queue in the dead-letter stream (tasks that FAILED for good)."""


@dataclasses.dataclass(frozen=True)
class BucketState:
    """A backend's results bucket."""

    name: str
    results: int
    """Results stored (one message per result id)."""
    bytes: int
    ttl: float | None
    """Seconds a result is kept after its last change; None: for ever."""
    replicas: int


async def bucket_state(js: JetStreamContext, bucket: str) -> BucketState | None:
    """The results bucket `bucket`, or None before the first task was enqueued."""
    try:
        info = await js.stream_info(f"KV_{bucket}")
    except NotFoundError:
        return None
    max_age = info.config.max_age
    return BucketState(
        name=bucket,
        results=info.state.messages,
        bytes=info.state.bytes,
        ttl=max_age if max_age else None,
        replicas=info.config.num_replicas or 1,
    )


async def consumer_state(js: JetStreamContext, queue: TaskQueue) -> ConsumerStats | None:
    """The queue's durable consumer, or None when it (or its stream) does not exist."""
    try:
        info = await js.consumer_info(queue.event.stream_name, queue.consumer)
    except NotFoundError:
        return None
    return ConsumerStats(
        num_pending=info.num_pending or 0,
        num_ack_pending=info.num_ack_pending or 0,
        num_redelivered=info.num_redelivered or 0,
        num_waiting=info.num_waiting or 0,
    )


async def dead_letter_count(js: JetStreamContext, queue: TaskQueue) -> int:
    """Dead letters of the queue's consumer: one subject count, not a read of the letters."""
    subject = f"{deadletters.SUBJECT_PREFIX}.{queue.event.stream_name}.{queue.consumer}"
    try:
        info = await js.stream_info(deadletters.STREAM, subjects_filter=subject)
    except NotFoundError:
        return 0
    return (info.state.subjects or {}).get(subject, 0)


async def queue_state(js: JetStreamContext, queue: TaskQueue) -> QueueState:
    """The queue's numbers, looked up concurrently."""
    stream, consumer, dead = await asyncio.gather(
        stream_stats(js, queue.event), consumer_state(js, queue), dead_letter_count(js, queue)
    )
    # Without a stream there is no consumer, whatever a racing lookup said.
    return QueueState(queue, stream, consumer if stream is not None else None, dead)
