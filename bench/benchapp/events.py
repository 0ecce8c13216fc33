"""Benchmark events: `bench.noop` (the drained backlog), 19 idle events, and a count-words twin."""

from __future__ import annotations

from typing import Any

from walnats_django import Event, registry

from .catalog import COUNT_EVENT, IDLE_EVENTS, NOOP_EVENT

NOOP: Event[str, Any] = registry.add(
    Event(NOOP_EVENT, str, description="Benchmark: handled by a no-op actor.")
)
IDLE: list[Event[str, Any]] = [
    registry.add(Event(name, str, description="Benchmark: never emitted.")) for name in IDLE_EVENTS
]
COUNT_WORDS_WIDE: Event[str, int] = registry.add(
    Event(COUNT_EVENT, str, description="Benchmark: count-words with a wide actor.").with_response(int)
)
