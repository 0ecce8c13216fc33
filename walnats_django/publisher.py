"""The publishing API: `emit` and `request` (async) and their sync twins."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, TypeVar

from nats.aio.msg import Msg

from .client import get_connection
from .client.pubacks import jetstream_disabled
from .conf import walnats_settings
from .errors import NotARequestEvent, RemoteError
from .events import Event
from .names import event_name_problem, require_valid
from .serializers import check_instance, decode, encode
from .sync import run_sync
from .wire import HEADER_ACTOR, HEADER_ERROR, CloudEvent, build_headers

T = TypeVar("T")
R = TypeVar("R")
Meta = CloudEvent | Mapping[str, str] | None

_valid_events: set[str] = set()


def _encode_payload(event: Event[Any, Any], message: object) -> bytes:
    if event.name not in _valid_events:
        require_valid(event_name_problem(event.name))
        _valid_events.add(event.name)
    check_instance(event.schema, message, f"payload of event {event.name!r}")
    return encode(event.payload_serializer, message, f"payload of event {event.name!r}")


async def emit(
    event: Event[T, Any],
    message: T,
    *,
    uid: str | None = None,
    trace_id: str | None = None,
    delay: float | None = None,
    meta: Meta = None,
    wait: bool = False,
) -> None:
    """Publish `message` for every actor of `event`; with `wait=True`, return once JetStream stored it.

    Without `wait`, storage failures are logged (logger `walnats_django.client`), not raised.
    """
    payload = _encode_payload(event, message)
    headers = build_headers(uid=uid, trace_id=trace_id, delay=delay, meta=meta)
    await publish_encoded(event, payload, headers, wait=wait)


async def publish_encoded(
    event: Event[Any, Any], payload: bytes, headers: dict[str, str], *, wait: bool
) -> None:
    """`emit()` after encoding: publish `payload` with `headers` (for `emit_on_commit`, which encodes
    at the call site and publishes at commit)."""
    timeout = walnats_settings.REQUEST_TIMEOUT
    started = time.monotonic()
    conn = await get_connection(timeout)
    if not conn.jetstream_enabled:
        raise jetstream_disabled()
    if wait:
        # The timeout covers getting a connection too, as request()'s does.
        remaining = max(timeout - (time.monotonic() - started), 0.001)
        await conn.mux.publish_and_wait(
            event.subject, event.stream_name, payload, headers, timeout=remaining, expects_answer=False
        )
    else:
        await conn.mux.publish_emit(event.subject, event.stream_name, payload, headers or None)


async def request(
    event: Event[T, R],
    message: T,
    *,
    timeout: float | None = None,
    uid: str | None = None,
    trace_id: str | None = None,
    delay: float | None = None,
    meta: Meta = None,
) -> R:
    """Publish `message` and return the actor's answer, decoded as the event's response type.

    Raises a `WalnatsError` subclass as soon as the outcome is known (see `errors`).
    """
    if not event.has_response:
        raise NotARequestEvent(
            f"event {event.name!r} has no response type; declare it with "
            f".with_response(...) or call emit() instead."
        )
    payload = _encode_payload(event, message)
    if timeout is None:
        timeout = walnats_settings.REQUEST_TIMEOUT
    deadline = time.time() + timeout + (delay or 0)
    headers = build_headers(uid=uid, trace_id=trace_id, delay=delay, meta=meta, deadline=deadline)
    started = time.monotonic()
    conn = await get_connection(timeout)
    if not conn.jetstream_enabled:
        raise jetstream_disabled()
    remaining = max(timeout - (time.monotonic() - started), 0.001) + (delay or 0)
    answer = await conn.mux.publish_and_wait(
        event.subject, event.stream_name, payload, headers, timeout=remaining, expects_answer=True
    )
    assert answer is not None
    return _decode_answer(event, answer)


def _decode_answer(event: Event[Any, R], answer: Msg) -> R:
    headers = answer.headers
    if headers and HEADER_ERROR in headers:
        raise RemoteError(
            headers[HEADER_ERROR], answer.data.decode(errors="replace"), actor=headers.get(HEADER_ACTOR)
        )
    result: R = decode(
        event.answer_serializer, event.response_schema, answer.data, f"answer to event {event.name!r}"
    )
    return result


def emit_sync(
    event: Event[T, Any],
    message: T,
    *,
    uid: str | None = None,
    trace_id: str | None = None,
    delay: float | None = None,
    meta: Meta = None,
    wait: bool = False,
) -> None:
    """`emit()` for sync code (WSGI views, commands, shell), over one shared connection."""
    run_sync(emit(event, message, uid=uid, trace_id=trace_id, delay=delay, meta=meta, wait=wait))


def publish_encoded_sync(
    event: Event[Any, Any], payload: bytes, headers: dict[str, str], *, wait: bool
) -> None:
    """`publish_encoded()` for sync code."""
    run_sync(publish_encoded(event, payload, headers, wait=wait))


def request_sync(
    event: Event[T, R],
    message: T,
    *,
    timeout: float | None = None,
    uid: str | None = None,
    trace_id: str | None = None,
    delay: float | None = None,
    meta: Meta = None,
) -> R:
    """`request()` for sync code (WSGI views, commands, shell), over one shared connection."""
    return run_sync(
        request(event, message, timeout=timeout, uid=uid, trace_id=trace_id, delay=delay, meta=meta)
    )
