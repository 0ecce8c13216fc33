"""The AsyncAPI 3.0 document of a project: a channel per event, a receive operation per actor.

Keys never collide with an event's name: event names may not start with `walnats-`, so reply
channels are `walnats-reply.<event>`; operations are `send.<event>` and `receive.<event>.<actor>`
(an actor name has no dot).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from ..actors import Actor
from ..conf import walnats_settings
from ..events import Event
from ..jetstream import stream_config
from ..registry import Registry, registry
from ..servers import normalize, server_url_problem
from . import headers
from .errors import AsyncAPIError
from .payloads import TEXT, Payloads
from .schema import Components, Schema
from .tasks import task_queue_channels

ASYNCAPI_VERSION = "3.0.0"
DEFAULT_VERSION = "1.0.0"
REPLY_PREFIX = "walnats-reply."
REPLY_ADDRESS = "$message.header#/Walnats-Reply"

Channel = tuple[Event[Any, Any], tuple[Actor[Any, Any], ...]]


@dataclasses.dataclass(frozen=True)
class Info:
    """The document's `info`: what the contract is called and its version."""

    title: str
    version: str
    description: str = (
        "Events and actors over NATS JetStream, in the walnats wire format: an event's subject is its "
        "name, captured by an interest stream; each actor is a durable pull consumer. A request "
        "carries the requester's inbox in the Walnats-Reply header; the actor publishes the answer "
        "there with core NATS."
    )


def default_info() -> Info:
    """Title "<project> events" (the settings module's package, e.g. `mysite`), version 1.0.0."""
    module = getattr(settings, "SETTINGS_MODULE", None) or "django"
    return Info(title=f"{module.split('.')[0]} events", version=DEFAULT_VERSION)


def build_document(
    info: Info,
    *,
    events: Registry = registry,
    servers: Sequence[str] | None = None,
    task_queues: bool = True,
) -> dict[str, Any]:
    """The document for the registered events and actors (and TASKS queues, unless told not to).

    `servers`: NATS URLs to list (default: `WALNATS["SERVERS"]`); credentials are never written.
    Raises `AsyncAPIError` (or its `UnsupportedType`) rather than return an invalid document.
    """
    problems = events.problems()
    if problems:
        listed = "; ".join(f"{p.id}: {p.msg}" for p in problems)
        raise AsyncAPIError(f"the registry has problems, fix them first (manage.py check): {listed}")
    channels: list[Channel] = [(event, events.actors_for(event)) for event in events.events]
    if task_queues:
        channels += task_queue_channels()
    _require_unique(channels)
    components = Components()
    serializers = [event.payload_serializer for event, _ in channels]
    serializers += [event.answer_serializer for event, _ in channels if event.has_response]
    builder = _Builder(components, Payloads(components, serializers))
    for event, actors in channels:
        builder.add(event, actors)
    if builder.has_requests:
        components.add(headers.REQUEST_HEADERS, headers.event_headers(request=True))
        components.add(headers.ERROR_HEADERS, headers.error_headers())
    components.add(headers.EVENT_HEADERS, headers.event_headers(request=False))
    document: dict[str, Any] = {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {"title": info.title, "version": info.version, "description": info.description},
        "defaultContentType": "application/json",
    }
    described_servers = servers_section(walnats_settings.SERVERS if servers is None else servers)
    if described_servers:
        document["servers"] = described_servers
    document["channels"] = builder.channels
    document["operations"] = builder.operations
    document["components"] = {"schemas": dict(sorted(components.schemas.items()))}
    return _plain(document)


