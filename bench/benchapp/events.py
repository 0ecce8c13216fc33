"""Benchmark events: `bench.noop` (the drained backlog), 19 idle events, a count-words twin, and
one count-words event per stream placement (`bench.place-r1-file`, `-r1-mem`, `-r3-file`)."""

from __future__ import annotations

from typing import Any

from walnats_django import Event, registry

from .catalog import COUNT_EVENT, IDLE_EVENTS, NOOP_EVENT, PLACEMENTS, placement_event

NOOP: Event[str, Any] = registry.add(
    Event(NOOP_EVENT, str, description="Benchmark: handled by a no-op actor.")
)
IDLE: list[Event[str, Any]] = [
    registry.add(Event(name, str, description="Benchmark: never emitted.")) for name in IDLE_EVENTS
]
COUNT_WORDS_WIDE: Event[str, int] = registry.add(
    Event(COUNT_EVENT, str, description="Benchmark: count-words with a wide actor.").with_response(int)
)
PLACED: dict[str, Event[str, int]] = {
    key: registry.add(
        Event(
            placement_event(key),
            str,
            replicas=replicas,
            storage=storage,  # type: ignore[arg-type]
            description=f"Benchmark: count-words on an R{replicas} {storage} stream.",
        ).with_response(int)
    )
    for key, (replicas, storage) in PLACEMENTS.items()
}
"""The placement benchmark's events by placement key; R3 needs a cluster (`bench/placement.py`)."""
