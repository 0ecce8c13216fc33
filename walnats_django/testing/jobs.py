"""Running one handler in process with the worker's retry rules, retries without sleeping.

Generic on purpose (a handler, a payload decoder, a retry plan): actors use it now, other
kinds of jobs may later.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.db import connection, transaction

from ..errors import InlineModeError, SerializationError
from ..worker.outcomes import GiveUp, HandBack

logger = logging.getLogger("walnats_django.testing")

MAX_HAND_BACKS = 1000
"""Hand-backs (`HandBack`) in a row before a job counts as stuck: a worker would loop for ever."""


@dataclasses.dataclass(frozen=True)
class RetryPlan:
    """When a failed attempt is the last one, as `worker.failures.Failures.is_final` decides."""

    max_attempts: int | None
    """The handler's own limit (None: unlimited, as JetStream's max_deliver -1)."""
    cap: int
    """The in-process bound when `max_attempts` is None: a real worker would retry forever."""
    retry_delay_for: Callable[[int], float]
    budget: float | None = None
    """Seconds a requester that understands error answers waits; retries stop when the next
    would start after it. None for emits."""

    def is_final(self, attempt: int, elapsed: float) -> bool:
        """Whether failed attempt `attempt` (1-based) ends the job, `elapsed` seconds after it began."""
        limit = self.cap if self.max_attempts is None else self.max_attempts
        if attempt >= limit:
            return True
        return self.budget is not None and elapsed + self.retry_delay_for(attempt) >= self.budget


@dataclasses.dataclass(frozen=True)
class Job:
    """A handler to run on a payload decoded afresh for each attempt, as each redelivery is."""

    name: str
    handler: Callable[[Any], Any]
    is_async: bool
    timeout: float
    """Seconds an attempt may take before it counts as failed (`job_timeout`)."""
    decode: Callable[[], Any]
    """Raises `SerializationError` for a payload the handler's event cannot decode."""
    plan: RetryPlan


@dataclasses.dataclass
class Outcome:
    attempts: int
    result: Any = None
    errors: list[BaseException] = dataclasses.field(default_factory=list)
    gave_up: bool = False
    settled: bool = False
    """The handler gave up itself (`GiveUp`): it has recorded the failure, nothing is left to report."""


async def run_job(job: Job) -> Outcome:
    """Run `job` until it succeeds or its plan says give up; retry delays pass without sleeping.

    A handler may settle a delivery itself, as in a worker: `HandBack` runs it again (not a
    failure), `GiveUp` ends the job with its cause.
    """
    started = time.monotonic()
    waited = 0.0
    hand_backs = 0
    outcome = Outcome(attempts=0)
    while True:
        outcome.attempts += 1
        try:
            payload = job.decode()
        except SerializationError as exc:
            # A worker terminates an undecodable message at once: no retry would decode it.
            outcome.errors.append(exc)
            outcome.gave_up = True
            return outcome
        try:
            outcome.result = await _attempt(job, payload)
        except HandBack as back:
            hand_backs += 1
            if hand_backs >= MAX_HAND_BACKS:
                outcome.errors.append(
                    InlineModeError(f"{job.name} handed its message back {hand_backs} times in a row.")
                )
                outcome.gave_up = True
                return outcome
            waited += back.delay
            continue
        except GiveUp as give_up:
            outcome.errors.append(give_up.cause)
            outcome.gave_up = outcome.settled = True
            return outcome
        except Exception as exc:  # noqa: BLE001 - any handler failure is retried or given up on
            outcome.errors.append(exc)
            elapsed = time.monotonic() - started + waited
            final = job.plan.is_final(outcome.attempts, elapsed)
            logger.warning(
                "Inline job failed job=%s attempt=%s final=%s error=%r",
                job.name,
                outcome.attempts,
                final,
                exc,
            )
            if final:
                outcome.gave_up = True
                return outcome
            waited += job.plan.retry_delay_for(outcome.attempts)
            continue
        return outcome


async def _attempt(job: Job, payload: Any) -> Any:
    if job.is_async:
        return await _run_async(job, payload)
    started = time.monotonic()
    result = await call_in_caller_thread(job.handler, payload)
    if time.monotonic() - started > job.timeout:
        # A worker cannot stop a thread either: the late result counts as a failure.
        raise _timed_out(job)
    return result


async def _run_async(job: Job, payload: Any) -> Any:
    limit = asyncio.timeout(job.timeout)
    try:
        async with limit:
            return await job.handler(payload)
    except TimeoutError:
        if limit.expired():
            raise _timed_out(job) from None
        raise


async def call_in_caller_thread(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """`func(*args, **kwargs)` for a sync handler or task: in the caller's thread when called
    through async_to_sync (the sync twins, Django's test client), so it shares the test's
    database connection, and in a savepoint when the test has a transaction open."""
    return await sync_to_async(_run_sync, thread_sensitive=True)(func, *args, **kwargs)


def _run_sync(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    if connection.in_atomic_block:
        # A savepoint, so a failing handler cannot break the test's transaction (a worker has
        # its own connection); a failed attempt's writes roll back with it.
        with transaction.atomic():
            return func(*args, **kwargs)
    return func(*args, **kwargs)


def _timed_out(job: Job) -> TimeoutError:
    return TimeoutError(f"job_timeout of {job.timeout:g}s exceeded")
