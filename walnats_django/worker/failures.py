"""What a failed job leads to: a silent retry, or giving up (dead letter, then the error answer)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from nats.aio.msg import Msg

from ..actors import Actor
from ..observe.outcomes import JobOutcome
from ..wire import HEADER_DEADLINE, accepts_errors, parse_float
from .dead_letters import DeadLetterRecorder
from .messages import attempt, stream_seq
from .replies import Replier
from .stats import Stats
from .watch import JobWatch

logger = logging.getLogger("walnats_django.worker")


class Failures:
    """Decides and carries out what follows one actor's failed jobs."""

    def __init__(
        self,
        actor: Actor[Any, Any],
        *,
        watch: JobWatch,
        replier: Replier,
        dead_letters: DeadLetterRecorder,
        stats: Stats,
    ) -> None:
        self.actor = actor
        self.watch = watch
        self.replier = replier
        self.dead_letters = dead_letters
        self.stats = stats

    def timeout_error(self) -> TimeoutError:
        """The error a job that ran past `job_timeout` failed with."""
        return TimeoutError(f"job_timeout of {self.actor.job_timeout:g}s exceeded")

    async def timed_out(
        self, task: asyncio.Task[Any], msg: Msg, headers: dict[str, str], thread: asyncio.Future[Any] | None
    ) -> JobOutcome:
        """The job ran past `job_timeout` (its task was cancelled; `thread` runs a sync handler)."""
        self.watch.stop_pulse(task)
        logger.error(
            "Job timed out actor=%s seq=%s attempt=%s", self.actor.name, stream_seq(msg), attempt(msg)
        )
        error = self.timeout_error()
        if thread is None or thread.done():
            return await self.failed(msg, headers, error)
        # A thread cannot be stopped: keep the message (pulsed) until the thread ends, so a
        # retry never runs beside it and slots are not oversold; a final failure is told now.
        final = self.is_final(msg, headers)
        if final:
            await self.replier.answer_error(msg, headers, error)
        self.watch.add(task, msg)
        await asyncio.wait({thread})
        self.watch.stop_pulse(task)
        return await self.failed(msg, headers, error, answered=final)

    def is_final(self, msg: Msg, headers: dict[str, str]) -> bool:
        """Whether this failure ends the message: out of attempts, or a retry would come too late.

        A requester that understands error answers hears only the final outcome, so while a
        retry can still answer before its deadline the failure stays silent. Without such a
        requester (emits, walnats 1.2.6 requesters) only `max_attempts` ends it.
        """
        delivery = attempt(msg)
        if self.actor.max_attempts is not None and delivery >= self.actor.max_attempts:
            return True
        if not accepts_errors(headers):
            return False
        deadline = parse_float(headers.get(HEADER_DEADLINE))
        return deadline is not None and time.time() + self.actor.retry_delay_for(delivery) >= deadline

    async def failed(
        self, msg: Msg, headers: dict[str, str], error: BaseException, *, answered: bool = False
    ) -> JobOutcome:
        """A handler failed: retry later (nak with the retry delay), or give up for good.

        Giving up records a dead letter before the requester hears of it, so the handler
        never runs again for a request whose caller was told it failed.
        """
        self.stats.failed += 1
        if not self.is_final(msg, headers):
            await msg.nak(delay=self.actor.retry_delay_for(attempt(msg)))
            return JobOutcome.RETRIED
        recorded = await self.dead_letters.give_up(msg, headers, error)
        if not answered:
            await self.replier.answer_error(msg, headers, error)
        return JobOutcome.DEAD_LETTERED if recorded else JobOutcome.RETRIED
