"""Benchmark events: `bench.noop` (the drained backlog) and 19 idle events."""

from __future__ import annotations

from walnats_django import Event, registry

from .catalog import IDLE_EVENTS, NOOP_EVENT

NOOP = registry.add(Event(NOOP_EVENT, str, description="Benchmark: handled by a no-op actor."))
IDLE = [registry.add(Event(name, str, description="Benchmark: never emitted.")) for name in IDLE_EVENTS]
