"""This worker's wall clock against the NATS server's, told by the times JetStream stored messages.

A request's deadline (`Walnats-Deadline`) is read off the requester's wall clock and compared
with the worker's: when the two disagree, requests expire before they run, or run after the
requester gave up, and nothing else looks wrong. JetStream stamps each message with the
server's time as it stores it. A message delivered at once (its first delivery, nothing pending
behind it) was stored moments ago, so "now minus its stamp" is this clock's offset from the
server's plus a little latency. The least of the last few such offsets leaves out a message
that waited for a free job slot; a stamp in this worker's future needs no second opinion.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable

from nats.aio.msg import Msg

logger = logging.getLogger("walnats_django.worker")

SAMPLE_EVERY = 0.5
"""Seconds between messages whose store time is read (parsing metadata costs microseconds)."""
WINDOW = 8
"""Fresh messages whose least offset is taken."""
MIN_SAMPLES = 3
"""Fresh messages needed before an offset ahead of the server is believed (one may have waited)."""
WARN_OVER = 1.0
"""Offsets larger than this many seconds (either way) are warned about."""
WARN_EVERY = 60.0
"""Seconds between warnings while the offset persists."""
DEADLINE_MARGIN = 0.1
"""A deadline less than this after its own store time was set by a clock behind the server's
(no one asks for a 0.1 s timeout)."""
SKEW_MARGIN = 0.1
"""An offset larger than this can explain an expiry; smaller ones are latency."""


class ServerClock:
    """The offset of this worker's wall clock from the NATS server's; warns while it exceeds 1 s.

    The job path calls `observe(msg)` only once `time.monotonic()` reaches `next_sample`, so
    most messages cost one comparison.
    """

    def __init__(
        self, *, wall: Callable[[], float] = time.time, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.next_sample = 0.0
        """Monotonic time before which messages need not be shown to `observe`."""
        self._wall = wall
        self._monotonic = monotonic
        self._offsets: deque[float] = deque(maxlen=WINDOW)
        self._warn_after = 0.0

    @property
    def offset(self) -> float | None:
        """This worker's clock minus the server's in seconds, plus latency (None: no fresh message yet)."""
        return min(self._offsets) if self._offsets else None

    @property
    def skew(self) -> float | None:
        """The offset when it is over `WARN_OVER` and believed, else None."""
        offset = self.offset
        if offset is None or abs(offset) <= WARN_OVER:
            return None
        if offset > 0 and len(self._offsets) < MIN_SAMPLES:
            return None
        return offset

    def observe(self, msg: Msg) -> None:
        """Take `msg`'s store time as a sample if it was delivered fresh; never raises."""
        self.next_sample = self._monotonic() + SAMPLE_EVERY
        try:
            meta = msg.metadata
            if meta.num_delivered != 1 or meta.num_pending != 0:
                return
            stored = meta.timestamp.timestamp()
        except Exception:  # noqa: BLE001 - not a JetStream message
            return
        self.add(self._wall() - stored, meta.stream)

    def add(self, offset: float, stream: str) -> None:
        """Record one fresh message's offset (now minus its store time); warn if due."""
        self._offsets.append(offset)
        skew = self.skew
        if skew is None or self._monotonic() < self._warn_after:
            return
        self._warn_after = self._monotonic() + WARN_EVERY
        if skew > 0:
            how = (
                f"{skew:.2f}s ahead of the NATS server's (the least delay of the last "
                f"{len(self._offsets)} fresh messages), so requests expire early here"
            )
        else:
            how = (
                f"{-skew:.2f}s behind the NATS server's (a message was stored {-skew:.2f}s in this "
                "worker's future), so requests may run after their requesters gave up"
            )
        logger.warning(
            "Clock skew offset=%+.2fs stream=%s: this worker's clock runs %s; deadlines compare "
            "the requester's and the worker's wall clocks: sync the hosts with NTP/chrony",
            skew,
            stream,
            how,
        )

    def why_expired(self, deadline: float, stored: float, now: float) -> str:
        """Why a request with `deadline` (requester's clock), stored at `stored` (server's clock,
        0 if unknown), had expired at `now` (this worker's clock): clocks or a backlog."""
        if stored <= 0:
            return f"its deadline passed {now - deadline:.2f}s ago"
        if deadline < stored + DEADLINE_MARGIN:
            when = (
                f"{stored - deadline:.2f}s before"
                if deadline <= stored
                else f"only {deadline - stored:.2f}s after"
            )
            return (
                f"apparent_skew>={max(stored - deadline, 0.0):.2f}s: the requester's deadline was "
                f"{when} the server stored it: the requester's clock is behind this worker's, or the "
                "other way round (sync the hosts with NTP/chrony)"
            )
        offset = self.offset
        if offset is not None and offset > SKEW_MARGIN and now - offset <= deadline:
            return (
                f"apparent_skew={offset:+.2f}s: it expired {now - stored:.2f}s after the server stored "
                f"it by this worker's clock, but reached this worker within "
                f"{max(now - stored - offset, 0.0):.2f}s of being stored: this worker's clock is ahead "
                "of the requester's, or the other way round (sync the hosts with NTP/chrony)"
            )
        return (
            f"expired after waiting {now - stored:.2f}s in the stream (a backlog: more workers, "
            "a larger max_jobs or a longer timeout)"
        )
