"""Live JetStream numbers for registered events and actors (used by the admin page).

Every function takes a nats-py `JetStreamContext`; a stream or consumer that does not exist
yet is `None`, any other failure (timeout, JetStream disabled) is raised to the caller.
Bound the time spent with the context's own `timeout` and/or `asyncio.timeout()`.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from .actors import Actor
from .events import Event


@dataclasses.dataclass(frozen=True)
class StreamStats:
    """The state of an event's stream."""

    messages: int
    bytes: int
    consumers: int


@dataclasses.dataclass(frozen=True)
class ConsumerStats:
    """The state of an actor's durable consumer."""

    num_pending: int
    """Messages in the stream this consumer has not been given yet."""
    num_ack_pending: int
    """Messages given to a worker and not acknowledged yet."""
    num_redelivered: int
    """Messages given more than once and not acknowledged yet."""
    num_waiting: int
    """Open pull requests (roughly: idle worker slots asking for work)."""


@dataclasses.dataclass(frozen=True)
class EventStats:
    """An event's stream and its actors' consumers; `None` means "not created yet"."""

    stream: StreamStats | None
    consumers: dict[str, ConsumerStats | None]
    """Actor name -> its consumer's state."""


async def stream_stats(js: JetStreamContext, event: Event[Any, Any]) -> StreamStats | None:
    """The event's stream state, or `None` when the stream does not exist."""
    try:
        info = await js.stream_info(event.stream_name)
    except NotFoundError:
        return None
    state = info.state
    return StreamStats(messages=state.messages, bytes=state.bytes, consumers=state.consumer_count)


async def consumer_stats(js: JetStreamContext, actor: Actor[Any, Any]) -> ConsumerStats | None:
    """The actor's consumer state, or `None` when the consumer (or its stream) does not exist."""
    try:
        info = await js.consumer_info(actor.event.stream_name, actor.name)
    except NotFoundError:
        return None
    return ConsumerStats(
        num_pending=info.num_pending or 0,
        num_ack_pending=info.num_ack_pending or 0,
        num_redelivered=info.num_redelivered or 0,
        num_waiting=info.num_waiting or 0,
    )


async def event_stats(
    js: JetStreamContext, event: Event[Any, Any], actors: Sequence[Actor[Any, Any]]
) -> EventStats:
    """The stream of `event` and the consumers of `actors`, looked up concurrently."""
    stream, consumers = await asyncio.gather(
        stream_stats(js, event), asyncio.gather(*(consumer_stats(js, actor) for actor in actors))
    )
    # Without a stream there is no consumer, whatever a racing lookup said.
    by_actor = {
        actor.name: found if stream is not None else None
        for actor, found in zip(actors, consumers, strict=True)
    }
    return EventStats(stream=stream, consumers=by_actor)


async def all_event_stats(
    js: JetStreamContext, events: Iterable[tuple[Event[Any, Any], Sequence[Actor[Any, Any]]]]
) -> dict[str, EventStats]:
    """`event_stats` for each (event, actors) pair, concurrently; keyed by event name."""
    pairs = list(events)
    results = await asyncio.gather(*(event_stats(js, event, actors) for event, actors in pairs))
    return {event.name: stats for (event, _), stats in zip(pairs, results, strict=True)}
