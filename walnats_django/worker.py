"""The worker: hosts actors as durable pull consumers and runs their handlers.

A plain class so it can run in `runactors`, in tests, or embedded; the command only wires it.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import logging
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.db import close_old_connections
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from . import deadletters
from .actors import Actor
from .conf import walnats_settings
from .connection import close_nats, open_nats
from .errors import NatsUnavailable, PayloadTooLarge, SerializationError, WalnatsError
from .jetstream import ensure_consumer, ensure_stream
from .names import actor_name_problem, event_name_problem, require_valid
from .puller import Puller
from .serializers import decode, encode
from .watch import JobWatch
from .wire import (
    HEADER_ACTOR,
    HEADER_DEADLINE,
    HEADER_DELAY,
    HEADER_ERROR,
    HEADER_REPLAY_FOR,
    HEADER_REPLY,
    accepts_errors,
    is_safe_reply,
    parse_float,
)

logger = logging.getLogger("walnats_django.worker")

MAX_ERROR_MESSAGE = 4096
RECREATE_AFTER = 0.25
"""Seconds before re-creating a vanished consumer: a stream re-created during its own deletion
(~1 ms) can be left unable to store messages (nats-server 2.15: publishes get no PubAck)."""


class ConsumerLost(WalnatsError):
    """The actor's consumer or stream vanished and registration is off; run with registration."""


class _Capacity:
    """A process-wide cap on jobs, shared by all actors (None: only per-actor caps).

    Pulls are sized by `free()`, but several actors may pull at once, so handlers also
    take a slot of `slots` before they run; waiting messages keep their pulse.
    """

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.busy = 0
        self.slots: asyncio.Semaphore | contextlib.nullcontext[None] = (
            contextlib.nullcontext() if limit is None else asyncio.Semaphore(limit)
        )

    def free(self) -> int:
        return 1 << 30 if self.limit is None else self.limit - self.busy


