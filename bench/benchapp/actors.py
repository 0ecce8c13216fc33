"""Benchmark actors: a trivial async handler for `bench.noop`, 19 idle actors, count-words twins."""

from __future__ import annotations

from walnats_django import Actor, registry

from .catalog import (
    COUNT_ACTOR,
    COUNT_MAX_JOBS,
    IDLE_ACTORS,
    NOOP_ACTOR,
    NOOP_MAX_ACK_PENDING,
    NOOP_MAX_JOBS,
    PLACEMENT_MAX_JOBS,
    placement_actor,
)
from .events import COUNT_WORDS_WIDE, IDLE, NOOP, PLACED


@registry.actor(
    NOOP_ACTOR,
    NOOP,
    max_jobs=NOOP_MAX_JOBS,
    max_ack_pending=NOOP_MAX_ACK_PENDING,
    description="Benchmark: does nothing.",
)
async def noop(text: str) -> None:
    """Does nothing: the drain benchmark measures the worker, not the handler."""
    return None


@registry.actor(
    COUNT_ACTOR,
    COUNT_WORDS_WIDE,
    max_jobs=COUNT_MAX_JOBS,
    description="Benchmark: the example's count-words with max_jobs 256.",
)
async def count_words(text: str) -> int:
    """Same handler as project.example's count-words."""
    return len(text.split())


async def idle(text: str) -> None:
    """Never called: these actors only make the worker host 20 consumers."""
    return None


for _name, _event in zip(IDLE_ACTORS, IDLE, strict=True):
    registry.add(Actor(_name, _event, idle, description="Benchmark: idle."))


for _key, _event in PLACED.items():
    registry.add(
        Actor(
            placement_actor(_key),
            _event,
            count_words,
            max_jobs=PLACEMENT_MAX_JOBS,
            description=f"Benchmark: count-words on {_event.name} (placement benchmark).",
        )
    )