def _plain(document: dict[str, Any]) -> dict[str, Any]:
    """A copy sharing no part with another (YAML would write shared parts as `&id001` anchors)."""
    try:
        copy: dict[str, Any] = json.loads(json.dumps(document, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise AsyncAPIError(
            f"the document holds a value that is not JSON ({exc}); check json_schema() "
            "of custom serializers and the defaults of dataclass fields."
        ) from exc
    return copy


def servers_section(urls: Sequence[str]) -> dict[str, Schema]:
    """One server per URL: host and protocol only, so no user, password or token is written."""
    described: dict[str, Schema] = {}
    for index, url in enumerate(urls, start=1):
        problem = server_url_problem(url)
        if problem is not None:
            raise AsyncAPIError(f"{problem} Fix WALNATS['SERVERS'] or NATS_URL (see manage.py check).")
        parts = urlsplit(normalize(url))
        host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else str(parts.hostname)
        host += f":{parts.port or 4222}"
        protocol = parts.scheme if parts.scheme in ("ws", "wss") else "nats"
        server: Schema = {"host": host, "protocol": protocol}
        if parts.scheme == "tls":
            server["description"] = "TLS required (tls:// URL)."
        described[f"nats-{index}" if len(urls) > 1 else "nats"] = server
    return described


def _require_unique(channels: Sequence[Channel]) -> None:
    seen: set[str] = set()
    for event, _ in channels:
        if event.name in seen:
            raise AsyncAPIError(
                f"two channels are named {event.name!r} (an event and a task queue?); rename the event."
            )
        seen.add(event.name)


class _Builder:
    """Adds one event's channels and operations at a time."""

    def __init__(self, components: Components, payloads: Payloads) -> None:
        self.components = components
        self.payloads = payloads
        self.channels: dict[str, Schema] = {}
        self.operations: dict[str, Schema] = {}
        self.has_requests = False

    def add(self, event: Event[Any, Any], actors: Sequence[Actor[Any, Any]]) -> None:
        self.channels[event.name] = self._channel(event)
        reply = self._reply(event) if event.has_response else None
        send: Schema = {
            "action": "send",
            "channel": _ref("channels", event.name),
            "title": f"Send {event.name}",
            "summary": (
                "Request (walnats_django.request) and await the answer, or emit without one."
                if reply
                else "Emit (walnats_django.emit); actors handle it at least once."
            ),
            "messages": [_ref("channels", event.name, "messages", "event")],
        }
        if reply:
            send["reply"] = reply
        self.operations[f"send.{event.name}"] = send
        for actor in actors:
            self.operations[f"receive.{event.name}.{actor.name}"] = self._receive(event, actor, reply)

    def _channel(self, event: Event[Any, Any]) -> Schema:
        payload = self.payloads.describe(event.payload_serializer, f"payload of {event}")
        message: Schema = {
            "name": event.name,
            "title": event.name,
            "contentType": payload.content_type,
            "headers": Components.ref(
                headers.REQUEST_HEADERS if event.has_response else headers.EVENT_HEADERS
            ),
            "payload": payload.schema,
            "x-walnats-serializer": payload.serializer,
        }
        channel: Schema = {"address": event.subject, "title": event.name}
        if event.description:
            channel["description"] = event.description
            message["summary"] = event.description
        channel["messages"] = {"event": message}
        channel["x-walnats-stream"] = _stream(event)
        return channel

    def _reply(self, event: Event[Any, Any]) -> Schema:
        self.has_requests = True
        key = REPLY_PREFIX + event.name
        answer = self.payloads.describe(event.answer_serializer, f"answer of {event}")
        self.channels[key] = {
            "address": None,
            "title": f"Answers of {event.name}",
            "description": "The requester's inbox, named by the request's Walnats-Reply header; "
            "answers travel over core NATS, not JetStream.",
            "messages": {
                "answer": {
                    "name": f"{event.name} answer",
                    "title": f"Answer of {event.name}",
                    "contentType": answer.content_type,
                    "payload": answer.schema,
                    "x-walnats-serializer": answer.serializer,
                },
                "error": {
                    "name": f"{event.name} error",
                    "title": f"Error answer of {event.name}",
                    "summary": "The actor raised: sent instead of the answer, only when the request has "
                    "a Walnats-Deadline or Walnats-Accept-Errors header (a walnats requester gets none).",
                    "contentType": TEXT,
                    "headers": Components.ref(headers.ERROR_HEADERS),
                    "payload": headers.ERROR_PAYLOAD,
                },
            },
        }
        return {
            "address": {"description": "The Walnats-Reply header of the request.", "location": REPLY_ADDRESS},
            "channel": _ref("channels", key),
            "messages": [
                _ref("channels", key, "messages", "answer"),
                _ref("channels", key, "messages", "error"),
            ],
        }

    def _receive(self, event: Event[Any, Any], actor: Actor[Any, Any], reply: Schema | None) -> Schema:
        operation: Schema = {
            "action": "receive",
            "channel": _ref("channels", event.name),
            "title": actor.name,
        }
        if actor.description:
            operation["summary"] = actor.description
        operation["messages"] = [_ref("channels", event.name, "messages", "event")]
        if reply:
            operation["reply"] = reply
        operation["x-walnats-actor"] = {
            "durable_name": actor.name,
            "deliver": "pull",
            "ack_wait": actor.ack_wait,
            "max_attempts": actor.max_attempts,
            "max_ack_pending": actor.max_ack_pending,
            "max_jobs": actor.max_jobs,
            "job_timeout": actor.job_timeout,
            "retry_delay": list(actor.retry_delay),
        }
        return operation


def _stream(event: Event[Any, Any]) -> Schema:
    """Where JetStream keeps the event (as runactors creates the stream); null limits: unlimited."""
    config = stream_config(event)
    return {
        "name": config.name,
        "subjects": config.subjects,
        "retention": config.retention.value if config.retention else None,
        "discard": config.discard.value if config.discard else None,
        "storage": config.storage.value if config.storage else None,
        "replicas": config.num_replicas,
        "max_age": config.max_age,
        "max_consumers": config.max_consumers,
        "max_msgs": config.max_msgs,
        "max_bytes": config.max_bytes,
        "max_msg_size": config.max_msg_size,
    }


def _ref(*path: str) -> Schema:
    return {"$ref": "#/" + "/".join(part.replace("~", "~0").replace("/", "~1") for part in path)}
