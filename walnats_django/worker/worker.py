"""The worker: hosts actors as durable pull consumers until stopped.

A plain class so it can run in `runactors`, in tests, or embedded; the command only wires it.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from typing import Any

from nats.aio.client import Client as NATS

from ..actors import Actor
from ..client import close_nats, jetstream_enabled, open_nats
from ..client.pubacks import jetstream_disabled
from ..conf import walnats_settings
from ..errors import NatsUnavailable
from ..names import actor_name_problem, event_name_problem, require_valid
from ..observe import current as observing
from ..servers import redact
from .capacity import Capacity
from .clock import ServerClock
from .dead_letters import DeadLetterRecorder
from .job import JobRunner
from .pull_loop import ActorLoop, LoopOptions
from .registration import register
from .replies import Replier
from .stats import Stats
from .threads import SyncJobs
from .watch import JobWatch

logger = logging.getLogger("walnats_django.worker")


class Worker:
    """Runs the given actors until `stop()` (or, with `burst`, until nothing is left to do)."""

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
        self.options = LoopOptions(batch=batch, burst=burst, register=register)
        self.capacity = Capacity(max_jobs)
        self.shutdown_timeout = (
            walnats_settings.SHUTDOWN_TIMEOUT if shutdown_timeout is None else shutdown_timeout
        )
        sync_threads = sum(a.max_jobs for a in self.actors if not a.is_async) or 1
        self.sync_jobs = SyncJobs(min(sync_threads, max_jobs or sync_threads))
        self.stats = Stats()
        self.clock = ServerClock()
        """This worker's wall clock against the server's, shared by its actors (one skew warning)."""
        self._stop = asyncio.Event()
        self._connection_closed = asyncio.Event()
        self._loops: list[ActorLoop] = []
        self._serving = False
        """Connected and not closing by choice: only then is a disconnect worth a warning."""

    def stop(self) -> None:
        """Ask the worker to stop pulling and finish running jobs (safe to call twice)."""
        self._stop.set()

    def wake_pullers(self) -> None:
        """Wake every actor's pull loop that has a pull due (a slot of the shared cap freed up)."""
        for loop in self._loops:
            loop.wake_if_pull_due()

    async def run(self) -> None:
        """Connect, register, pull and handle; returns after a graceful shutdown.

        If the connection closes for good (reconnects exhausted), connect again from scratch.
        In burst mode, `NatsUnavailable` when NATS cannot be reached within CONNECT_TIMEOUT.
        """
        try:
            while not self._stop.is_set():
                try:
                    nc = await self._connect()
                except asyncio.CancelledError:
                    return
                self._connection_closed.clear()
                lost = await self._serve(nc)
                if not lost or self._stop.is_set():
                    break
                logger.warning("The NATS connection closed for good; connecting again")
        finally:
            self.sync_jobs.shutdown()
            logger.info("Worker stopped %s", self.stats)

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
                if self.options.burst:
                    raise
                logger.warning("Waiting for NATS: %s Retrying in %gs.", exc, delay)
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=delay)
            except TimeoutError:
                delay = min(delay * 2, 5.0)
                continue
            raise asyncio.CancelledError

    async def _disconnected(self) -> None:
        if self._serving and not self._stop.is_set():
            logger.warning("Disconnected from NATS; pulling resumes on reconnect")

    async def _reconnected(self) -> None:
        if observing.observer is not None:
            observing.observer.reconnected()  # counted before the log line that announces it
        logger.info("Reconnected to NATS")
        for loop in self._loops:
            loop.puller.reset()
            loop.wake.set()

    async def _closed(self) -> None:
        self._connection_closed.set()

    def _actor_loop(self, actor: Actor[Any, Any], nc: NATS) -> ActorLoop:
        watch = JobWatch(actor.ack_wait, actor.job_timeout)
        loop: ActorLoop | None = None
        jobs = JobRunner(
            actor,
            watch=watch,
            capacity=self.capacity,
            sync_jobs=self.sync_jobs,
            replier=Replier(nc, actor, walnats_settings.INBOX_PREFIX),
            dead_letters=DeadLetterRecorder(
                nc, actor, watch, self.stats, lambda: loop is not None and loop.stopping
            ),
            stats=self.stats,
            clock=self.clock,
        )
        loop = ActorLoop(
            actor,
            nc,
            options=self.options,
            capacity=self.capacity,
            watch=watch,
            jobs=jobs,
            on_slot_freed=self.wake_pullers,
        )
        return loop

    async def _serve(self, nc: NATS) -> bool:
        """Run on the connection `nc`; True when it closed under us (not by us)."""
        self._serving = True
        try:
            if not jetstream_enabled(nc):
                raise jetstream_disabled()
            if self.options.register and not await register(nc.jetstream(), self.actors, self._stop):
                return False
            self._loops = [self._actor_loop(actor, nc) for actor in self.actors]
            logger.info(
                "Worker started pid=%s server=%s actors=%s burst=%s",
                os.getpid(),
                redact(nc.connected_url.geturl()) if nc.connected_url else "?",
                ",".join(f"{a.name}({a.event.name})" for a in self.actors),
                self.options.burst,
            )
            pulling = [asyncio.ensure_future(loop.run()) for loop in self._loops]
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
            self._serving = False
            await close_nats(nc)

    async def _shutdown(self, pulling: list[asyncio.Task[None]], grace: float) -> None:
        for loop in self._loops:
            await loop.stop_pulling()
        await asyncio.wait(pulling, timeout=2)
        jobs = {job for loop in self._loops for job in loop.jobs}
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
        for loop in self._loops:
            loop.watch.close()
