"""Stream and consumer configuration (as walnats 1.2.6 makes them) and their upsert.

An update never weakens a stream behind the code's back: replicas, storage and limits the
code does not name keep whatever the stream has (made by an operator, or by an earlier
release), because JetStream applies every field an update carries, and resets the others.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError

from .actors import Actor
from .conf import walnats_settings
from .errors import StreamConfigConflict
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
        storage=StorageType(event.storage or "file"),
        num_replicas=event.replicas or walnats_settings.REPLICAS,
        max_age=limits.age,
        max_consumers=limits.consumers,
        max_msgs=limits.messages,
        max_bytes=limits.bytes,
        max_msg_size=limits.message_size,
    )


def declared_fields(event: Event[Any, Any]) -> dict[str, Any]:
    """The stream fields the code names, as JetStream's JSON spells them (durations in ns)."""
    limits = event.limits
    fields: dict[str, Any] = {
        "subjects": [event.subject],
        "retention": RetentionPolicy.INTEREST.value,
        "discard": DiscardPolicy.NEW.value,
        "description": event.description,
        "max_age": None if limits.age is None else int(limits.age * 1_000_000_000),
        "max_consumers": limits.consumers,
        "max_msgs": limits.messages,
        "max_bytes": limits.bytes,
        "max_msg_size": limits.message_size,
        "storage": event.storage,
        "num_replicas": replicas_asked(event),
    }
    return {key: value for key, value in fields.items() if value is not None}


def replicas_asked(event: Event[Any, Any]) -> int | None:
    """The replicas the code asks for, or None when it names none (keep what the stream has)."""
    if event.replicas is not None:
        return event.replicas
    return walnats_settings.REPLICAS if walnats_settings.REPLICAS_SET else None


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
    """Create the event's stream, or bring what the code declares to an existing one."""
    await upsert_stream(js, stream_config(event), declared_fields(event), what=str(event))


async def upsert_stream(
    js: JetStreamContext, config: StreamConfig, declared: dict[str, Any], *, what: str
) -> None:
    """Create the stream `config` describes; if it exists, apply the `declared` fields only.

    Raises `StreamConfigConflict` when the declared storage differs: JetStream cannot change it.
    """
    try:
        await js.add_stream(config)
        return
    except BadRequestError as exc:
        if exc.err_code != STREAM_NAME_IN_USE:
            raise
    name = config.name
    assert name is not None
    # The raw JSON, not nats-py's StreamConfig: it drops fields it does not know, and an
    # update without them would reset them.
    info = await js._api_request(f"{js._prefix}.STREAM.INFO.{name}", b"", timeout=js._timeout)
    current: dict[str, Any] = info["config"]
    changes = {key: value for key, value in declared.items() if current.get(key) != value}
    if "storage" in changes:
        raise StreamConfigConflict(
            f"stream {name!r} keeps its messages in {current.get('storage')} storage, but {what} "
            f"declares storage={changes['storage']!r}; JetStream cannot change storage in place. "
            f"To migrate: stop publishing, drain it (`manage.py runactors --burst`), delete it "
            f"(`nats stream rm {name}`), then start runactors to create it anew."
        )
    if not changes:
        return
    await js._api_request(
        f"{js._prefix}.STREAM.UPDATE.{name}", json.dumps({**current, **changes}).encode(), timeout=js._timeout
    )
    logger.info(
        "Updated stream stream=%s %s",
        name,
        " ".join(f"{key}={current.get(key)!r}->{value!r}" for key, value in changes.items()),
    )


async def ensure_consumer(js: JetStreamContext, actor: Actor[Any, Any]) -> None:
    """Create or update the actor's durable consumer (its stream must exist)."""
    await js.add_consumer(actor.event.stream_name, consumer_config(actor))
