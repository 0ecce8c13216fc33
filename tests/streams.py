"""What an event's stream stores, as the emit_on_commit and outbox tests see it (sync and async).

An interest stream drops a message no consumer wants, so `reset` adds a consumer that never
pulls: every message published after it stays in the stream for `stored` to read.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from typing import Any

import nats
from nats.js.api import ConsumerConfig
from nats.js.errors import NotFoundError

from walnats_django import Event
from walnats_django.jetstream import ensure_stream
from walnats_django.wire import HEADER_MSG_ID

INSPECTOR = "inspect"
"""The durable consumer that keeps every message in the stream."""


@dataclasses.dataclass(frozen=True)
class Stored:
    """One message in a stream."""

    seq: int
    uid: str | None
    """Its Nats-Msg-Id."""
    data: bytes
    headers: dict[str, str]


async def reset_async(url: str, event: Event[Any, Any]) -> None:
    """Start the event's stream afresh, empty, with a consumer that keeps its messages."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        with contextlib.suppress(NotFoundError):
            await js.delete_stream(event.stream_name)
        await ensure_stream(js, event)
        await js.add_consumer(event.stream_name, ConsumerConfig(durable_name=INSPECTOR, ack_wait=3600))
    finally:
        await nc.close()


async def stored_async(url: str, event: Event[Any, Any]) -> list[Stored]:
    """Every message in the event's stream, in stream order."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        state = (await js.stream_info(event.stream_name)).state
        if not state.messages:
            return []
        raw = await asyncio.gather(
            *(js.get_msg(event.stream_name, seq) for seq in range(state.first_seq, state.last_seq + 1))
        )
    finally:
        await nc.close()
    return [
        Stored(msg.seq or 0, (msg.headers or {}).get(HEADER_MSG_ID), msg.data or b"", dict(msg.headers or {}))
        for msg in raw
    ]


def reset(url: str, event: Event[Any, Any]) -> None:
    """`reset_async` for sync tests."""
    asyncio.run(reset_async(url, event))


def stored(url: str, event: Event[Any, Any]) -> list[Stored]:
    """`stored_async` for sync tests."""
    return asyncio.run(stored_async(url, event))
