"""The no-actor probe: a request acked but unanswered for a moment may have nobody to answer it.

A publish to an interest stream without consumers is acked and dropped, so without this a
request to an event no actor handles would wait out its whole timeout.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping

from nats.aio.msg import Msg

from ..errors import NoActors, PublishRejected
from .pending import Pending

logger = logging.getLogger("walnats_django.client")

NO_ACTORS_PROBE_AFTER = 0.02
"""Seconds without an answer before checking whether the stream has any consumer."""
PROBE_TICK = 0.005
"""Least seconds between probe sweeps: re-arming for the next-oldest request (acked a moment
after the last) woke the loop about once per request under sequential load."""
CONSUMER_COUNT_TTL = 1.0
"""Seconds a looked-up positive consumer count is trusted."""

ApiRequest = Callable[[str], Awaitable[Msg]]


class NoActorProbe:
    """Fails acked requests with `NoActors` when their stream turns out to have no consumer.

    One timer for all requests, walking a queue in ack order: no timer per request. The
    queue holds tokens, not requests: holding answered requests for 20 ms cost more in GC
    than the lookups.
    """

    def __init__(self, pending: Mapping[str, Pending], stream_info: ApiRequest) -> None:
        self._pending = pending
        self._stream_info = stream_info
        self._acked: collections.deque[tuple[float, str]] = collections.deque()
        self._timer: asyncio.TimerHandle | None = None
        self._counts: dict[str, tuple[float, asyncio.Future[int]]] = {}

    def watch(self, token: str) -> None:
        """Probe the request `token` if it is still unanswered after `NO_ACTORS_PROBE_AFTER`."""
        self._acked.append((time.monotonic(), token))
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(NO_ACTORS_PROBE_AFTER, self._probe_due)

    def close(self) -> None:
        """Stop probing (the connection is closing)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _probe_due(self) -> None:
        self._timer = None
        now = time.monotonic()
        queue = self._acked
        while queue and now - queue[0][0] >= NO_ACTORS_PROBE_AFTER:
            pending = self._pending.get(queue.popleft()[1])
            if pending is not None and pending.waiting:
                self._probe(pending)
        if queue:
            self._timer = asyncio.get_running_loop().call_later(
                max(queue[0][0] + NO_ACTORS_PROBE_AFTER - now, PROBE_TICK), self._probe_due
            )

    def _probe(self, pending: Pending) -> None:
        def check(counted: asyncio.Future[int]) -> None:
            if counted.cancelled():
                return
            if (exc := counted.exception()) is not None:
                logger.debug("No-actor probe failed stream=%s error=%r", pending.stream, exc)
                return
            if counted.result() == 0:
                pending.fail(
                    NoActors(
                        f"stream {pending.stream!r} has no actor consumer, so nobody will answer; "
                        "start `manage.py runactors` with an actor for this event."
                    )
                )

        self.consumer_count(pending.stream).add_done_callback(check)

    def consumer_count(self, stream: str) -> asyncio.Future[int]:
        """The stream's consumer count, looked up at most once per `CONSUMER_COUNT_TTL`."""
        now = time.monotonic()
        cached = self._counts.get(stream)
        if cached is not None and (
            not cached[1].done()
            or (
                now - cached[0] < CONSUMER_COUNT_TTL
                and cached[1].exception() is None
                and cached[1].result() > 0
            )
        ):
            # Share a lookup in flight, or trust a fresh positive count; a zero is always
            # looked up again, since an actor may have just appeared.
            return cached[1]
        future = asyncio.ensure_future(self._lookup(stream))
        self._counts[stream] = (now, future)
        return future

    async def _lookup(self, stream: str) -> int:
        reply = await self._stream_info(f"$JS.API.STREAM.INFO.{stream}")
        info = json.loads(reply.data)
        if "error" in info:
            raise PublishRejected(f"stream info for {stream!r} failed: {info['error']}")
        return int(info["state"]["consumer_count"])
