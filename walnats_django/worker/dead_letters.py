"""Giving up on a message: record it as a dead letter, then terminate it, never losing it."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Callable
from typing import Any

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from .. import deadletters
from ..actors import Actor
from .messages import attempt, published_us, stream_seq, stream_seq_int
from .stats import Stats
from .watch import JobWatch

logger = logging.getLogger("walnats_django.worker")


class DeadLetterRecorder:
    """Records an actor's failed messages in the dead-letter stream before terminating them."""

    def __init__(
        self, nc: NATS, actor: Actor[Any, Any], watch: JobWatch, stats: Stats, stopping: Callable[[], bool]
    ) -> None:
        self.nc = nc
        self.actor = actor
        self.watch = watch
        self.stats = stats
        self.stopping = stopping

    async def give_up(self, msg: Msg, headers: dict[str, str], exc: BaseException) -> bool:
        """Record a dead letter, then terminate the message; False if it could not be recorded.

        If recording fails and JetStream would still redeliver (attempts left), nak it and
        try again then. On the last allowed delivery nothing would come back, so keep the
        message in progress and retry recording here until it works or the worker stops.
        """
        actor = self.actor
        delivery = attempt(msg)
        letter = deadletters.make(
            event=actor.event.name,
            actor=actor.name,
            stream=actor.event.stream_name,
            stream_seq=stream_seq_int(msg),
            attempts=delivery,
            error=f"{type(exc).__name__}: {exc}",
            headers=headers,
            payload=msg.data,
            published_us=published_us(msg),
        )
        redelivers = actor.max_attempts is None or delivery < actor.max_attempts
        pause = 0.2
        task = asyncio.current_task()
        assert task is not None
        if not redelivers:
            self.watch.add(task, msg)  # keep it in progress while we retry recording
        try:
            while True:
                try:
                    dl_seq = await deadletters.record(self.nc.jetstream(), letter, self.nc.max_payload)
                    break
                except asyncio.CancelledError:
                    if not redelivers:
                        self._log_lost(msg)
                    raise
                except Exception as record_exc:  # noqa: BLE001 - keep the message rather than lose it
                    logger.error(
                        "Cannot record dead letter actor=%s seq=%s error=%r; will retry",
                        actor.name,
                        stream_seq(msg),
                        record_exc,
                    )
                if redelivers:
                    await msg.nak(delay=actor.retry_delay_for(delivery) or 1.0)
                    return False
                if self.stopping():
                    self._log_lost(msg)
                    return False
                try:
                    await asyncio.sleep(pause)
                except asyncio.CancelledError:
                    self._log_lost(msg)
                    raise
                pause = min(pause * 2, 5.0)
        finally:
            self.watch.stop_pulse(task)
        await msg.term()
        self.stats.dead += 1
        logger.error(
            "Dead letter recorded actor=%s stream=%s seq=%s attempts=%s dead_letter=%s",
            actor.name,
            actor.event.stream_name,
            stream_seq(msg),
            letter.attempts,
            dl_seq,
        )
        return True

    def _log_lost(self, msg: Msg) -> None:
        # The last resort: JetStream will not deliver it again, so the log keeps the payload.
        logger.critical(
            "Dead letter lost actor=%s stream=%s seq=%s payload_base64=%s",
            self.actor.name,
            self.actor.event.stream_name,
            stream_seq(msg),
            base64.b64encode(msg.data).decode(),
        )
