"""Live JetStream numbers for registered events and actors (used by the admin and `manage.py orphans`).

Every function takes a nats-py `JetStreamContext`; a stream or consumer that does not exist
yet is `None`, any other failure (timeout, JetStream disabled) is raised to the caller.
Bound the time spent with the context's own `timeout` and/or `asyncio.timeout()`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, ConsumerInfo, StreamConfig
from nats.js.errors import NotFoundError

from . import deadletters
from .actors import Actor
from .events import Event

CONSUMER_PAGE = 256
"""Consumers JetStream lists per `CONSUMER.LIST` answer."""


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
    config: StreamConfig | None = dataclasses.field(default=None, compare=False, repr=False)
    """The stream's configuration on the server (compared with the code's on the event's admin page)."""


@dataclasses.dataclass(frozen=True)
class ConsumerStats:
    """The state of a durable consumer (an actor's, or an orphan's)."""

    num_pending: int
    """Messages in the stream this consumer has not been given yet."""
    num_ack_pending: int
    """Messages given to a worker and not acknowledged yet."""
    num_redelivered: int
    """Messages given more than once and not acknowledged yet."""
    num_waiting: int
    """Open pull requests (roughly: idle worker slots asking for work)."""
    last_delivery: datetime.datetime | None = None
    """When the consumer last delivered a message (None: never)."""
    config: ConsumerConfig | None = dataclasses.field(default=None, compare=False, repr=False)
    """The consumer's configuration on the server."""

    @classmethod
    def from_info(cls, info: ConsumerInfo) -> ConsumerStats:
        delivered = info.delivered
        return cls(
            num_pending=info.num_pending or 0,
            num_ack_pending=info.num_ack_pending or 0,
            num_redelivered=info.num_redelivered or 0,
            num_waiting=info.num_waiting or 0,
            last_delivery=delivered.last_active if delivered is not None else None,
            config=info.config,
        )


@dataclasses.dataclass(frozen=True)
class OrphanConsumer:
    """A durable consumer on an event's stream that no registered actor of the event owns.

    On an interest stream it keeps every message until it acknowledges it, so a consumer left by a
    removed or renamed actor fills the stream until the event's limits reject new messages.
    """

    event: str
    stream: str
    name: str
    stats: ConsumerStats
    created: datetime.datetime | None = None
    description: str | None = None


@dataclasses.dataclass(frozen=True)
class EventStats:
    """An event's stream, its actors' consumers, orphans and dead letters; `None` means "not created yet"."""

    stream: StreamStats | None
    consumers: dict[str, ConsumerStats | None]
    """Actor name -> its consumer's state."""
    orphans: tuple[OrphanConsumer, ...] = ()
    """Durable consumers on the stream that belong to no registered actor of the event."""
    dead_letters: Mapping[str, int] = dataclasses.field(default_factory=dict)
    """Consumer (actor) name -> dead letters it left; see `deadletters.counts`."""

    @property
    def dead_letter_total(self) -> int:
        return sum(self.dead_letters.values())


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
        config=config,
    )


async def consumer_stats(js: JetStreamContext, actor: Actor[Any, Any]) -> ConsumerStats | None:
    """The actor's consumer state, or `None` when the consumer (or its stream) does not exist."""
    try:
        info = await js.consumer_info(actor.event.stream_name, actor.name)
    except NotFoundError:
        return None
    return ConsumerStats.from_info(info)


async def stream_consumers(js: JetStreamContext, stream: str) -> list[ConsumerInfo] | None:
    """Every consumer of `stream` (as many pages as JetStream needs); `None` if the stream does not exist."""
    found: list[ConsumerInfo] = []
    while True:
        try:
            page = await js.consumers_info(stream, offset=len(found) or None)
        except NotFoundError:
            return None
        found.extend(page)
        if len(page) < CONSUMER_PAGE:
            return found


def orphans_among(
    event: Event[Any, Any], actors: Sequence[Actor[Any, Any]], consumers: Iterable[ConsumerInfo]
) -> tuple[OrphanConsumer, ...]:
    """The durable consumers whose name is no actor's; ephemeral ones go away on their own."""
    owned = {actor.name for actor in actors}
    return tuple(
        OrphanConsumer(
            event=event.name,
            stream=event.stream_name,
            name=info.name,
            stats=ConsumerStats.from_info(info),
            created=info.created,
            description=info.config.description,
        )
        for info in sorted(consumers, key=lambda info: info.name)
        if info.config.durable_name and info.name not in owned
    )


async def event_stats(
    js: JetStreamContext,
    event: Event[Any, Any],
    actors: Sequence[Actor[Any, Any]],
    dead_letters: Mapping[tuple[str, str], int] | None = None,
) -> EventStats:
    """The stream of `event`, every consumer on it (one listing) and, from `dead_letters`
    (`deadletters.counts`), the dead letters of its consumers."""
    stream, consumers = await asyncio.gather(stream_stats(js, event), stream_consumers(js, event.stream_name))
    # Without a stream there is no consumer, whatever a racing lookup said.
    listed = {info.name: info for info in consumers or []} if stream is not None else {}
    by_actor = {
        actor.name: ConsumerStats.from_info(listed[actor.name]) if actor.name in listed else None
        for actor in actors
    }
    letters = {
        consumer: count
        for (stream_name, consumer), count in (dead_letters or {}).items()
        if stream_name == event.stream_name
    }
    return EventStats(
        stream=stream,
        consumers=by_actor,
        orphans=orphans_among(event, actors, listed.values()),
        dead_letters=letters,
    )


async def all_event_stats(
    js: JetStreamContext, events: Iterable[tuple[Event[Any, Any], Sequence[Actor[Any, Any]]]]
) -> dict[str, EventStats]:
    """`event_stats` for each (event, actors) pair, concurrently; keyed by event name."""
    pairs = list(events)
    counts = await deadletters.counts(js)
    results = await asyncio.gather(*(event_stats(js, event, actors, counts) for event, actors in pairs))
    return {event.name: stats for (event, _), stats in zip(pairs, results, strict=True)}
