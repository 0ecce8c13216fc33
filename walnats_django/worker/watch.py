"""One timer per actor that keeps running jobs alive and enforces `job_timeout`.

A timer (or a task) per job costs more than most jobs: the sweep pulses every job due for
an "in progress" and cancels every job past its timeout, in one callback.
"""

from __future__ import annotations

import asyncio
import logging
import time

from nats.aio.msg import Msg

logger = logging.getLogger("walnats_django.worker")


class _Entry:
    __slots__ = ("last_pulse", "msg", "started", "timed_out")

    def __init__(self, msg: Msg, now: float) -> None:
        self.msg = msg
        self.last_pulse = now
        self.started: float | None = None
        self.timed_out = False


class JobWatch:
    """Pulses jobs every `ack_wait / 2`; cancels handlers running longer than `job_timeout`."""

    def __init__(self, ack_wait: float, job_timeout: float) -> None:
        self.pulse_every = ack_wait / 2
        self.job_timeout = job_timeout
        self.tick = max(0.02, min(ack_wait / 4, job_timeout / 4, 1.0))
        self._entries: dict[asyncio.Task[None], _Entry] = {}
        self._handle: asyncio.TimerHandle | None = None
        self._beats: set[asyncio.Future[None]] = set()

    def add(self, task: asyncio.Task[None], msg: Msg) -> None:
        """Watch a job from the moment its message arrived (pulses start now)."""
        self._entries[task] = _Entry(msg, time.monotonic())
        if self._handle is None:
            self._handle = asyncio.get_running_loop().call_later(self.tick, self._sweep)

    def handler_started(self, task: asyncio.Task[None]) -> None:
        """Start the job's `job_timeout` clock (the handler begins now)."""
        entry = self._entries.get(task)
        if entry is not None:
            entry.started = time.monotonic()

    def stop_pulse(self, task: asyncio.Task[None]) -> None:
        """Forget a job (it is about to be acked, nak'ed or terminated)."""
        self._entries.pop(task, None)

    def timed_out(self, task: asyncio.Task[None]) -> bool:
        """Whether the sweep cancelled this job for exceeding `job_timeout`."""
        entry = self._entries.get(task)
        return entry is not None and entry.timed_out

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _sweep(self) -> None:
        now = time.monotonic()
        for task, entry in list(self._entries.items()):
            if task.done():
                del self._entries[task]
                continue
            if entry.started is not None and not entry.timed_out and now - entry.started > self.job_timeout:
                entry.timed_out = True
                task.cancel()
            elif now - entry.last_pulse >= self.pulse_every:
                entry.last_pulse = now
                beat = asyncio.ensure_future(entry.msg.in_progress())
                self._beats.add(beat)  # the loop keeps only weak references to tasks
                beat.add_done_callback(self._beat_done)
        self._handle = (
            asyncio.get_running_loop().call_later(self.tick, self._sweep) if self._entries else None
        )

    def _beat_done(self, beat: asyncio.Future[None]) -> None:
        self._beats.discard(beat)
        if not beat.cancelled() and beat.exception() is not None:
            logger.debug("Pulse failed: %r", beat.exception())
