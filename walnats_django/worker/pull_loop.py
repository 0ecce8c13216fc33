"""One actor's pull loop: keep pull requests out for its free job slots and start a job per message."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.errors import NotFoundError

from ..actors import Actor
from ..errors import ConsumerLost
from ..jetstream import ensure_consumer, ensure_stream
from .capacity import Capacity
from .job import JobRunner
from .puller import Puller
from .watch import JobWatch

logger = logging.getLogger("walnats_django.worker")

RECREATE_AFTER = 0.25
"""Seconds before re-creating a vanished consumer: a stream re-created during its own deletion
(~1 ms) can be left unable to store messages (nats-server 2.15: publishes get no PubAck)."""
UNAVAILABLE_PAUSE = 0.05
"""Seconds before pulling again after "no responders" (doubling up to `MAX_UNAVAILABLE_PAUSE`)."""
MAX_UNAVAILABLE_PAUSE = 0.25
UNAVAILABLE_LOOKUP_TIMEOUT = 0.25
"""Seconds to wait for the consumer's info after "no responders". During a leader election nobody
answers, and a question asked before the new leader is in is never answered: the worker pulls
again only after this wait (plus the pause), so it bounds how long a new leader waits for pulls."""
UNAVAILABLE_WARN_EVERY = 5.0
"""Seconds between WARNING lines while pulls keep meeting "no responders" (DEBUG in between)."""
BURST_RECHECK = 0.1
"""Seconds a burst run waits before looking again when its consumer still has messages
in progress elsewhere or waiting for a retry."""


@dataclasses.dataclass(frozen=True)
class LoopOptions:
    """How a worker pulls, from `runactors`' options."""

    batch: int | None = None
    """Messages per pull request (None: the actor's max_jobs)."""
    burst: bool = False
    """Stop once the consumer has nothing pending, in progress or waiting for a retry."""
    register: bool = True
    """Re-create a vanished consumer (else raise `ConsumerLost`)."""


