"""How a job or a call ended, as the label values metrics and spans report."""

from __future__ import annotations

import asyncio
import enum

from ..errors import (
    DuplicateRequest,
    EventNotRegistered,
    JetStreamDisabled,
    NatsUnavailable,
    NoActors,
    PayloadTooLarge,
    PublishRejected,
    RemoteError,
    RequestTimeout,
)


class JobOutcome(enum.StrEnum):
    """What became of a message an actor took."""

    ACKED = "acked"
    """The handler succeeded and the message was acked."""
    RETRIED = "retried"
    """The handler failed (or timed out); the message comes back after the retry delay."""
    DEAD_LETTERED = "dead_lettered"
    """The handler failed for the last time (or gave up); a dead letter was recorded."""
    EXPIRED = "expired"
    """The requester had given up before the actor got to it: acked without running."""
    TERMINATED = "terminated"
    """The payload could not be decoded: dead-lettered at once, never retried."""
    HANDED_BACK = "handed_back"
    """The handler handed the message back (`HandBack`) to run it again later."""
    INTERRUPTED = "interrupted"
    """The job could not settle its message (shutdown, a failed ack, a lost connection);
    JetStream delivers it again."""


class PublishKind(enum.StrEnum):
    """Which call published."""

    EMIT = "emit"
    REQUEST = "request"


_CALL_OUTCOMES: tuple[tuple[type[BaseException], str], ...] = (
    (RemoteError, "remote_error"),
    (RequestTimeout, "timeout"),
    (NoActors, "no_actors"),
    (EventNotRegistered, "not_registered"),
    (PublishRejected, "rejected"),
    (DuplicateRequest, "duplicate"),
    (NatsUnavailable, "unavailable"),
    (JetStreamDisabled, "unavailable"),
    (PayloadTooLarge, "too_large"),
    (asyncio.CancelledError, "cancelled"),
)


def call_outcome(error: BaseException | None) -> str:
    """`ok`, or the label of the error an emit or request raised (`error` for any other)."""
    if error is None:
        return "ok"
    for kind, label in _CALL_OUTCOMES:
        if isinstance(error, kind):
            return label
    return "error"
