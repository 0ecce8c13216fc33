"""What an observer is told: publishes, jobs, pulls and reconnects; no-ops unless overridden."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .outcomes import JobOutcome, PublishKind

if TYPE_CHECKING:
    from nats.aio.msg import Msg

    from ..actors import Actor
    from ..events import Event


class PublishObservation:
    """One emit or request from the call to its end; a context manager that ends with the error."""

    __slots__ = ()

    def __enter__(self) -> PublishObservation:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.done(exc)

    def done(self, error: BaseException | None) -> None:
        """The call returned (`error` None) or raised `error`."""


class JobObservation:
    """One job of an actor, from taking its message to settling it."""

    __slots__ = ()

    def failed(self, error: BaseException) -> None:
        """The handler raised `error` (or ran out of time); the outcome follows."""

    def settled(self, outcome: JobOutcome) -> None:
        """The message was settled (or abandoned): the last call."""


NOTHING_PUBLISHED = PublishObservation()
NOTHING_RUN = JobObservation()


class Observer:
    """Receives the observation points of publishers and workers; override what you need.

    Methods run on the hot path of every call and job: keep them cheap and never raise.
    """

    def publishing(
        self, kind: PublishKind, event: Event[Any, Any], headers: dict[str, str], size: int
    ) -> PublishObservation:
        """An emit or request of `size` payload bytes is about to go out; `headers` may be added to."""
        return NOTHING_PUBLISHED

    def job(self, actor: Actor[Any, Any], msg: Msg, headers: Mapping[str, str]) -> JobObservation:
        """`actor` starts a job for `msg`."""
        return NOTHING_RUN

    def answer_headers(self) -> dict[str, str] | None:
        """Headers to send with an actor's answer (called inside the job)."""
        return None

    def pulled(self, actor: str) -> None:
        """`actor` sent a pull request."""

    def reconnected(self) -> None:
        """The worker's NATS connection came back."""


class _PublishFanout(PublishObservation):
    __slots__ = ("_parts",)

    def __init__(self, parts: list[PublishObservation]) -> None:
        self._parts = parts

    def done(self, error: BaseException | None) -> None:
        for part in reversed(self._parts):
            part.done(error)


class _JobFanout(JobObservation):
    __slots__ = ("_parts",)

    def __init__(self, parts: list[JobObservation]) -> None:
        self._parts = parts

    def failed(self, error: BaseException) -> None:
        for part in self._parts:
            part.failed(error)

    def settled(self, outcome: JobOutcome) -> None:
        for part in reversed(self._parts):
            part.settled(outcome)


class Fanout(Observer):
    """Several observers as one, told in order (and ended in reverse order)."""

    def __init__(self, observers: Sequence[Observer]) -> None:
        self.observers = tuple(observers)

    def publishing(
        self, kind: PublishKind, event: Event[Any, Any], headers: dict[str, str], size: int
    ) -> PublishObservation:
        return _PublishFanout([o.publishing(kind, event, headers, size) for o in self.observers])

    def job(self, actor: Actor[Any, Any], msg: Msg, headers: Mapping[str, str]) -> JobObservation:
        return _JobFanout([o.job(actor, msg, headers) for o in self.observers])

    def answer_headers(self) -> dict[str, str] | None:
        merged: dict[str, str] = {}
        for observer in self.observers:
            merged.update(observer.answer_headers() or {})
        return merged or None

    def pulled(self, actor: str) -> None:
        for observer in self.observers:
            observer.pulled(actor)

    def reconnected(self) -> None:
        for observer in self.observers:
            observer.reconnected()


def combine(observers: Sequence[Observer]) -> Observer | None:
    """One observer for `observers`: None for none, itself for one, a `Fanout` for more."""
    if not observers:
        return None
    return observers[0] if len(observers) == 1 else Fanout(observers)
