"""Stream and consumer configuration (as walnats 1.2.6 makes them) and their upsert."""

from __future__ import annotations

import logging
from typing import Any

from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DiscardPolicy, RetentionPolicy, StreamConfig
from nats.js.errors import BadRequestError

from .actors import Actor
from .events import Event

logger = logging.getLogger("walnats_django.jetstream")

STREAM_NAME_IN_USE = 10058


def stream_config(event: Event[Any, Any]) -> StreamConfig:
    """One interest-retention stream per event, capturing exactly the event's subject.

    `discard=new`: a full stream rejects new messages (the publisher gets `PublishRejected`)
    instead of silently dropping old, accepted ones.
    """
    limits = event.limits
    return StreamConfig(
        name=event.stream_name,
        subjects=[event.subject],
        description=event.description,
        retention=RetentionPolicy.INTEREST,
        discard=DiscardPolicy.NEW,
        max_age=limits.age,
        max_consumers=limits.consumers,
        max_msgs=limits.messages,
        max_bytes=limits.bytes,
        max_msg_size=limits.message_size,
    )


def consumer_config(actor: Actor[Any, Any]) -> ConsumerConfig:
    """A durable pull consumer named after the actor."""
    return ConsumerConfig(
        durable_name=actor.name,
        description=actor.description,
        ack_wait=actor.ack_wait,
        max_deliver=actor.max_attempts,
        max_ack_pending=actor.max_ack_pending,
    )


async def ensure_stream(js: JetStreamContext, event: Event[Any, Any]) -> None:
    """Create the event's stream, or update it when its config changed."""
    config = stream_config(event)
    try:
        await js.add_stream(config)
    except BadRequestError as exc:
        if exc.err_code != STREAM_NAME_IN_USE:
            raise
        await js.update_stream(config)
        logger.info("Updated stream stream=%s", event.stream_name)


async def ensure_consumer(js: JetStreamContext, actor: Actor[Any, Any]) -> None:
    """Create or update the actor's durable consumer (its stream must exist)."""
    await js.add_consumer(actor.event.stream_name, consumer_config(actor))
