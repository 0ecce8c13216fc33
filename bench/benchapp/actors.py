"""Benchmark actors: a trivial async handler for `bench.noop`, and 19 idle actors."""

from __future__ import annotations

from walnats_django import Actor, registry

from .catalog import IDLE_ACTORS, NOOP_ACTOR, NOOP_MAX_ACK_PENDING, NOOP_MAX_JOBS
from .events import IDLE, NOOP


@registry.actor(NOOP_ACTOR, NOOP, max_jobs=NOOP_MAX_JOBS, max_ack_pending=NOOP_MAX_ACK_PENDING,
                description="Benchmark: does nothing.")
async def noop(text: str) -> None:
    """Does nothing: the drain benchmark measures the worker, not the handler."""
    return None


async def idle(text: str) -> None:
    """Never called: these actors only make the worker host 20 consumers."""
    return None


for _name, _event in zip(IDLE_ACTORS, IDLE, strict=True):
    registry.add(Actor(_name, _event, idle, description="Benchmark: idle."))
