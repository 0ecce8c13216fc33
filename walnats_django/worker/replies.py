"""Answering requests: the handler's result, or an error for requesters that understand errors."""

from __future__ import annotations

import logging
from typing import Any

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from ..actors import Actor
from ..errors import PayloadTooLarge, SerializationError
from ..observe import current as observing
from ..serializers import encode
from ..wire import HEADER_ACTOR, HEADER_ERROR, HEADER_REPLY, accepts_errors, is_safe_reply
from .messages import stream_seq

logger = logging.getLogger("walnats_django.worker")

MAX_ERROR_MESSAGE = 4096
"""Bytes of an exception's text sent in an error answer."""


class Replier:
    """Publishes an actor's answers, only to literal subjects under the inbox prefix."""

    def __init__(self, nc: NATS, actor: Actor[Any, Any], inbox_prefix: str) -> None:
        self.nc = nc
        self.actor = actor
        self.inbox_prefix = inbox_prefix
        self._answer_label = f"answer of actor {actor.name!r}"

    async def answer(self, msg: Msg, headers: dict[str, str], result: Any) -> None:
        """Send `result`, encoded as the event's response type, to the requester (if any)."""
        reply = self._reply_subject(msg, headers)
        if reply is None:
            return
        try:
            data = encode(self.actor.event.answer_serializer, result, self._answer_label)
        except SerializationError as exc:
            logger.error(
                "Cannot encode answer actor=%s seq=%s error=%s", self.actor.name, stream_seq(msg), exc
            )
            await self.answer_error(msg, headers, exc)
            return
        if len(data) > self.nc.max_payload:
            too_large = PayloadTooLarge(
                f"the answer takes {len(data)} bytes, over the server's max_payload of "
                f"{self.nc.max_payload}; answer with a reference (e.g. a URL or an id) instead."
            )
            logger.error(
                "Answer too large actor=%s seq=%s size=%s", self.actor.name, stream_seq(msg), len(data)
            )
            await self.answer_error(msg, headers, too_large)
            return
        # The job's trace context, when traced: the answer continues the trace.
        await self.nc.publish(reply, data, headers=self._trace_headers())

    async def answer_error(self, msg: Msg, headers: dict[str, str], exc: BaseException) -> None:
        """Tell a requester that understands error answers why its request failed."""
        if not accepts_errors(headers):
            return
        reply = self._reply_subject(msg, headers)
        if reply is None:
            return
        text = str(exc) or type(exc).__name__
        headers = {**(self._trace_headers() or {}), HEADER_ERROR: type(exc).__name__}
        headers[HEADER_ACTOR] = self.actor.name
        await self.nc.publish(reply, text.encode()[:MAX_ERROR_MESSAGE], headers=headers)

    @staticmethod
    def _trace_headers() -> dict[str, str] | None:
        return None if observing.observer is None else observing.observer.answer_headers()

    def _reply_subject(self, msg: Msg, headers: dict[str, str]) -> str | None:
        reply = headers.get(HEADER_REPLY)
        if reply is None:
            return None
        if not is_safe_reply(reply, self.inbox_prefix):
            logger.warning(
                "Refused unsafe reply subject actor=%s seq=%s reply=%r",
                self.actor.name,
                stream_seq(msg),
                reply[:200],
            )
            return None
        return reply
