"""Actors: a named handler for one event, hosted by `runactors` as a durable consumer."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Generic, TypeVar

from .events import Event
from .validation import positive_number_problem

T = TypeVar("T")
R = TypeVar("R")


def _require_positive(owner: str, name: str, value: object, *, integer: bool = False) -> None:
    problem = positive_number_problem(value, integer=integer, what=f"{owner}: {name}")
    if problem is not None:
        raise ValueError(problem)


@dataclasses.dataclass(frozen=True)
class Actor(Generic[T, R]):
    """A handler for `event`; `name` is its durable consumer name and must never change.

    Defaults follow walnats 1.2.6. `ack_wait`, `max_attempts`, `max_ack_pending` and
    `description` live in JetStream; the rest only shape how this worker runs jobs.
    """

    name: str
    event: Event[T, R]
    handler: Callable[[T], R] | Callable[[T], Awaitable[R]]
    description: str | None = dataclasses.field(default=None, kw_only=True)
    ack_wait: float = dataclasses.field(default=16, kw_only=True)
    """Seconds without an ack or pulse before JetStream redelivers the message."""
    max_attempts: int | None = dataclasses.field(default=None, kw_only=True)
    """Deliveries before JetStream gives up on a message (None: no limit)."""
    max_ack_pending: int = dataclasses.field(default=1000, kw_only=True)
    """Messages in progress at once across all workers."""
    max_jobs: int = dataclasses.field(default=16, kw_only=True)
    """Jobs at once for this actor in one worker process."""
    job_timeout: float = dataclasses.field(default=32, kw_only=True)
    """Seconds a job may run before it counts as failed."""
    retry_delay: Sequence[float] = dataclasses.field(default=(0.5, 1, 2, 4), kw_only=True)
    """Delay before retry N (the last value repeats)."""

    def __post_init__(self) -> None:
        owner = f"Actor {self.name!r}"
        if not isinstance(self.event, Event):
            raise TypeError(f"{owner}: event must be an Event, got {type(self.event).__name__}.")
        if not callable(self.handler):
            raise TypeError(f"{owner}: handler must be callable, got {self.handler!r}.")
        _require_positive(owner, "ack_wait", self.ack_wait)
        _require_positive(owner, "job_timeout", self.job_timeout)
        for field in ("max_attempts", "max_ack_pending", "max_jobs"):
            if field != "max_attempts" or self.max_attempts is not None:
                _require_positive(owner, field, getattr(self, field), integer=True)
        if isinstance(self.retry_delay, str | bytes) or not isinstance(self.retry_delay, Iterable):
            raise ValueError(f"{owner}: retry_delay must be a sequence of seconds, got {self.retry_delay!r}.")
        delays = tuple(self.retry_delay)
        for delay in delays:
            if isinstance(delay, bool) or not isinstance(delay, int | float) or not 0 <= delay < math.inf:
                raise ValueError(f"{owner}: retry_delay values must be numbers >= 0, got {delay!r}.")
        object.__setattr__(self, "retry_delay", delays)

    @functools.cached_property
    def is_async(self) -> bool:
        """Whether the handler is a coroutine function (run on the loop, not in a thread)."""
        return inspect.iscoroutinefunction(self.handler) or inspect.iscoroutinefunction(
            getattr(self.handler, "__call__", None)  # noqa: B004
        )

    def __str__(self) -> str:
        """How system checks and logs name it: `actor 'send-welcome' of event 'user-created'`."""
        return f"actor {self.name!r} of event {self.event.name!r}"

    def retry_delay_for(self, attempt: int) -> float:
        """Delay before the retry that follows failed attempt `attempt` (1-based)."""
        if not self.retry_delay:
            return 0.0
        return float(self.retry_delay[min(max(attempt, 1), len(self.retry_delay)) - 1])

    def describe_handler(self) -> str:
        """The handler's dotted path, for logs and the admin."""
        module = getattr(self.handler, "__module__", "?")
        qualname = getattr(self.handler, "__qualname__", repr(self.handler))
        return f"{module}.{qualname}"