class ActorLoop:
    """Pulls messages for one actor and starts a job for each, within the free job slots."""

    def __init__(
        self,
        actor: Actor[Any, Any],
        nc: NATS,
        *,
        options: LoopOptions,
        capacity: Capacity,
        watch: JobWatch,
        jobs: JobRunner,
        on_slot_freed: Callable[[], None],
    ) -> None:
        self.actor = actor
        self.nc = nc
        self.options = options
        self.capacity = capacity
        self.watch = watch
        self.job_runner = jobs
        self.on_slot_freed = on_slot_freed
        self.loop = asyncio.get_running_loop()
        self.jobs: set[asyncio.Task[None]] = set()
        self.wake = asyncio.Event()
        self.stopping = False
        self.lost: str | None = None
        self.puller = Puller(
            nc,
            actor.event.stream_name,
            actor.name,
            batch=min(options.batch or actor.max_jobs, actor.max_jobs),
            no_wait=options.burst,
            on_message=self._on_message,
            on_status=self.wake.set,
            on_lost=self._on_lost,
            on_unavailable=self._on_unavailable,
        )
        self.unavailable = False
        """A pull got "no responders": the consumer is gone, or its leader is being elected."""
        self._unavailable_pause = UNAVAILABLE_PAUSE
        self._unavailable_warned_at = -UNAVAILABLE_WARN_EVERY

    def _on_lost(self, reason: str) -> None:
        self.lost = reason
        self.wake.set()

    def _on_unavailable(self) -> None:
        self.unavailable = True
        self.wake.set()

    def _on_message(self, msg: Msg) -> None:
        if self.stopping:
            # Hand it back at once so another worker gets it without waiting for AckWait.
            self._track(asyncio.ensure_future(msg.nak()))
            return
        self.capacity.busy += 1
        self._unavailable_pause = UNAVAILABLE_PAUSE
        task = self.loop.create_task(self.job_runner.run(msg))
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
        if self.options.burst or self.stopping:
            self.wake.set()
        elif self.capacity.shared:
            self.on_slot_freed()  # a slot of the shared cap is free: any actor may pull now
        else:
            self.wake_if_pull_due()

    def wake_if_pull_due(self) -> None:
        """Wake the pull loop only when it would send a pull request (not after every job)."""
        if self.puller.wants(self.free_slots()):
            self.wake.set()

    def free_slots(self) -> int:
        """Jobs this actor may start now, within its own and the process-wide cap."""
        return min(self.actor.max_jobs - len(self.jobs), self.capacity.free())

    async def run(self) -> None:
        """Pull until stopped (or, in burst mode, until the consumer has nothing left)."""
        await self.puller.start()
        while not self.stopping:
            self.wake.clear()
            if self.lost is not None:
                await self._recover()
                continue
            if self.unavailable:
                await self._wait_out_unavailable()
                continue
            already_seeking = self.puller.seeking
            if self.puller.drop_silent():
                # Once per silence: while seeking, pulls are dropped every quarter second.
                logger.log(
                    logging.DEBUG if already_seeking else logging.INFO,
                    "Pull heartbeats stopped actor=%s; pulling again (consumer leader moved?)",
                    self.actor.name,
                )
            if self.options.burst and self.puller.empty and not self.jobs and not self.puller.credits:
                if await self._consumer_settled():
                    return
                self.puller.empty = False
                await asyncio.sleep(BURST_RECHECK)
                continue
            try:
                await self.puller.top_up(self.free_slots())
            except Exception as exc:  # noqa: BLE001 - connection trouble; retried on next wake
                logger.debug("Pull request failed actor=%s error=%r", self.actor.name, exc)
            alarm = self.loop.call_later(self.puller.next_expiry(), self.wake.set)
            await self.wake.wait()
            alarm.cancel()

    async def _consumer_settled(self) -> bool:
        """Whether nothing of this actor is pending, in progress or waiting for a retry."""
        try:
            info = await self.nc.jetstream().consumer_info(self.actor.event.stream_name, self.actor.name)
        except Exception as exc:  # noqa: BLE001 - look again shortly
            logger.debug("Consumer info failed actor=%s error=%r", self.actor.name, exc)
            return False
        return not info.num_pending and not info.num_ack_pending

    async def _wait_out_unavailable(self) -> None:
        """After "no responders": a deleted consumer is lost; anything else is waited out."""
        self.unavailable = False
        actor = self.actor
        try:
            await self.nc.jetstream(timeout=UNAVAILABLE_LOOKUP_TIMEOUT).consumer_info(
                actor.event.stream_name, actor.name
            )
        except NotFoundError as exc:
            self.lost = f"503 no responders, then {exc.description or 'not found'}"
            return
        except Exception as exc:  # noqa: BLE001 - no answer at all: JetStream is electing a leader
            # Pulls are retried twice a second or more during an election: warn once in a while.
            now = time.monotonic()
            quiet = now - self._unavailable_warned_at < UNAVAILABLE_WARN_EVERY
            if not quiet:
                self._unavailable_warned_at = now
            logger.log(
                logging.DEBUG if quiet else logging.WARNING,
                "JetStream unavailable actor=%s error=%r; pulling again in %gs (leader election?)",
                actor.name,
                exc,
                self._unavailable_pause,
            )
        else:
            logger.info("No responders to a pull actor=%s; the consumer exists, pulling again", actor.name)
        await asyncio.sleep(self._unavailable_pause)
        self._unavailable_pause = min(self._unavailable_pause * 2, MAX_UNAVAILABLE_PAUSE)

    async def _recover(self) -> None:
        reason, self.lost = self.lost, None
        self.puller.reset()
        actor = self.actor
        if not self.options.register:
            raise ConsumerLost(
                f"consumer {actor.name!r} on stream {actor.event.stream_name!r} is gone "
                f"({reason}) and registration is off (--no-register); re-create it or drop the flag."
            )
        logger.warning(
            "Consumer gone actor=%s reason=%s; re-creating it in %gs", actor.name, reason, RECREATE_AFTER
        )
        await asyncio.sleep(RECREATE_AFTER)
        if self.stopping:
            return
        try:
            js = self.nc.jetstream()
            await ensure_stream(js, actor.event)
            await ensure_consumer(js, actor)
        except Exception as exc:  # noqa: BLE001 - retry after a pause
            logger.warning("Re-creating consumer actor=%s failed: %r", actor.name, exc)
            self.lost = reason
            await asyncio.sleep(1.0)

    async def stop_pulling(self) -> None:
        """Stop taking messages: without interest on the pull inbox, the server drops our
        open pull requests, so nothing more arrives to be handed back (and burn an attempt)."""
        self.stopping = True
        await self.puller.stop()
        self.wake.set()