class ActorRunner:
    """Pulls messages for one actor and runs a job for each."""

    def __init__(self, worker: Worker, actor: Actor[Any, Any], nc: NATS) -> None:
        self.worker = worker
        self.actor = actor
        self.nc = nc
        self.loop = asyncio.get_running_loop()
        self.max_jobs = actor.max_jobs
        self.jobs: set[asyncio.Task[None]] = set()
        self.wake = asyncio.Event()
        self.stopping = False
        self.lost: str | None = None
        self.watch = JobWatch(actor.ack_wait, actor.job_timeout)
        self._payload_label = f"payload of event {actor.event.name!r}"
        self._answer_label = f"answer of actor {actor.name!r}"
        self.puller = Puller(
            nc,
            actor.event.stream_name,
            actor.name,
            batch=min(worker.batch or actor.max_jobs, actor.max_jobs),
            no_wait=worker.burst,
            on_message=self._on_message,
            on_status=self.wake.set,
            on_lost=self._on_lost,
        )

    def _on_lost(self, reason: str) -> None:
        self.lost = reason
        self.wake.set()

    def _on_message(self, msg: Msg) -> None:
        if self.stopping:
            # Hand it back at once so another worker gets it without waiting for AckWait.
            self._track(asyncio.ensure_future(msg.nak()))
            return
        self.worker.capacity.busy += 1
        task = self.loop.create_task(self._job(msg))
        self.watch.add(task, msg)
        self._track(task)

    def _track(self, task: asyncio.Task[None] | asyncio.Future[None]) -> None:
        assert isinstance(task, asyncio.Task)
        self.jobs.add(task)
        task.add_done_callback(self._job_done)

    def _job_done(self, task: asyncio.Task[None]) -> None:
        self.jobs.discard(task)
        self.watch.stop_pulse(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            logger.error(
                "Job crashed actor=%s error=%r; JetStream redelivers it after ack_wait",
                self.actor.name,
                exc,
                exc_info=exc,
            )
        # In burst mode a finished job means "look again": new messages may have come.
        self.puller.empty = False
        if self.worker.burst or self.stopping:
            self.wake.set()
        elif self.worker.capacity.limit is None:
            self.wake_if_pull_due()
        else:
            self.worker.wake_pullers()  # a slot of the shared cap is free: any actor may pull now

    def wake_if_pull_due(self) -> None:
        """Wake the pull loop only when it would send a pull request (not after every job)."""
        if self.puller.wants(self.free_slots()):
            self.wake.set()

    def free_slots(self) -> int:
        own = self.max_jobs - len(self.jobs)
        return min(own, self.worker.capacity.free())

    async def run(self) -> None:
        """Pull until stopped (or, in burst mode, until the consumer has nothing left)."""
        await self.puller.start()
        loop = self.loop
        while not self.stopping:
            self.wake.clear()
            if self.lost is not None:
                await self._recover()
                continue
            if self.worker.burst and self.puller.empty and not self.jobs and not self.puller.credits:
                return
            try:
                await self.puller.top_up(self.free_slots())
            except Exception as exc:  # noqa: BLE001 - connection trouble; retried on next wake
                logger.debug("Pull request failed actor=%s error=%r", self.actor.name, exc)
            alarm = loop.call_later(self.puller.next_expiry(), self.wake.set)
            await self.wake.wait()
            alarm.cancel()

    async def _recover(self) -> None:
        reason, self.lost = self.lost, None
        self.puller.reset()
        if not self.worker.register:
            raise ConsumerLost(
                f"consumer {self.actor.name!r} on stream {self.actor.event.stream_name!r} is gone "
                f"({reason}) and registration is off (--no-register); re-create it or drop the flag."
            )
        logger.warning(
            "Consumer gone actor=%s reason=%s; re-creating it in %gs", self.actor.name, reason, RECREATE_AFTER
        )
        await asyncio.sleep(RECREATE_AFTER)
        if self.stopping:
            return
        try:
            await ensure_stream(self.worker.js, self.actor.event)
            await ensure_consumer(self.worker.js, self.actor)
        except Exception as exc:  # noqa: BLE001 - retry after a pause
            logger.warning("Re-creating consumer actor=%s failed: %r", self.actor.name, exc)
            self.lost = reason
            await asyncio.sleep(1.0)

    async def stop_pulling(self) -> None:
        """Stop taking messages: without interest on the pull inbox, the server drops our
        open pull requests, so nothing more arrives to be handed back (and burn an attempt)."""
        self.stopping = True
        await self.puller.stop()
        self.wake.set()

    async def _job(self, msg: Msg) -> None:
        actor = self.actor
        headers = msg.headers or {}
        try:
            if HEADER_DELAY in headers:
                delayed_until = parse_float(headers[HEADER_DELAY])
                if delayed_until is not None and delayed_until - time.time() > 0.001:
                    if actor.max_attempts is None or _attempt(msg) < actor.max_attempts:
                        await msg.nak(delay=delayed_until - time.time())
                        return
                    # A nak would use up the last delivery JetStream allows: wait here (pulsed).
                    await asyncio.sleep(delayed_until - time.time())
            if HEADER_REPLAY_FOR in headers and headers[HEADER_REPLAY_FOR] != actor.name:
                logger.debug(
                    "Skipped replay for actor=%s in actor=%s seq=%s",
                    headers[HEADER_REPLAY_FOR],
                    actor.name,
                    _seq(msg),
                )
                await msg.ack()
                return
            if HEADER_DEADLINE in headers:
                deadline = parse_float(headers[HEADER_DEADLINE])
                if deadline is not None and time.time() > deadline:
                    self.worker.stats["expired"] += 1
                    logger.debug("Dropped expired request actor=%s seq=%s", actor.name, _seq(msg))
                    await msg.ack()
                    return
            if self.worker.capacity.limit is None:
                await self._handle(msg, headers)
            else:
                async with self.worker.capacity.slots:
                    await self._handle(msg, headers)
        except asyncio.CancelledError:
            if not msg._ackd:
                with contextlib.suppress(Exception):  # a lost connection redelivers after ack_wait
                    await asyncio.shield(msg.nak())
            raise
        finally:
            self.worker.capacity.busy -= 1

    async def _handle(self, msg: Msg, headers: dict[str, str]) -> None:
        actor = self.actor
        try:
            payload = decode(
                actor.event.payload_serializer, actor.event.schema, msg.data, self._payload_label
            )
        except SerializationError as exc:
            self.worker.stats["terminated"] += 1
            logger.error(
                "Undecodable message terminated actor=%s stream=%s seq=%s error=%s",
                actor.name,
                actor.event.stream_name,
                _seq(msg),
                exc,
            )
            await self._give_up(msg, headers, exc)
            await self._answer_error(msg, headers, exc)
            return
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("Job started actor=%s seq=%s attempt=%s", actor.name, _seq(msg), _attempt(msg))
        task = asyncio.current_task()
        assert task is not None
        self.watch.handler_started(task)
        thread: asyncio.Future[Any] | None = None
        try:
            if actor.is_async:
                result = await actor.handler(payload)
            else:
                thread = self.worker.run_in_thread(actor.handler, payload)
                # Shielded: a timeout cancels our wait, not the thread's future we still watch.
                result = await asyncio.shield(thread)
        except asyncio.CancelledError:
            if not self.watch.timed_out(task):
                raise
            task.uncancel()
            self.watch.stop_pulse(task)
            logger.error("Job timed out actor=%s seq=%s attempt=%s", actor.name, _seq(msg), _attempt(msg))
            error = TimeoutError(f"job_timeout of {actor.job_timeout:g}s exceeded")
            if thread is not None and not thread.done():
                # A thread cannot be stopped: answer now, but keep the message (pulsed) until the
                # thread ends, so a retry never runs beside it and slots are not oversold.
                await self._answer_error(msg, headers, error)
                self.watch.add(task, msg)
                await asyncio.wait({thread})
                self.watch.stop_pulse(task)
                await self._fail(msg, headers, error, answer=False)
            else:
                await self._fail(msg, headers, error)
            return
        except Exception as exc:
            self.watch.stop_pulse(task)
            logger.exception(
                "Job failed actor=%s seq=%s attempt=%s retry_in=%ss",
                actor.name,
                _seq(msg),
                _attempt(msg),
                actor.retry_delay_for(_attempt(msg)),
            )
            await self._fail(msg, headers, exc)
            return
        self.watch.stop_pulse(task)
        try:
            await msg.ack()
        except Exception as exc:  # noqa: BLE001 - JetStream redelivers it after ack_wait
            logger.error(
                "Ack failed actor=%s seq=%s error=%r; it will be redelivered after ack_wait",
                actor.name,
                _seq(msg),
                exc,
            )
            return
        self.worker.stats["handled"] += 1
        if actor.event.has_response:
            await self._answer(msg, headers, result)

    async def _fail(
        self, msg: Msg, headers: dict[str, str], error: BaseException, *, answer: bool = True
    ) -> None:
        """A handler failed: retry later (nak with the retry delay) or, out of attempts, give up."""
        attempt = _attempt(msg)
        self.worker.stats["failed"] += 1
        if self.actor.max_attempts is not None and attempt >= self.actor.max_attempts:
            await self._give_up(msg, headers, error)
        else:
            await msg.nak(delay=self.actor.retry_delay_for(attempt))
        if answer:
            await self._answer_error(msg, headers, error)

    async def _give_up(self, msg: Msg, headers: dict[str, str], exc: BaseException) -> None:
        """Record a dead letter, then terminate the message.

        If recording fails and JetStream would still redeliver (attempts left), nak it and
        try again then. On the last allowed delivery nothing would come back, so keep the
        message in progress and retry recording here until it works or the worker stops.
        """
        actor = self.actor
        attempt = _attempt(msg)
        letter = deadletters.make(
            event=actor.event.name,
            actor=actor.name,
            stream=actor.event.stream_name,
            stream_seq=_seq_int(msg),
            attempts=attempt,
            error=f"{type(exc).__name__}: {exc}",
            headers=headers,
            payload=msg.data,
            published_us=_published_us(msg),
        )
        redelivers = actor.max_attempts is None or attempt < actor.max_attempts
        pause = 0.2
        task = asyncio.current_task()
        assert task is not None
        if not redelivers:
            self.watch.add(task, msg)  # keep it in progress while we retry recording
        try:
            while True:
                try:
                    dl_seq = await deadletters.record(self.worker.js, letter, self.nc.max_payload)
                    break
                except asyncio.CancelledError:
                    if not redelivers:
                        self._log_lost(msg)
                    raise
                except Exception as record_exc:  # noqa: BLE001 - keep the message rather than lose it
                    logger.error(
                        "Cannot record dead letter actor=%s seq=%s error=%r; will retry",
                        actor.name,
                        _seq(msg),
                        record_exc,
                    )
                if redelivers:
                    await msg.nak(delay=actor.retry_delay_for(attempt) or 1.0)
                    return
                if self.stopping:
                    self._log_lost(msg)
                    return
                try:
                    await asyncio.sleep(pause)
                except asyncio.CancelledError:
                    self._log_lost(msg)
                    raise
                pause = min(pause * 2, 5.0)
        finally:
            self.watch.stop_pulse(task)
        await msg.term()
        self.worker.stats["dead"] += 1
        logger.error(
            "Dead letter recorded actor=%s stream=%s seq=%s attempts=%s dead_letter=%s",
            actor.name,
            actor.event.stream_name,
            _seq(msg),
            letter.attempts,
            dl_seq,
        )

    def _log_lost(self, msg: Msg) -> None:
        # The last resort: JetStream will not deliver it again, so the log keeps the payload.
        logger.critical(
            "Dead letter lost actor=%s stream=%s seq=%s payload_base64=%s",
            self.actor.name,
            self.actor.event.stream_name,
            _seq(msg),
            base64.b64encode(msg.data).decode(),
        )

    def _reply_subject(self, msg: Msg, headers: dict[str, str]) -> str | None:
        reply = headers.get(HEADER_REPLY)
        if reply is None:
            return None
        if not is_safe_reply(reply, self.worker.inbox_prefix):
            logger.warning(
                "Refused unsafe reply subject actor=%s seq=%s reply=%r",
                self.actor.name,
                _seq(msg),
                reply[:200],
            )
            return None
        return reply

    async def _answer(self, msg: Msg, headers: dict[str, str], result: Any) -> None:
        reply = self._reply_subject(msg, headers)
        if reply is None:
            return
        event = self.actor.event
        try:
            data = encode(event.answer_serializer, result, self._answer_label)
        except SerializationError as exc:
            logger.error("Cannot encode answer actor=%s seq=%s error=%s", self.actor.name, _seq(msg), exc)
            await self._answer_error(msg, headers, exc)
            return
        if len(data) > self.nc.max_payload:
            too_large = PayloadTooLarge(
                f"the answer takes {len(data)} bytes, over the server's max_payload of "
                f"{self.nc.max_payload}; answer with a reference (e.g. a URL or an id) instead."
            )
            logger.error("Answer too large actor=%s seq=%s size=%s", self.actor.name, _seq(msg), len(data))
            await self._answer_error(msg, headers, too_large)
            return
        await self.nc.publish(reply, data)

    async def _answer_error(self, msg: Msg, headers: dict[str, str], exc: BaseException) -> None:
        if not accepts_errors(headers):
            return
        reply = self._reply_subject(msg, headers)
        if reply is None:
            return
        text = str(exc) or type(exc).__name__
        await self.nc.publish(
            reply,
            text.encode()[:MAX_ERROR_MESSAGE],
            headers={
                HEADER_ERROR: type(exc).__name__,
                HEADER_ACTOR: self.actor.name,
            },
        )


def _run_sync_job(handler: Any, payload: Any) -> Any:
    close_old_connections()
    try:
        return handler(payload)
    finally:
        close_old_connections()


def _seq(msg: Msg) -> int | str:
    try:
        return int(msg.metadata.sequence.stream)
    except Exception:  # noqa: BLE001 - not a JetStream message
        return "?"


def _seq_int(msg: Msg) -> int:
    seq = _seq(msg)
    return seq if isinstance(seq, int) else 0


def _published_us(msg: Msg) -> int:
    """When JetStream stored the message, in epoch microseconds (0 if not a JetStream message)."""
    try:
        return round(msg.metadata.timestamp.timestamp() * 1_000_000)
    except Exception:  # noqa: BLE001 - not a JetStream message
        return 0


def _attempt(msg: Msg) -> int:
    try:
        return int(msg.metadata.num_delivered)
    except Exception:  # noqa: BLE001 - not a JetStream message
        return 1


class Worker:
    """Runs the given actors until `stop()` (or, with `burst`, until no messages are left)."""

    def __init__(
        self,
        actors: Sequence[Actor[Any, Any]],
        *,
        batch: int | None = None,
        max_jobs: int | None = None,
        burst: bool = False,
        register: bool = True,
        shutdown_timeout: float | None = None,
    ) -> None:
        if not actors:
            raise ValueError("Worker needs at least one actor; register actors in an app's actors.py.")
        for actor in actors:
            require_valid(actor_name_problem(actor.name))
            require_valid(event_name_problem(actor.event.name))
        self.actors = tuple(actors)
        self.batch = batch
        self.burst = burst
        self.register = register
        self.capacity = _Capacity(max_jobs)
        self.shutdown_timeout = (
            walnats_settings.SHUTDOWN_TIMEOUT if shutdown_timeout is None else shutdown_timeout
        )
        self.inbox_prefix = walnats_settings.INBOX_PREFIX
        sync_threads = sum(a.max_jobs for a in self.actors if not a.is_async) or 1
        self.executor = ThreadPoolExecutor(
            max_workers=min(sync_threads, max_jobs or sync_threads), thread_name_prefix="walnats-job"
        )
        self.stats = {"handled": 0, "failed": 0, "expired": 0, "terminated": 0, "dead": 0}
        self._sync_jobs: set[concurrent.futures.Future[Any]] = set()
        self._stop = asyncio.Event()
        self._connection_closed = asyncio.Event()
        self._runners: list[ActorRunner] = []
        self.nc: NATS | None = None

    @property
    def js(self) -> Any:
        assert self.nc is not None
        return self.nc.jetstream()

    def run_in_thread(self, handler: Any, payload: Any) -> asyncio.Future[Any]:
        """Run a sync handler in the job thread pool; `sync_jobs_running` counts it until it ends."""
        job = self.executor.submit(_run_sync_job, handler, payload)
        self._sync_jobs.add(job)
        job.add_done_callback(self._sync_jobs.discard)
        return asyncio.wrap_future(job)

    @property
    def sync_jobs_running(self) -> int:
        """Sync handlers still running in threads (they cannot be interrupted)."""
        return sum(not job.done() for job in list(self._sync_jobs))

    def wake_pullers(self) -> None:
        """Wake every actor's pull loop that has a pull due (a slot of the shared cap freed up)."""
        for runner in self._runners:
            runner.wake_if_pull_due()

    def stop(self) -> None:
        """Ask the worker to stop pulling and finish running jobs (safe to call twice)."""
        self._stop.set()

    async def _connect(self) -> NATS:
        delay = 0.5
        while True:
            try:
                return await open_nats(
                    walnats_settings.CONNECT_TIMEOUT,
                    disconnected_cb=self._disconnected,
                    reconnected_cb=self._reconnected,
                    closed_cb=self._closed,
                )
            except NatsUnavailable as exc:
                logger.warning("Waiting for NATS: %s", exc)
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=delay)
            except TimeoutError:
                delay = min(delay * 2, 5.0)
                continue
            raise asyncio.CancelledError

    async def _disconnected(self) -> None:
        if not self._stop.is_set():
            logger.warning("Disconnected from NATS; pulling resumes on reconnect")

    async def _reconnected(self) -> None:
        logger.info("Reconnected to NATS")
        for runner in self._runners:
            runner.puller.reset()
            runner.wake.set()

    async def _closed(self) -> None:
        self._connection_closed.set()

    async def run(self) -> None:
        """Connect, register, pull and handle; returns after a graceful shutdown.

        If the connection closes for good (reconnects exhausted), connect again from scratch.
        """
        try:
            while not self._stop.is_set():
                try:
                    self.nc = await self._connect()
                except asyncio.CancelledError:
                    return
                self._connection_closed.clear()
                lost = await self._serve()
                if not lost or self._stop.is_set():
                    break
                logger.warning("The NATS connection closed for good; connecting again")
        finally:
            self.executor.shutdown(wait=False, cancel_futures=True)
            logger.info("Worker stopped %s", " ".join(f"{k}={v}" for k, v in self.stats.items()))

    async def _register(self) -> None:
        if self.register:
            for event in {a.event.name: a.event for a in self.actors}.values():
                await ensure_stream(self.js, event)
            for actor in self.actors:
                await ensure_consumer(self.js, actor)
            try:
                await deadletters.ensure_stream(self.js)
            except Exception as exc:  # noqa: BLE001 - dead letters then fall back to retrying
                logger.warning("Cannot create the dead-letter stream %s: %r", deadletters.STREAM, exc)

    async def _serve(self) -> bool:
        """Run on the current connection; True when it closed under us (not by us)."""
        assert self.nc is not None
        try:
            await self._register()
            self._runners = [ActorRunner(self, actor, self.nc) for actor in self.actors]
            logger.info(
                "Worker started pid=%s actors=%s burst=%s",
                os.getpid(),
                ",".join(f"{a.name}({a.event.name})" for a in self.actors),
                self.burst,
            )
            pulling = [asyncio.ensure_future(r.run()) for r in self._runners]
            ending = [
                asyncio.ensure_future(self._stop.wait()),
                asyncio.ensure_future(self._connection_closed.wait()),
            ]
            running = set(pulling)
            error: BaseException | None = None
            while running and error is None and not any(e.done() for e in ending):
                done, _ = await asyncio.wait(running | set(ending), return_when=asyncio.FIRST_COMPLETED)
                running -= done
                error = next((t.exception() for t in done if t in pulling and t.exception()), None)
            lost = self._connection_closed.is_set() and not self._stop.is_set()
            for waiter in ending:
                waiter.cancel()
            # Jobs on a lost connection can neither ack nor answer: do not wait for them.
            await self._shutdown(pulling, grace=0.0 if lost else self.shutdown_timeout)
            if error is not None:
                raise error
            return self._connection_closed.is_set()
        finally:
            await close_nats(self.nc)

    async def _shutdown(self, pulling: list[asyncio.Task[None]], grace: float) -> None:
        for runner in self._runners:
            await runner.stop_pulling()
        await asyncio.wait(pulling, timeout=2)
        jobs = {job for runner in self._runners for job in runner.jobs}
        if jobs:
            if grace:
                logger.info("Shutting down: waiting for %d running job(s) up to %gs", len(jobs), grace)
            _, late = await asyncio.wait(jobs, timeout=grace) if grace else (set(), jobs)
            if late:
                logger.warning(
                    "Cancelling %d job(s) still running after %gs; they are handed back", len(late), grace
                )
                for job in late:
                    job.cancel()
                await asyncio.wait(late, timeout=2)
        for runner in self._runners:
            runner.watch.close()
