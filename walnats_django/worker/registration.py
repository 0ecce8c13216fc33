"""Creating or updating the streams and consumers a worker's actors need, and the dead-letter stream."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from nats.js import JetStreamContext

from .. import deadletters
from ..actors import Actor
from ..jetstream import ensure_consumer, ensure_stream

logger = logging.getLogger("walnats_django.worker")


async def register(js: JetStreamContext, actors: Sequence[Actor[Any, Any]]) -> None:
    """Upsert each event's stream and each actor's consumer; make the dead-letter stream if missing."""
    for event in {a.event.name: a.event for a in actors}.values():
        await ensure_stream(js, event)
    for actor in actors:
        await ensure_consumer(js, actor)
    try:
        await deadletters.ensure_stream(js)
    except Exception as exc:  # noqa: BLE001 - dead letters then fall back to retrying
        logger.warning("Cannot create the dead-letter stream %s: %r", deadletters.STREAM, exc)
