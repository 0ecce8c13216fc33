"""Orphan consumers: durable consumers on a registered event's stream that no registered actor owns.

A removed or renamed actor leaves its consumer behind. The event's stream has interest retention,
so it keeps every message until each consumer acknowledged it; the orphan never does, the stream
fills up, and once the event's limits are reached JetStream rejects new messages (`PublishRejected`).
Deleting the orphan lets the stream drop what the live actors already handled.

Consumers made by other services on the same NATS (a walnats service with actors of its own on
the same event) look like orphans here too: listing is safe, deleting needs a confirmation.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from .actors import Actor
from .events import Event
from .introspection import OrphanConsumer, orphans_among, stream_consumers
from .registry import registry

logger = logging.getLogger("walnats_django.orphans")

INTEROP_WARNING = (
    "A consumer that no actor of this project owns may belong to another service on the same NATS "
    "(a walnats service, or another Django project, with actors of its own on this event): deleting it "
    "stops that service's actor. Delete only consumers left by actors you removed or renamed."
)


def registered_pairs(
    events: Iterable[str] | None = None,
) -> list[tuple[Event[Any, Any], tuple[Actor[Any, Any], ...]]]:
    """(event, its registered actors) for every registered event, or only those named in `events`."""
    chosen = registry.events if events is None else [registry.get_event(name) for name in events]
    return [(event, registry.actors_for(event)) for event in chosen]


async def find(
    js: JetStreamContext, pairs: Sequence[tuple[Event[Any, Any], Sequence[Actor[Any, Any]]]]
) -> list[OrphanConsumer]:
    """The orphan consumers on the streams of `pairs`, by event then consumer name."""
    listed = await asyncio.gather(*(stream_consumers(js, event.stream_name) for event, _ in pairs))
    found: list[OrphanConsumer] = []
    for (event, actors), consumers in zip(pairs, listed, strict=True):
        found.extend(orphans_among(event, actors, consumers or []))
    return found


async def delete(js: JetStreamContext, orphan: OrphanConsumer) -> bool:
    """Delete the orphan's consumer; False when it was already gone."""
    try:
        await js.delete_consumer(orphan.stream, orphan.name)
    except NotFoundError:
        return False
    logger.warning(
        "Deleted orphan consumer stream=%s consumer=%s event=%s pending=%s ack_pending=%s",
        orphan.stream,
        orphan.name,
        orphan.event,
        orphan.stats.num_pending,
        orphan.stats.num_ack_pending,
    )
    return True
