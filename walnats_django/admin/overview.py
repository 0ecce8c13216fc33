"""The rows of the "Registered events" overview and of an event's page, from the registry and live state."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from ..actors import Actor
from ..events import Event
from ..introspection import ConsumerStats, EventStats, OrphanConsumer, StreamStats
from .drift import Setting, consumer_settings, stream_settings
from .formatting import ago, count, short_type, type_label


@dataclasses.dataclass(frozen=True)
class ActorRow:
    """An actor, its consumer's live numbers and its settings (with the server's where they differ)."""

    actor: Actor[Any, Any]
    handler: str
    consumer: ConsumerStats | None
    """Live numbers; None with `live.ok` means the consumer does not exist yet."""
    settings: dict[str, Setting]
    """ack_wait, max_attempts, max_ack_pending, description: code beside server."""
    retry_delay: str
    dead_letters: int
    last_delivery: str

    @property
    def drift(self) -> list[Setting]:
        return [s for s in self.settings.values() if s.drift]


@dataclasses.dataclass(frozen=True)
class EventRow:
    """One event: what the code declares, and the live sums of its actors' consumers."""

    event: Event[Any, Any]
    payload_type: str
    payload_type_full: str
    response_type: str
    """Empty for an emit-only event."""
    response_type_full: str
    actors: list[ActorRow]
    stream: StreamStats | None
    """None with `live.ok` means the stream does not exist yet."""
    orphans: tuple[OrphanConsumer, ...]
    dead_letters: int
    stream_settings: list[Setting]

    @property
    def backlog(self) -> int:
        """Messages not yet given to a worker, summed over the event's actors."""
        return sum(a.consumer.num_pending for a in self.actors if a.consumer)

    @property
    def in_progress(self) -> int:
        """Messages given to a worker and not acknowledged yet, summed over the event's actors."""
        return sum(a.consumer.num_ack_pending for a in self.actors if a.consumer)

    @property
    def redelivered(self) -> int:
        return sum(a.consumer.num_redelivered for a in self.actors if a.consumer)

    @property
    def missing_consumers(self) -> list[str]:
        return [a.actor.name for a in self.actors if a.consumer is None]

    @property
    def drift(self) -> list[Setting]:
        """Settings that differ from the server's, the stream's and its actors' consumers'."""
        return [s for s in self.stream_settings if s.drift] + [s for a in self.actors for s in a.drift]

    @property
    def actors_label(self) -> str:
        return count(len(self.actors), "actor")

    @property
    def orphans_label(self) -> str:
        return count(len(self.orphans), "orphan consumer")


def event_row(
    event: Event[Any, Any], actors: Sequence[Actor[Any, Any]], stats: EventStats | None
) -> EventRow:
    """`event` with its `actors`; `stats` None when there are no live numbers."""
    consumers = stats.consumers if stats is not None else {}
    stream = stats.stream if stats is not None else None
    letters = stats.dead_letters if stats is not None else {}
    return EventRow(
        event=event,
        payload_type=short_type(event.schema),
        payload_type_full=type_label(event.schema),
        response_type=short_type(event.response_schema) if event.has_response else "",
        response_type_full=type_label(event.response_schema) if event.has_response else "",
        actors=[_actor_row(actor, consumers.get(actor.name), letters.get(actor.name, 0)) for actor in actors],
        stream=stream,
        orphans=stats.orphans if stats is not None else (),
        dead_letters=stats.dead_letter_total if stats is not None else 0,
        stream_settings=stream_settings(event, stream.config if stream is not None else None),
    )


def _actor_row(actor: Actor[Any, Any], consumer: ConsumerStats | None, dead_letters: int) -> ActorRow:
    return ActorRow(
        actor=actor,
        handler=actor.describe_handler(),
        consumer=consumer,
        settings=consumer_settings(actor, consumer.config if consumer is not None else None),
        retry_delay=", ".join(f"{d:g}" for d in actor.retry_delay) + " s" if actor.retry_delay else "none",
        dead_letters=dead_letters,
        last_delivery=ago(consumer.last_delivery) if consumer is not None else "",
    )
