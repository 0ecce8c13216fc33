"""What a handler may raise to settle its message itself, instead of the actor's retry policy."""

from __future__ import annotations


class HandBack(Exception):
    """Deliver the message again after `delay` seconds, whatever the actor's retry_delay says.

    Not counted as a failure: the handler has recorded whatever happened (the task backend
    keeps its own attempt count). Each hand-back uses a JetStream delivery, so use it only on
    actors without `max_attempts`.
    """

    def __init__(self, delay: float, reason: str = "") -> None:
        super().__init__(reason or f"handed back for {delay:g}s")
        self.delay = delay


class GiveUp(Exception):
    """No more attempts: record a dead letter with `cause` as its error now, then terminate."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause
