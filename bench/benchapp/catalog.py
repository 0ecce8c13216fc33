"""Names of the benchmark events and actors (plain constants: importable without Django)."""

from __future__ import annotations

NOOP_EVENT = "bench.noop"
NOOP_STREAM = "bench-noop"
NOOP_ACTOR = "bench-noop"
NOOP_MAX_JOBS = 256
NOOP_MAX_ACK_PENDING = 20_000

IDLE_COUNT = 19
"""Idle events/actors; with `bench-noop` they make the 20 actors of the memory benchmark."""
IDLE_EVENTS = [f"bench.idle-{i:02d}" for i in range(1, IDLE_COUNT + 1)]
IDLE_ACTORS = [f"bench-idle-{i:02d}" for i in range(1, IDLE_COUNT + 1)]
ALL_ACTORS = [NOOP_ACTOR, *IDLE_ACTORS]

COUNT_EVENT = "bench.count-words"
COUNT_ACTOR = "bench-count-words"
COUNT_MAX_JOBS = 256
"""The example's count-words (max_jobs 16) with room for 256 jobs: shows what max_jobs costs."""

PLACEMENTS = {"r1-file": (1, "file"), "r1-mem": (1, "memory"), "r3-file": (3, "file")}
"""Stream placements of the placement benchmark: key -> (replicas, storage)."""
PLACEMENT_MAX_JOBS = 256


def placement_event(key: str) -> str:
    """`bench.place-r1-file`, ...: one event (and stream) per placement."""
    return f"bench.place-{key}"


def placement_actor(key: str) -> str:
    """`bench-place-r1-file`, ...: the actor (durable consumer) answering that event."""
    return f"bench-place-{key}"
