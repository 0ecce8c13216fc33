"""One job's life: checks before running, decode, run with a timeout and pulses, ack or retry, reply."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from nats.aio.msg import Msg

from ..actors import Actor
from ..errors import SerializationError
from ..observe import current as observing
from ..observe.observer import JobObservation
from ..observe.outcomes import JobOutcome
from ..serializers import decode
from ..wire import HEADER_DEADLINE, HEADER_DELAY, HEADER_REPLAY_FOR, parse_float
from .capacity import Capacity
from .clock import ServerClock
from .dead_letters import DeadLetterRecorder
from .failures import Failures
from .messages import attempt, published_us, stream_seq
from .outcomes import GiveUp, HandBack
from .replies import Replier
from .stats import Stats
from .threads import SyncJobs
from .watch import JobWatch

logger = logging.getLogger("walnats_django.worker")

EXPIRED_WARN_EVERY = 10.0
"""Seconds between an actor's warnings about dropped expired requests (the rest go to DEBUG)."""


class JobRunner:
    """Runs one actor's jobs, one `run(msg)` per message, sharing the actor's helpers."""

    def __init__(
        self,
        actor: Actor[Any, Any],
        *,
        watch: JobWatch,
        capacity: Capacity,
        sync_jobs: SyncJobs,
        replier: Replier,
        dead_letters: DeadLetterRecorder,
        stats: Stats,
        clock: ServerClock | None = None,
    ) -> None:
        self.actor = actor
        self.watch = watch
        self.capacity = capacity
        self.sync_jobs = sync_jobs
        self.replier = replier
        self.dead_letters = dead_letters
        self.stats = stats
        self._payload_label = f"payload of event {actor.event.name!r}"
        self.failures = Failures(actor, watch=watch, replier=replier, dead_letters=dead_letters, stats=stats)
        self.clock = ServerClock() if clock is None else clock
        """Pass one per worker to share it, and its skew warning, among the worker's actors."""
        self._expired_warn_after = 0.0
        self._expired_unwarned = 0

    async def run(self, msg: Msg) -> None:
        """Handle `msg` unless it is delayed, meant for another actor, or expired; then settle it."""
        actor = self.actor
        headers = msg.headers or {}
        try:
            if time.monotonic() >= self.clock.next_sample:
                self.clock.observe(msg)
            if HEADER_DELAY in headers:
                delayed_until = parse_float(headers[HEADER_DELAY])
                if delayed_until is not None and delayed_until - time.time() > 0.001:
                    if actor.max_attempts is None or attempt(msg) < actor.max_attempts:
                        await msg.nak(delay=delayed_until - time.time())
                        return
                    # A nak would use up the last delivery JetStream allows: wait here (pulsed).
                    await asyncio.sleep(delayed_until - time.time())
            if HEADER_REPLAY_FOR in headers and headers[HEADER_REPLAY_FOR] != actor.name:
                logger.debug(
                    "Skipped replay for actor=%s in actor=%s seq=%s",
                    headers[HEADER_REPLAY_FOR],
                    actor.name,
                    stream_seq(msg),
                )
                await msg.ack()
                return
            if HEADER_DEADLINE in headers:
                deadline = parse_float(headers[HEADER_DEADLINE])
                if deadline is not None and (now := time.time()) > deadline:
                    await self._drop_expired(msg, headers, deadline, now)
                    return
            if self.capacity.limit is None:
                await self._handle(msg, headers)
            else:
                async with self.capacity.slots:
                    await self._handle(msg, headers)
        except asyncio.CancelledError:
            if not msg._ackd:
                with contextlib.suppress(Exception):  # a lost connection redelivers after ack_wait
                    await asyncio.shield(msg.nak())
            raise
        finally:
            self.capacity.busy -= 1

    async def _drop_expired(self, msg: Msg, headers: dict[str, str], deadline: float, now: float) -> None:
        """The requester gave up: ack without running it, and say why it came late (clocks or a
        backlog) at most every `EXPIRED_WARN_EVERY` seconds."""
        self.stats.expired += 1
        self._expired_unwarned += 1
        if time.monotonic() < self._expired_warn_after:
            logger.debug("Dropped expired request actor=%s seq=%s", self.actor.name, stream_seq(msg))
        else:
            self._expired_warn_after = time.monotonic() + EXPIRED_WARN_EVERY
            logger.warning(
                "Dropped expired request actor=%s seq=%s dropped=%d (since the last such warning); %s",
                self.actor.name,
                stream_seq(msg),
                self._expired_unwarned,
                self.clock.why_expired(deadline, published_us(msg) / 1_000_000, now),
            )
            self._expired_unwarned = 0
        await msg.ack()
        if (observer := observing.observer) is not None:
            observer.job(self.actor, msg, headers).settled(JobOutcome.EXPIRED)

    async def _handle(self, msg: Msg, headers: dict[str, str]) -> None:
        observer = observing.observer
        if observer is None:
            await self._settle(msg, headers, None)
            return
        job = observer.job(self.actor, msg, headers)
        outcome = JobOutcome.INTERRUPTED
        try:
            outcome = await self._settle(msg, headers, job)
        finally:
            job.settled(outcome)

    async def _settle(self, msg: Msg, headers: dict[str, str], job: JobObservation | None) -> JobOutcome:
        """Decode, run the handler, settle the message; how it ended (for the observer, if any)."""
        actor = self.actor
        try:
            payload = decode(
                actor.event.payload_serializer, actor.event.schema, msg.data, self._payload_label
            )
        except SerializationError as exc:
            self.stats.terminated += 1
            logger.error(
                "Undecodable message terminated actor=%s stream=%s seq=%s error=%s",
                actor.name,
                actor.event.stream_name,
                stream_seq(msg),
                exc,
            )
            if job is not None:
                job.failed(exc)
            recorded = await self.dead_letters.give_up(msg, headers, exc)
            await self.replier.answer_error(msg, headers, exc)
            return JobOutcome.TERMINATED if recorded else JobOutcome.RETRIED
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("Job started actor=%s seq=%s attempt=%s", actor.name, stream_seq(msg), attempt(msg))
        task = asyncio.current_task()
        assert task is not None
        self.watch.handler_started(task)
        thread: asyncio.Future[Any] | None = None
        try:
            if actor.is_async:
                result = await actor.handler(payload)
            else:
                thread = self.sync_jobs.run(actor.handler, payload)
                # Shielded: a timeout cancels our wait, not the thread's future we still watch.
                result = await asyncio.shield(thread)
        except asyncio.CancelledError:
            if not self.watch.timed_out(task):
                raise
            task.uncancel()
            if job is not None:
                job.failed(self.failures.timeout_error())
            return await self.failures.timed_out(task, msg, headers, thread)
        except HandBack as back:
            self.watch.stop_pulse(task)
            await msg.nak(delay=back.delay)
            return JobOutcome.HANDED_BACK
        except GiveUp as give_up:
            self.watch.stop_pulse(task)
            self.stats.failed += 1
            if job is not None:
                job.failed(give_up.cause)
            recorded = await self.dead_letters.give_up(msg, headers, give_up.cause)
            await self.replier.answer_error(msg, headers, give_up.cause)
            return JobOutcome.DEAD_LETTERED if recorded else JobOutcome.RETRIED
        except Exception as exc:
            self.watch.stop_pulse(task)
            if job is not None:
                job.failed(exc)
            logger.exception(
                "Job failed actor=%s seq=%s attempt=%s retry_in=%ss",
                actor.name,
                stream_seq(msg),
                attempt(msg),
                actor.retry_delay_for(attempt(msg)),
            )
            return await self.failures.failed(msg, headers, exc)
        self.watch.stop_pulse(task)
        try:
            await msg.ack()
        except Exception as exc:  # noqa: BLE001 - JetStream redelivers it after ack_wait
            logger.error(
                "Ack failed actor=%s seq=%s error=%r; it will be redelivered after ack_wait",
                actor.name,
                stream_seq(msg),
                exc,
            )
            return JobOutcome.INTERRUPTED
        self.stats.handled += 1
        if actor.event.has_response:
            await self.replier.answer(msg, headers, result)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("Job done actor=%s seq=%s", actor.name, stream_seq(msg))
        return JobOutcome.ACKED
