"""What a failed publish means for an outbox row: give up on it, hold its event back, or wait
out an outage of NATS itself."""

from __future__ import annotations

import enum

from ..errors import EventNotRegistered, JetStreamDisabled, PublishRejected

STORE_FAILED = 10077
"""JetStream's err_code when it cannot store a message: stream limits reached (its discard
policy is "new") or storage trouble. Actors catching up or an operator can clear it."""


class Verdict(enum.Enum):
    """How the relay treats a row whose publish failed."""

    FAILED = "failed"
    """The row cannot be published as it is: mark it failed, go on with the others."""
    HOLD_EVENT = "hold event"
    """The event's stream cannot take it now (missing, full): the event's rows wait, others go on."""
    OUTAGE = "outage"
    """NATS or JetStream is unavailable: stop the batch and retry later."""


def verdict(exc: Exception) -> Verdict:
    """The verdict on a publish that raised `exc`."""
    if isinstance(exc, EventNotRegistered):  # no stream yet: `runactors` creates it
        return Verdict.HOLD_EVENT
    if isinstance(exc, PublishRejected) and exc.code == STORE_FAILED:
        return Verdict.HOLD_EVENT
    # NatsUnavailable is a ConnectionError, RequestTimeout a TimeoutError.
    if isinstance(exc, ConnectionError | TimeoutError | JetStreamDisabled):
        return Verdict.OUTAGE
    return Verdict.FAILED
