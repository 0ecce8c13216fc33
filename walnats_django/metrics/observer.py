"""Recording the observation points as Prometheus metrics."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..observe.observer import JobObservation, Observer, PublishObservation
from ..observe.outcomes import JobOutcome, PublishKind, call_outcome
from .collectors import Metrics, walnats_metrics

if TYPE_CHECKING:
    from nats.aio.msg import Msg

    from ..actors import Actor
    from ..events import Event


class _TimedCall(PublishObservation):
    __slots__ = ("event", "kind", "observer", "started")

    def __init__(self, observer: MetricsObserver, kind: PublishKind, event: str) -> None:
        self.observer = observer
        self.kind = kind
        self.event = event
        self.started = time.perf_counter()

    def done(self, error: BaseException | None) -> None:
        elapsed = time.perf_counter() - self.started
        observer, metrics = self.observer, self.observer.metrics
        if self.kind is PublishKind.REQUEST:
            count, duration = metrics.requests, metrics.request_duration
        else:
            count, duration = metrics.emits, metrics.emit_duration
        observer.child(count, self.event, call_outcome(error)).inc()
        observer.child(duration, self.event).observe(elapsed)


class _TimedJob(JobObservation):
    __slots__ = ("actor", "event", "observer", "started")

    def __init__(self, observer: MetricsObserver, actor: str, event: str) -> None:
        self.observer = observer
        self.actor = actor
        self.event = event
        self.started = time.perf_counter()
        observer.child(observer.metrics.jobs_in_progress, actor).inc()

    def settled(self, outcome: JobOutcome) -> None:
        elapsed = time.perf_counter() - self.started
        observer, metrics = self.observer, self.observer.metrics
        observer.child(metrics.jobs_in_progress, self.actor).dec()
        observer.child(metrics.jobs, self.actor, self.event, outcome.value).inc()
        if outcome is not JobOutcome.EXPIRED:  # never ran: its time says nothing about the handler
            observer.child(metrics.job_duration, self.actor, self.event).observe(elapsed)


class MetricsObserver(Observer):
    """Counts and times emits, requests and jobs in `metrics` (default: the default registry's)."""

    def __init__(self, metrics: Metrics | None = None) -> None:
        self.metrics = walnats_metrics() if metrics is None else metrics
        self._children: dict[tuple[object, tuple[str, ...]], Any] = {}

    def child(self, metric: Any, *labels: str) -> Any:
        """`metric.labels(*labels)`, remembered: prometheus_client takes a lock for each lookup."""
        key = (metric, labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    def publishing(
        self, kind: PublishKind, event: Event[Any, Any], headers: dict[str, str], size: int
    ) -> PublishObservation:
        return _TimedCall(self, kind, event.name)

    def job(self, actor: Actor[Any, Any], msg: Msg, headers: Mapping[str, str]) -> JobObservation:
        return _TimedJob(self, actor.name, actor.event.name)

    def pulled(self, actor: str) -> None:
        self.child(self.metrics.pulls, actor).inc()

    def reconnected(self) -> None:
        self.metrics.reconnects.inc()
