"""The Prometheus metrics walnats-django records, created once per registry (the default one)."""

from __future__ import annotations

import dataclasses
import functools

from ..observe.errors import ExtraNotInstalled
from ..observe.setup import METRICS_MISSING

try:
    from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
except ModuleNotFoundError as exc:  # pragma: no cover - exercised in a subprocess without it
    raise ExtraNotInstalled(METRICS_MISSING) from exc

DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
"""Seconds: from a sub-millisecond request on a local server to a five-minute job."""


@dataclasses.dataclass(frozen=True)
class Metrics:
    """The collectors; their names and labels are in the README's "Metrics" section."""

    jobs: Counter
    job_duration: Histogram
    jobs_in_progress: Gauge
    pulls: Counter
    reconnects: Counter
    requests: Counter
    request_duration: Histogram
    emits: Counter
    emit_duration: Histogram


@functools.cache
def walnats_metrics(registry: CollectorRegistry = REGISTRY) -> Metrics:
    """The collectors registered in `registry` (once: a registry refuses a name twice)."""
    return Metrics(
        jobs=Counter(
            "walnats_jobs",
            "Messages actors took, by how they ended (acked, retried, dead_lettered, expired, ...).",
            ["actor", "event", "outcome"],
            registry=registry,
        ),
        job_duration=Histogram(
            "walnats_job_duration_seconds",
            "Seconds from taking a message to settling it (decode, handler, ack, answer).",
            ["actor", "event"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        ),
        jobs_in_progress=Gauge(
            "walnats_jobs_in_progress",
            "Jobs running now.",
            ["actor"],
            multiprocess_mode="livesum",
            registry=registry,
        ),
        pulls=Counter("walnats_pulls", "Pull requests sent to JetStream.", ["actor"], registry=registry),
        reconnects=Counter(
            "walnats_reconnects", "Times the worker's NATS connection came back.", registry=registry
        ),
        requests=Counter(
            "walnats_requests",
            "request() calls, by outcome (ok, remote_error, timeout, no_actors, ...).",
            ["event", "outcome"],
            registry=registry,
        ),
        request_duration=Histogram(
            "walnats_request_duration_seconds",
            "Seconds from request() to its answer or error.",
            ["event"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        ),
        emits=Counter(
            "walnats_emits",
            "emit() calls (and emit_on_commit, outbox and task publishes), by outcome.",
            ["event", "outcome"],
            registry=registry,
        ),
        emit_duration=Histogram(
            "walnats_emit_duration_seconds",
            "Seconds an emit() took (with wait=True, until JetStream stored it).",
            ["event"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        ),
    )
