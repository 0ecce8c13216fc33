"""The live side of the test mode: messages the bus records are published over NATS for real."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

from .. import publisher
from ..errors import NoActors, RequestTimeout
from ..sync import run_sync
from .records import Emitted

T = TypeVar("T")
Answer = tuple[bytes, Mapping[str, str] | None]


class OverNats:
    """Publishes through the real path (a copy of the headers: the client adds its own to them)."""

    def call_sync(self, call: Callable[[], Awaitable[T]]) -> T:
        """Run `call()` from sync code on the shared background loop, as the sync twins do."""

        async def awaited() -> T:
            return await call()

        return run_sync(awaited())

    async def publish(self, message: Emitted, *, wait: bool) -> None:
        """Without `wait`, a later refusal is only logged, as always: the message counts as stored."""
        await publisher.publish_over_nats(message.event, message.data, dict(message.headers), wait=wait)
        message.stored = True

    async def request(self, message: Emitted, *, timeout: float, delay: float | None) -> Answer:
        try:
            answer = await publisher.request_over_nats(
                message.event, message.data, dict(message.headers), timeout=timeout, delay=delay
            )
        except (NoActors, RequestTimeout):
            message.stored = True  # JetStream took it; nobody answered in time
            raise
        message.stored = True
        return answer.data, answer.headers
