"""The publishing API: `emit` and `request` (async) and their sync twins.

Every call goes over NATS unless a `Route` is installed with `divert()` (the in-process test
mode, `walnats_django.testing.inline`): encoding, type checks and headers happen first either way.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Protocol, TypeVar

from nats.aio.msg import Msg

from .client import get_connection
from .client.pubacks import jetstream_disabled
from .conf import walnats_settings
from .errors import NotARequestEvent, RemoteError
from .events import Event
from .names import event_name_problem, require_valid
from .observe import current as observing
from .observe.outcomes import PublishKind
from .serializers import check_instance, decode, encode
from .sync import run_sync
from .wire import HEADER_ACTOR, HEADER_ERROR, CloudEvent, build_headers

T = TypeVar("T")
R = TypeVar("R")
Meta = CloudEvent | Mapping[str, str] | None


class Route(Protocol):
    """Where encoded messages go instead of NATS; see `divert()`."""

    async def publish(
        self, event: Event[Any, Any], payload: bytes, headers: dict[str, str], *, wait: bool
    ) -> None: ...

    def publish_sync(
        self, event: Event[Any, Any], payload: bytes, headers: dict[str, str], *, wait: bool
    ) -> None: ...

    async def request(
        self,
        event: Event[Any, R],
        payload: bytes,
        headers: dict[str, str],
        *,
        timeout: float,
        delay: float | None,
    ) -> R: ...

    def request_sync(
        self,
        event: Event[Any, R],
        payload: bytes,
        headers: dict[str, str],
        *,
        timeout: float,
        delay: float | None,
    ) -> R: ...


_route: Route | None = None
_valid_events: set[str] = set()


def divert(route: Route | None) -> Route | None:
    """Send every emit and request to `route` (None: to NATS again); return the previous route.

    Process-wide, so calls from any thread or task are diverted alike.
    """
    global _route
    previous, _route = _route, route
    return previous


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
    observer = observing.observer
    if observer is not None:
        with observer.publishing(PublishKind.EMIT, event, headers, len(payload)):
            await _publish_routed(event, payload, headers, wait=wait)
        return
    await _publish_routed(event, payload, headers, wait=wait)


async def _publish_routed(
    event: Event[Any, Any], payload: bytes, headers: dict[str, str], *, wait: bool
) -> None:
    route = _route
    if route is not None:
        await route.publish(event, payload, headers, wait=wait)
        return
    await publish_over_nats(event, payload, headers, wait=wait)


async def publish_over_nats(
    event: Event[Any, Any], payload: bytes, headers: dict[str, str], *, wait: bool
) -> None:
    """`publish_encoded()` on the loop's NATS connection, whatever the route."""
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


def _prepare_request(
    event: Event[T, R],
    message: T,
    timeout: float | None,
    uid: str | None,
    trace_id: str | None,
    delay: float | None,
    meta: Meta,
) -> tuple[bytes, dict[str, str], float]:
    """The encoded payload, the headers (with the deadline) and the timeout of a request."""
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
    return payload, headers, timeout


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
    payload, headers, timeout = _prepare_request(event, message, timeout, uid, trace_id, delay, meta)
    observer = observing.observer
    if observer is not None:
        with observer.publishing(PublishKind.REQUEST, event, headers, len(payload)):
            return await _request_routed(event, payload, headers, timeout, delay)
    return await _request_routed(event, payload, headers, timeout, delay)


async def _request_routed(
    event: Event[Any, R], payload: bytes, headers: dict[str, str], timeout: float, delay: float | None
) -> R:
    route = _route
    if route is not None:
        return await route.request(event, payload, headers, timeout=timeout, delay=delay)
    answer = await request_over_nats(event, payload, headers, timeout=timeout, delay=delay)
    return decode_answer(event, answer.data, answer.headers)


async def request_over_nats(
    event: Event[Any, Any], payload: bytes, headers: dict[str, str], *, timeout: float, delay: float | None
) -> Msg:
    """Publish a prepared request on the loop's NATS connection and return the raw answer."""
    started = time.monotonic()
    conn = await get_connection(timeout)
    if not conn.jetstream_enabled:
        raise jetstream_disabled()
    remaining = max(timeout - (time.monotonic() - started), 0.001) + (delay or 0)
    answer = await conn.mux.publish_and_wait(
        event.subject, event.stream_name, payload, headers, timeout=remaining, expects_answer=True
    )
    assert answer is not None
    return answer


def decode_answer(event: Event[Any, R], data: bytes, headers: Mapping[str, str] | None) -> R:
    """The answer decoded as the event's response type, or the `RemoteError` an error answer carries."""
    if headers and HEADER_ERROR in headers:
        raise RemoteError(
            headers[HEADER_ERROR], data.decode(errors="replace"), actor=headers.get(HEADER_ACTOR)
        )
    result: R = decode(
        event.answer_serializer, event.response_schema, data, f"answer to event {event.name!r}"
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
    payload = _encode_payload(event, message)
    headers = build_headers(uid=uid, trace_id=trace_id, delay=delay, meta=meta)
    publish_encoded_sync(event, payload, headers, wait=wait)


def publish_encoded_sync(
    event: Event[Any, Any], payload: bytes, headers: dict[str, str], *, wait: bool
) -> None:
    """`publish_encoded()` for sync code."""
    observer = observing.observer
    if observer is not None:
        with observer.publishing(PublishKind.EMIT, event, headers, len(payload)):
            _publish_routed_sync(event, payload, headers, wait=wait)
        return
    _publish_routed_sync(event, payload, headers, wait=wait)


def _publish_routed_sync(
    event: Event[Any, Any], payload: bytes, headers: dict[str, str], *, wait: bool
) -> None:
    route = _route
    if route is not None:
        route.publish_sync(event, payload, headers, wait=wait)
        return
    run_sync(publish_over_nats(event, payload, headers, wait=wait))


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
    payload, headers, timeout = _prepare_request(event, message, timeout, uid, trace_id, delay, meta)
    observer = observing.observer
    if observer is not None:
        with observer.publishing(PublishKind.REQUEST, event, headers, len(payload)):
            return _request_routed_sync(event, payload, headers, timeout, delay)
    return _request_routed_sync(event, payload, headers, timeout, delay)


def _request_routed_sync(
    event: Event[Any, R], payload: bytes, headers: dict[str, str], timeout: float, delay: float | None
) -> R:
    route = _route
    if route is not None:
        return route.request_sync(event, payload, headers, timeout=timeout, delay=delay)
    answer = run_sync(request_over_nats(event, payload, headers, timeout=timeout, delay=delay))
    return decode_answer(event, answer.data, answer.headers)
