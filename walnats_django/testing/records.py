"""What the in-process test mode records: each message, each actor's handling of it, dead letters."""

from __future__ import annotations

import dataclasses
from typing import Any

from ..actors import Actor
from ..events import Event
from ..wire import HEADER_DELAY, HEADER_MSG_ID, HEADER_TRACE, RESERVED_HEADER_PREFIXES, parse_float


@dataclasses.dataclass(eq=False)
class Delivery:
    """One actor's handling of one message: its result, or the errors of every failed attempt."""

    actor: Actor[Any, Any]
    attempts: int
    """Handler runs, as JetStream counts deliveries (an undecodable payload counts one)."""
    result: Any = None
    errors: list[BaseException] = dataclasses.field(default_factory=list)
    """The exception of each failed attempt, in order."""
    gave_up: bool = False
    """Out of attempts (or undecodable): recorded in `InlineBus.dead_letters`."""

    @property
    def succeeded(self) -> bool:
        return not self.gave_up

    @property
    def error(self) -> BaseException | None:
        """The last attempt's exception when the actor gave up, else None."""
        return self.errors[-1] if self.gave_up and self.errors else None

    def __repr__(self) -> str:
        outcome = f"error={self.error!r}" if self.gave_up else f"result={self.result!r:.80}"
        return f"Delivery(actor={self.actor.name!r}, attempts={self.attempts}, {outcome})"


@dataclasses.dataclass(eq=False)
class Emitted:
    """One emit or request as the bus saw it; `payload` is decoded again from `data`, so it is a
    copy made by the event's serializer, never the caller's object."""

    event: Event[Any, Any]
    data: bytes
    headers: dict[str, str]
    """The headers the caller's message carries (uid, trace id, delay, deadline, meta)."""
    is_request: bool
    payload: Any = None
    stored: bool = False
    """Accepted as JetStream would store it (not refused, not a duplicate)."""
    seq: int = 0
    """Its sequence in its event's stream, in process (0: not stored, or live)."""
    duplicate: bool = False
    """Its uid was seen before on this event: dropped as JetStream's de-duplication does."""
    held: bool = False
    """Sent with `delay=` and waiting for `InlineBus.run_delayed()`."""
    deliveries: list[Delivery] = dataclasses.field(default_factory=list)
    answer: Any = None
    """For a request: the decoded answer the caller got."""
    error: BaseException | None = None
    """What the caller got instead of an answer, or what a real emit would only have logged."""

    @property
    def uid(self) -> str | None:
        return self.headers.get(HEADER_MSG_ID)

    @property
    def trace_id(self) -> str | None:
        return self.headers.get(HEADER_TRACE)

    @property
    def delayed_until(self) -> float | None:
        """Epoch seconds given by `delay=`, or None."""
        return parse_float(self.headers.get(HEADER_DELAY))

    @property
    def meta(self) -> dict[str, str]:
        """The `meta=` headers (CloudEvents `ce-*` or a dict), without the protocol's own."""
        return {k: v for k, v in self.headers.items() if not k.lower().startswith(RESERVED_HEADER_PREFIXES)}

    @property
    def results(self) -> dict[str, Any]:
        """Each actor's return value, by actor name, for the actors that succeeded."""
        return {d.actor.name: d.result for d in self.deliveries if d.succeeded}

    def __repr__(self) -> str:
        parts = [repr(self.event.name), f"{self.payload!r:.120}"]
        if self.uid is not None:
            parts.append(f"uid={self.uid!r}")
        if self.duplicate:
            parts.append("duplicate")
        if self.held:
            parts.append("held")
        if self.is_request and self.error is None:
            parts.append(f"answer={self.answer!r:.80}")
        if self.error is not None:
            parts.append(f"error={self.error!r:.120}")
        return f"Emitted({', '.join(parts)})"


@dataclasses.dataclass(frozen=True, eq=False)
class InlineDeadLetter:
    """A message an actor gave up on, as a worker would record it in the dead-letter stream."""

    event: str
    actor: str
    payload: Any
    """Decoded as the actor's event; None when the payload could not be decoded."""
    data: bytes
    headers: dict[str, str]
    error: BaseException
    attempts: int

    @property
    def error_text(self) -> str:
        """The error as `manage.py deadletters` shows it: `ValueError: ...`."""
        return f"{type(self.error).__name__}: {self.error}"
