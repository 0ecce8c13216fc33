"""Creating or updating the streams and consumers a worker's actors need, and the dead-letter stream.

In a cluster the JetStream API has no answer while a meta leader is elected: registration
waits that out rather than failing the worker.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import nats.errors
from nats.js import JetStreamContext
from nats.js.errors import APIError

from .. import deadletters
from ..actors import Actor
from ..jetstream import ensure_consumer, ensure_stream

logger = logging.getLogger("walnats_django.worker")

FIRST_PAUSE = 0.25
MAX_PAUSE = 2.0


def is_transient(exc: BaseException) -> bool:
    """Whether a JetStream API failure means "no leader right now, ask again" (not a real refusal)."""
    if isinstance(exc, APIError):
        return exc.code in (500, 503)
    return isinstance(exc, nats.errors.TimeoutError | nats.errors.NoRespondersError | TimeoutError)


async def register(js: JetStreamContext, actors: Sequence[Actor[Any, Any]], stop: asyncio.Event) -> bool:
    """Upsert streams and consumers, retrying while JetStream is unavailable; False if stopped first."""
    pause = FIRST_PAUSE
    while not stop.is_set():
        try:
            await _register_once(js, actors)
            return True
        except Exception as exc:
            if not is_transient(exc):
                raise
            logger.warning(
                "JetStream unavailable while registering error=%r; retrying in %gs (leader election?)",
                exc,
                pause,
            )
        try:
            await asyncio.wait_for(stop.wait(), pause)
        except TimeoutError:
            pause = min(pause * 2, MAX_PAUSE)
    return False


async def _register_once(js: JetStreamContext, actors: Sequence[Actor[Any, Any]]) -> None:
    for event in {a.event.name: a.event for a in actors}.values():
        await ensure_stream(js, event)
    for actor in actors:
        await ensure_consumer(js, actor)
    try:
        await deadletters.ensure_stream(js)
    except Exception as exc:  # noqa: BLE001 - dead letters then fall back to retrying
        logger.warning("Cannot create the dead-letter stream %s: %r", deadletters.STREAM, exc)
