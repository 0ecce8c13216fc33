"""Reading JetStream's PubAcks and nats-py's publish errors as walnats-django errors."""

from __future__ import annotations

import json

import nats.errors
from nats.aio.msg import Msg

from ..errors import (
    DuplicateRequest,
    EventNotRegistered,
    JetStreamDisabled,
    NatsUnavailable,
    PayloadTooLarge,
    PublishRejected,
)
from .connect import shown_servers

STREAM_NOT_FOUND = 10059
"""JetStream's err_code for "stream not found"."""


def no_responders(msg: Msg) -> bool:
    """A PubAck that is a "no responders" status: no stream, or no stream leader right now."""
    headers = msg.headers
    return headers is not None and headers.get("Status") == "503"


def stream_missing(stream: str) -> EventNotRegistered:
    """The error for a publish that no stream captures."""
    return EventNotRegistered(
        f"no JetStream stream captures subject of stream {stream!r}; run "
        "`manage.py runactors` once (it creates streams), or check the event name."
    )


def may_be_a_problem(msg: Msg) -> bool:
    """False for a plain success PubAck (`{"stream":..,"seq":..}`), which is not worth parsing."""
    data = msg.data
    return bool(msg.headers) or b'"error"' in data or b'"duplicate"' in data


def ack_problem(msg: Msg, stream: str, *, duplicate_ok: bool, jetstream: bool) -> Exception | None:
    """What went wrong according to this PubAck, or None when the message was stored.

    `jetstream` says whether the server announced JetStream: a "no responders" status then
    means no stream captures the subject, otherwise that JetStream is off.
    """
    if no_responders(msg):
        return stream_missing(stream) if jetstream else jetstream_disabled()
    try:
        ack = json.loads(msg.data)
    except ValueError:
        return PublishRejected(f"unreadable PubAck from JetStream: {msg.data[:200]!r}")
    error = ack.get("error")
    if error:
        return PublishRejected(
            f"JetStream rejected the message for stream {stream!r}: {error.get('description')} "
            f"(err_code {error.get('err_code')}); check the event's Limits and the payload size.",
            code=error.get("err_code"),
        )
    if ack.get("duplicate") and not duplicate_ok:
        return DuplicateRequest(
            f"a message with this uid was already accepted by stream {stream!r} (seq "
            f"{ack.get('seq')}) within the de-duplication window; use a new uid."
        )
    return None


def jetstream_disabled() -> JetStreamDisabled:
    """The error for a server without JetStream, naming the servers and the fix."""
    return JetStreamDisabled(
        f"the NATS server at {shown_servers()} runs without JetStream; start it with "
        "`nats-server -js` (or `jetstream {}` in its config file)."
    )


def publish_error(exc: nats.errors.Error) -> Exception:
    """The walnats-django error for a publish nats-py refused."""
    if isinstance(exc, nats.errors.MaxPayloadError):
        return PayloadTooLarge(f"the message is larger than the server's max_payload: {exc}")
    return NatsUnavailable(f"NATS refused the publish: {type(exc).__name__}: {exc}")
