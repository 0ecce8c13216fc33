"""Streaming pulls from one durable consumer: keep pull requests out for free job slots.

nats-py's `fetch()` waits for a whole batch or the timeout; a worker needs each message
as soon as it arrives, so we send pull requests ourselves and count their credits.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import time
from collections.abc import Callable

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from ..observe import current as observing

logger = logging.getLogger("walnats_django.worker")

PULL_EXPIRES = 5.0
"""Seconds a pull request stays open on the server."""
PULL_HEARTBEAT = 0.5
"""Seconds between server heartbeats while a pull request is open and idle."""
MISSED_HEARTBEATS = 2
"""Heartbeats missed before open pulls count as gone (their consumer leader died or moved)."""
SEEKING_HEARTBEAT = 0.1
"""Heartbeats asked for while pulls go unheard (after open pulls went silent): a pull that reached
no leader (a partition, a node gone without closing its connections, where nothing answers "no
responders") is known lost within a quarter second, so the first pull after a new leader's
election comes that soon, not a second later. Back to `PULL_HEARTBEAT` once something is heard."""


class _Pull:
    __slots__ = ("expires_at", "heartbeat", "remaining")

    def __init__(self, remaining: int, expires_at: float, heartbeat: float = PULL_HEARTBEAT) -> None:
        self.remaining = remaining
        self.expires_at = expires_at
        self.heartbeat = heartbeat


class Puller:
    """Pull requests for one consumer.

    Messages go to `on_message`. A deleted consumer goes to `on_lost`; "no responders" to
    `on_unavailable`, since it means a deleted consumer as well as a leader election.
    """

    def __init__(
        self,
        nc: NATS,
        stream: str,
        consumer: str,
        *,
        batch: int,
        no_wait: bool,
        on_message: Callable[[Msg], None],
        on_status: Callable[[], None],
        on_lost: Callable[[str], None],
        on_unavailable: Callable[[], None],
    ) -> None:
        self.nc = nc
        self.consumer = consumer
        self.batch = batch
        self.no_wait = no_wait
        self._api = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"
        self._inbox = nc.new_inbox()
        self._pulls: collections.deque[_Pull] = collections.deque()
        self._on_message = on_message
        self._on_status = on_status
        self._on_lost = on_lost
        self._on_unavailable = on_unavailable
        self._heard_at = 0.0
        """When the server last sent anything for our pulls (a message or a status)."""
        self._seeking = False
        """Open pulls went silent and nothing has been heard since: pull with short heartbeats."""
        self._sub: Subscription | None = None
        self.empty = False
        """Set when a no-wait pull found nothing (burst mode's end condition)."""

    @property
    def credits(self) -> int:
        """Messages requested but not yet received."""
        return sum(p.remaining for p in self._pulls)

    @property
    def seeking(self) -> bool:
        """Whether open pulls went silent and nothing has been heard from the server since."""
        return self._seeking

    def _silence_allowed(self) -> float:
        """Seconds without a word from the server before the open pulls count as gone."""
        return MISSED_HEARTBEATS * max(pull.heartbeat for pull in self._pulls) + 0.05

    def next_expiry(self) -> float:
        """Seconds until the oldest pull request should have ended, or heartbeats are overdue."""
        if not self._pulls:
            return PULL_EXPIRES
        now = time.monotonic()
        due = self._pulls[0].expires_at
        if not self.no_wait:
            due = min(due, self._heard_at + self._silence_allowed())
        return max(due - now, 0.05)

    def drop_silent(self) -> bool:
        """Forget the open pulls when their heartbeats stopped; True if it did.

        Pull requests live on the consumer leader: when it dies or hands over, they are
        gone without a word, and only missing heartbeats tell.
        """
        if self.no_wait or not self._pulls:
            return False
        if time.monotonic() - self._heard_at <= self._silence_allowed():
            return False
        self._pulls.clear()
        self._seeking = True
        return True

    async def start(self) -> None:
        self._sub = await self.nc.subscribe(self._inbox, cb=self._on_delivery)

    async def stop(self) -> None:
        if self._sub is not None:
            sub, self._sub = self._sub, None
            with contextlib.suppress(Exception):  # the connection may be gone already
                await sub.unsubscribe()

    def reset(self) -> None:
        """Forget outstanding pulls (after a reconnect the server may have lost them)."""
        self._pulls.clear()

    def _want(self, free: int) -> int:
        """Messages to ask for now, or 0: pull once half a batch (or half the free slots) is free."""
        want = min(self.batch, free - self.credits)
        threshold = 1 if self.no_wait else max(1, min(self.batch, free) // 2)
        return want if want >= threshold else 0

    def wants(self, free: int) -> bool:
        """Whether `top_up(free)` would send a pull request (or forget an expired one)."""
        expired = bool(self._pulls) and self._pulls[0].expires_at + 1.0 < time.monotonic()
        return expired or self._want(free) > 0

    async def top_up(self, free: int) -> None:
        """Ask for more messages when enough job slots are free and not yet requested."""
        now = time.monotonic()
        while self._pulls and self._pulls[0].expires_at + 1.0 < now:
            self._pulls.popleft()
        want = self._want(free)
        if not want or self._sub is None or not self.nc.is_connected:
            return
        heartbeat = SEEKING_HEARTBEAT if self._seeking else PULL_HEARTBEAT
        if self.no_wait:
            request: dict[str, object] = {"batch": want, "no_wait": True}
        else:
            request = {
                "batch": want,
                "expires": int(PULL_EXPIRES * 1e9),
                "idle_heartbeat": int(heartbeat * 1e9),
            }
        if not self._pulls:
            self._heard_at = now  # heartbeats are due from now on
        self._pulls.append(_Pull(want, now + PULL_EXPIRES, heartbeat))
        await self.nc.publish(self._api, json.dumps(request).encode(), reply=self._inbox)
        if observing.observer is not None:
            observing.observer.pulled(self.consumer)

    async def _on_delivery(self, msg: Msg) -> None:
        self._heard_at = time.monotonic()
        self._seeking = False
        reply = msg.reply or ""
        if reply.startswith("$JS.ACK."):
            # A JetStream message, even if a producer set a header named "Status".
            self.empty = False
            if self._pulls:
                head = self._pulls[0]
                head.remaining -= 1
                if head.remaining <= 0:
                    self._pulls.popleft()
            self._on_message(msg)
            return
        headers = msg.headers
        status = headers.get("Status") if headers else None
        if not status:
            # Not from JetStream (someone published to our inbox): nothing to ack, ignore it.
            logger.warning("Ignored a non-JetStream message on the pull inbox of %s", self._api)
            return
        if status == "100":
            return
        description = (headers or {}).get("Description", "")
        if status in ("404", "408"):
            if self._pulls:
                self._pulls.popleft()
            if self.no_wait:
                self.empty = True
        elif status == "409" and "Deleted" in description:
            self._pulls.clear()
            self._on_lost(f"{status} {description}")
        elif status == "503":
            self._pulls.clear()
            self._on_unavailable()
        else:
            if self._pulls:
                self._pulls.popleft()
            # 409s such as "Server Shutdown" or "Leadership Change" are routine; we pull again.
            logger.info("Pull request ended api=%s status=%s description=%s", self._api, status, description)
        self._on_status()
