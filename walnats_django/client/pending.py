"""A request (or waiting emit) between its publish and its PubAck and answer."""

from __future__ import annotations

import asyncio

from nats.aio.msg import Msg


class Pending:
    """The future a caller awaits, the stream it was sent to, and whether JetStream stored it."""

    __slots__ = (
        "acked",
        "error_answers",
        "expects_answer",
        "future",
        "message",
        "retries",
        "stream",
        "timer",
    )

    def __init__(self, future: asyncio.Future[Msg | None], stream: str, expects_answer: bool) -> None:
        self.future = future
        self.stream = stream
        self.expects_answer = expects_answer
        self.acked = False
        self.timer: asyncio.TimerHandle | None = None
        self.message: tuple[str, bytes, dict[str, str]] | None = None
        """Subject, payload and headers, kept to publish again while a stream has no leader."""
        self.retries = 0
        """Publishes repeated because JetStream had no leader for the stream."""
        self.error_answers: dict[str, Msg] | None = None
        """Error answers so far, by actor: the caller gets one once every actor has given up."""

    @property
    def waiting(self) -> bool:
        """Whether the caller still waits for an outcome."""
        return not self.future.done()

    def succeed(self, answer: Msg | None) -> None:
        """Hand the caller its answer (None for an emit: the PubAck was enough)."""
        if not self.future.done():
            self.future.set_result(answer)

    def fail(self, exc: BaseException) -> None:
        """Raise `exc` in the caller, unless it has an outcome already."""
        if not self.future.done():
            self.future.set_exception(exc)
