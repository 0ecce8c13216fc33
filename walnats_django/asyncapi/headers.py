"""Schemas of the NATS headers walnats-django sends (see wire.py), for the document's messages."""

from __future__ import annotations

import dataclasses

from ..wire import (
    HEADER_ACCEPT_ERRORS,
    HEADER_ACTOR,
    HEADER_DEADLINE,
    HEADER_DELAY,
    HEADER_ERROR,
    HEADER_MSG_ID,
    HEADER_REPLAY_FOR,
    HEADER_REPLY,
    HEADER_TRACE,
    CloudEvent,
)
from ..worker.replies import MAX_ERROR_MESSAGE
from .schema import Schema

EVENT_HEADERS = "walnats-event-headers"
REQUEST_HEADERS = "walnats-request-headers"
ERROR_HEADERS = "walnats-error-headers"
"""Keys in `components.schemas`; never a Python class name (those have no '-')."""

_EPOCH = r"^[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$"


def _text(description: str, **extra: object) -> Schema:
    return {"type": "string", "description": description, **extra}


_COMMON: Schema = {
    HEADER_MSG_ID: _text(
        "uid= of emit()/request(): JetStream drops a second message with the same id within the "
        "stream's duplicate window (2 minutes by default). Defaults to ce-id when CloudEvents meta is sent."
    ),
    HEADER_TRACE: _text("trace_id= of emit()/request(), passed through for tracing."),
    HEADER_DELAY: _text(
        "UTC epoch seconds (a float as text) before which actors do not handle the message.",
        pattern=_EPOCH,
    ),
    HEADER_REPLAY_FOR: _text(
        "On a replayed dead letter: the only actor that handles it; the other actors skip it."
    ),
    "traceparent": _text(
        "W3C trace context of the sender's span (WALNATS['TRACING'], on by default when "
        "opentelemetry-api is installed); actors continue the trace. Also copied to Walnats-Trace.",
        pattern=r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
    ),
    "tracestate": _text("W3C trace state that goes with traceparent, when the sender's context has one."),
}
_REQUEST: Schema = {
    HEADER_REPLY: _text(
        "The requester's inbox subject: the actor publishes its answer there with core NATS, after "
        "the ack (the message's own reply subject carries JetStream's acks)."
    ),
    HEADER_DEADLINE: _text(
        "UTC epoch seconds after which the requester no longer waits; actors skip the message then. "
        "Also asks for error answers.",
        pattern=_EPOCH,
    ),
    HEADER_ACCEPT_ERRORS: _text(
        "Present: the requester understands error answers (sent without a deadline)."
    ),
}
_CLOUD_EVENTS: Schema = {
    f"ce-{field.name}": _text(f"CloudEvents attribute {field.name!r} (NATS protocol binding).")
    for field in dataclasses.fields(CloudEvent)
}
_CLOUD_EVENTS["ce-time"]["format"] = "date-time"
_META = {"type": "string", "description": "meta= headers of emit()/request(), passed through as they are."}


def event_headers(*, request: bool) -> Schema:
    """Headers of a message on an event's subject; `request`: the event has an answer."""
    properties = {**_COMMON, **(_REQUEST if request else {}), **_CLOUD_EVENTS}
    return {
        "type": "object",
        "description": "All optional. Names starting with Walnats- or Nats- are reserved for the protocol.",
        "properties": properties,
        "additionalProperties": _META,
    }


def error_headers() -> Schema:
    """Headers of an error answer (sent only to requesters that understand them)."""
    return {
        "type": "object",
        "properties": {
            HEADER_ERROR: _text("The type name of the exception the actor raised."),
            HEADER_ACTOR: _text("The name of the actor that failed."),
        },
        "required": [HEADER_ERROR],
    }


ERROR_PAYLOAD: Schema = {
    "type": "string",
    "description": f"The exception's message as UTF-8 text, at most {MAX_ERROR_MESSAGE} bytes.",
}
