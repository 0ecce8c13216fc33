"""Recording the observation points as Prometheus metrics.

Each actor's and each event's labelled series are looked up once and kept: prometheus_client
takes a lock for every `labels()` lookup, and a job or a call is a handful of increments.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter, Histogram

from ..observe.observer import JobObservation, Observer, PublishObservation
from ..observe.outcomes import JobOutcome, PublishKind, call_outcome
from .collectors import Metrics, walnats_metrics

if TYPE_CHECKING:
    from nats.aio.msg import Msg

    from ..actors import Actor
    from ..events import Event


class _Series:
    """One actor's or one event's series: its duration histogram and a counter per outcome."""

    __slots__ = ("count", "duration", "in_progress", "labels", "outcomes")

    def __init__(
        self, count: Counter, duration: Histogram, labels: tuple[str, ...], outcomes: tuple[str, ...] = ()
    ) -> None:
        self.count = count
        self.labels = labels
        self.duration = duration.labels(*labels)
        # Known outcomes start at 0, so rate() and absent() work before the first of each.
        self.outcomes = {outcome: count.labels(*labels, outcome) for outcome in outcomes}
        self.in_progress: Any = None

    def outcome(self, outcome: str) -> Any:
        found = self.outcomes.get(outcome)
        if found is None:
            found = self.outcomes[outcome] = self.count.labels(*self.labels, outcome)
        return found


class _TimedCall(PublishObservation):
    __slots__ = ("series", "started")

    def __init__(self, series: _Series) -> None:
        self.series = series
        self.started = time.perf_counter()

    def done(self, error: BaseException | None) -> None:
        series = self.series
        series.duration.observe(time.perf_counter() - self.started)
        series.outcome(call_outcome(error)).inc()


class _TimedJob(JobObservation):
    __slots__ = ("series", "started")

    def __init__(self, series: _Series) -> None:
        self.series = series
        self.started = time.perf_counter()
        series.in_progress.inc()

    def settled(self, outcome: JobOutcome) -> None:
        series = self.series
        series.in_progress.dec()
        series.outcome(outcome).inc()
        if outcome is not JobOutcome.EXPIRED:  # never ran: its time says nothing about the handler
            series.duration.observe(time.perf_counter() - self.started)


class MetricsObserver(Observer):
    """Counts and times emits, requests and jobs in `metrics` (default: the default registry's)."""

    def __init__(self, metrics: Metrics | None = None) -> None:
        self.metrics = walnats_metrics() if metrics is None else metrics
        self._calls: dict[tuple[PublishKind, str], _Series] = {}
        self._jobs: dict[str, _Series] = {}
        self._pulls: dict[str, Any] = {}

    def publishing(
        self, kind: PublishKind, event: Event[Any, Any], headers: dict[str, str], size: int
    ) -> PublishObservation:
        series = self._calls.get((kind, event.name))
        if series is None:
            metrics = self.metrics
            if kind is PublishKind.REQUEST:
                series = _Series(metrics.requests, metrics.request_duration, (event.name,), ("ok",))
            else:
                series = _Series(metrics.emits, metrics.emit_duration, (event.name,), ("ok",))
            self._calls[kind, event.name] = series
        return _TimedCall(series)

    def job(self, actor: Actor[Any, Any], msg: Msg, headers: Mapping[str, str]) -> JobObservation:
        series = self._jobs.get(actor.name)
        if series is None:
            metrics = self.metrics
            labels = (actor.name, actor.event.name)
            series = _Series(metrics.jobs, metrics.job_duration, labels, tuple(JobOutcome))
            series.in_progress = metrics.jobs_in_progress.labels(actor.name)
            self._jobs[actor.name] = series
        return _TimedJob(series)

    def pulled(self, actor: str) -> None:
        pulls = self._pulls.get(actor)
        if pulls is None:
            pulls = self._pulls[actor] = self.metrics.pulls.labels(actor)
        pulls.inc()

    def reconnected(self) -> None:
        self.metrics.reconnects.inc()
