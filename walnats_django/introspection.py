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
class ReplicaState:
    """A follower copy of a stream in a JetStream cluster, as its leader sees it."""

    name: str
    """The server holding it."""
    current: bool
    """Caught up with the leader."""
    offline: bool
    """Its server is unreachable."""
    lag: int
    """Operations it is behind the leader."""
    active: float
    """Seconds since the leader last heard from it."""


@dataclasses.dataclass(frozen=True)
class StreamStats:
    """The state of an event's stream, and where it lives."""

    messages: int
    bytes: int
    consumers: int
    storage: str = "file"
    """"file" or "memory"."""
    replicas: int = 1
    """Copies the stream asks for (1 on a single node)."""
    leader: str | None = None
    """The server leading the stream (None while a leader is elected)."""
    followers: tuple[ReplicaState, ...] = ()
    """The other copies (none on a single node)."""


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
    state, config, cluster = info.state, info.config, info.cluster
    followers = tuple(
        ReplicaState(
            name=peer.name or "?",
            current=bool(peer.current),
            offline=bool(peer.offline),
            lag=peer.lag or 0,
            active=(peer.active or 0) / 1e9,
        )
        for peer in (cluster.replicas or [] if cluster is not None else [])
    )
    return StreamStats(
        messages=state.messages,
        bytes=state.bytes,
        consumers=state.consumer_count,
        storage=str(getattr(config.storage, "value", config.storage) or "file"),
        replicas=config.num_replicas or 1,
        leader=cluster.leader if cluster is not None else None,
        followers=followers,
    )


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
