"""The AsyncAPI document's shape (walnats_django.asyncapi.document): channels, operations, replies,
headers, stream placement, servers and task queues."""

from __future__ import annotations

import datetime
import json
from typing import Any

import jsonschema
import pytest
from pytest_django.fixtures import Settings as SettingsWrapper
from referencing import Registry as RefRegistry
from referencing.jsonschema import DRAFT7

from tests.asyncapi.kinds import registry_of_kinds
from walnats_django import Actor, Event, registry
from walnats_django.asyncapi import AsyncAPIError, Info, build_document
from walnats_django.registry import Registry
from walnats_django.tasks.compat import TaskError
from walnats_django.tasks.records import TaskRecord
from walnats_django.wire import HEADER_ACTOR, HEADER_ERROR, HEADER_REPLY, CloudEvent, build_headers

INFO = Info("kinds", "2.1.0")


def kinds_document(**options: Any) -> dict[str, Any]:
    return build_document(INFO, events=registry_of_kinds(), task_queues=False, **options)


def check(document: dict[str, Any], pointer: str, value: Any) -> None:
    """Validate `value` against the schema at `pointer`, `$ref`s resolved in `document`."""
    refs = RefRegistry().with_resource("urn:doc", DRAFT7.create_resource(document))
    jsonschema.Draft7Validator({"$ref": f"urn:doc#{pointer}"}, registry=refs).validate(value)


def test_header_info_and_content_type() -> None:
    document = kinds_document(servers=[])
    assert document["asyncapi"] == "3.0.0"
    assert document["info"]["title"] == "kinds"
    assert document["info"]["version"] == "2.1.0"
    assert "Walnats-Reply" in document["info"]["description"]
    assert document["defaultContentType"] == "application/json"
    assert "servers" not in document


def test_a_channel_per_event_addressed_by_its_subject_with_its_stream() -> None:
    document = kinds_document()
    events = [name for name in document["channels"] if not name.startswith("walnats-reply.")]
    assert events == [event.name for event in registry_of_kinds().events]
    order = document["channels"]["kinds.order"]
    assert order["address"] == "kinds.order"
    assert order["x-walnats-stream"] == {
        "name": "kinds-order",
        "subjects": ["kinds.order"],
        "retention": "interest",
        "discard": "new",
        "storage": "memory",
        "replicas": 3,
        "max_age": 3600,
        "max_consumers": None,
        "max_msgs": 10,
        "max_bytes": None,
        "max_msg_size": None,
    }
    text = document["channels"]["kinds.text"]
    assert text["description"] == "A plain str."
    assert text["messages"]["event"]["summary"] == "A plain str."
    assert "description" not in document["channels"]["kinds.number"]


def test_stream_replicas_follow_the_setting_unless_the_event_names_them(settings: SettingsWrapper) -> None:
    settings.WALNATS = {"REPLICAS": 5}
    streams = {name: c.get("x-walnats-stream") for name, c in kinds_document()["channels"].items()}
    assert streams["kinds.text"]["replicas"] == 5
    assert streams["kinds.order"]["replicas"] == 3
    assert streams["kinds.text"]["storage"] == "file"


def test_a_send_operation_per_event_and_a_receive_operation_per_actor() -> None:
    operations = kinds_document()["operations"]
    receives = {key for key, op in operations.items() if op["action"] == "receive"}
    assert receives == {
        "receive.kinds.ship.ship-it",
        "receive.kinds.ship.count-it",
        "receive.kinds.order.store-order",
        "receive.kinds.text.read-text",
    }
    sends = {key for key, op in operations.items() if op["action"] == "send"}
    assert sends == {f"send.{event.name}" for event in registry_of_kinds().events}
    ship_it = operations["receive.kinds.ship.ship-it"]
    assert ship_it["channel"] == {"$ref": "#/channels/kinds.ship"}
    assert ship_it["messages"] == [{"$ref": "#/channels/kinds.ship/messages/event"}]
    assert ship_it["title"] == "ship-it"
    assert ship_it["summary"] == "Ships <b>now</b>."
    assert ship_it["x-walnats-actor"] == {
        "durable_name": "ship-it",
        "deliver": "pull",
        "ack_wait": 16,
        "max_attempts": 3,
        "max_ack_pending": 1000,
        "max_jobs": 16,
        "job_timeout": 32,
        "retry_delay": [1, 5],
    }
    assert "summary" not in operations["receive.kinds.ship.count-it"]


def test_requests_reply_to_the_walnats_reply_header_with_an_answer_or_an_error() -> None:
    document = kinds_document()
    reply = {
        "address": {
            "description": "The Walnats-Reply header of the request.",
            "location": "$message.header#/Walnats-Reply",
        },
        "channel": {"$ref": "#/channels/walnats-reply.kinds.ship"},
        "messages": [
            {"$ref": "#/channels/walnats-reply.kinds.ship/messages/answer"},
            {"$ref": "#/channels/walnats-reply.kinds.ship/messages/error"},
        ],
    }
    assert document["operations"]["send.kinds.ship"]["reply"] == reply
    assert document["operations"]["receive.kinds.ship.ship-it"]["reply"] == reply
    channel = document["channels"]["walnats-reply.kinds.ship"]
    assert channel["address"] is None
    assert channel["messages"]["answer"]["payload"] == {"$ref": "#/components/schemas/Receipt"}
    error = channel["messages"]["error"]
    assert error["contentType"] == "text/plain"
    assert error["headers"] == {"$ref": "#/components/schemas/walnats-error-headers"}
    # What the worker's Replier sends with an error answer fits; an answer without the type does not.
    check(
        document, "/components/schemas/walnats-error-headers", {HEADER_ERROR: "ValueError", HEADER_ACTOR: "x"}
    )
    with pytest.raises(jsonschema.ValidationError):
        check(document, "/components/schemas/walnats-error-headers", {HEADER_ACTOR: "x"})


def test_emitted_events_have_no_reply_and_no_reply_headers() -> None:
    document = kinds_document()
    assert "reply" not in document["operations"]["send.kinds.text"]
    assert "reply" not in document["operations"]["receive.kinds.text.read-text"]
    assert "walnats-reply.kinds.text" not in document["channels"]
    message = document["channels"]["kinds.text"]["messages"]["event"]
    assert message["headers"] == {"$ref": "#/components/schemas/walnats-event-headers"}
    schemas = document["components"]["schemas"]
    assert HEADER_REPLY not in schemas["walnats-event-headers"]["properties"]
    assert HEADER_REPLY in schemas["walnats-request-headers"]["properties"]


def test_the_headers_publishers_send_fit_the_header_schemas() -> None:
    document = kinds_document()
    meta = CloudEvent(id="1", source="/shop", type="order", time=datetime.datetime(2026, 1, 1))
    sent = build_headers(uid="u-1", trace_id="t-1", delay=5, meta=meta, deadline=1.8e9)
    sent[HEADER_REPLY] = "_INBOX.abc.1"  # added by the connection for a request
    check(document, "/components/schemas/walnats-request-headers", sent)
    check(
        document, "/components/schemas/walnats-event-headers", build_headers(uid="u", meta={"x-tenant": "a"})
    )
    with pytest.raises(jsonschema.ValidationError):
        check(document, "/components/schemas/walnats-request-headers", {**sent, "Walnats-Delay": "soon"})


def test_the_trace_context_headers_fit_the_header_schemas() -> None:
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, set_span_in_context

    from walnats_django.tracing.headers import inject

    span = SpanContext(trace_id=0x1234, span_id=0x5678, is_remote=False, trace_flags=TraceFlags(1))
    sent = build_headers(uid="u")
    inject(sent, set_span_in_context(NonRecordingSpan(span)))
    assert sent["traceparent"] == f"00-{0x1234:032x}-{0x5678:016x}-01"
    document = kinds_document()
    check(document, "/components/schemas/walnats-event-headers", sent)
    with pytest.raises(jsonschema.ValidationError):
        check(document, "/components/schemas/walnats-event-headers", {**sent, "traceparent": "00-abc"})


def test_servers_are_listed_without_credentials() -> None:
    urls = [
        "nats://alice:s3cret@nats.example.com:4333",
        "tls://t0ken@[::1]",
        "wss://h.example.com:443",
        "10.0.0.1",
    ]
    document = kinds_document(servers=urls)
    assert document["servers"] == {
        "nats-1": {"host": "nats.example.com:4333", "protocol": "nats"},
        "nats-2": {"host": "[::1]:4222", "protocol": "nats", "description": "TLS required (tls:// URL)."},
        "nats-3": {"host": "h.example.com:443", "protocol": "wss"},
        "nats-4": {"host": "10.0.0.1:4222", "protocol": "nats"},
    }
    text = json.dumps(document)
    for secret in ("alice", "s3cret", "t0ken"):
        assert secret not in text


def test_servers_default_to_the_setting(settings: SettingsWrapper) -> None:
    settings.WALNATS = {"SERVERS": ["nats://u:p@one:4222"]}
    assert kinds_document()["servers"] == {"nats": {"host": "one:4222", "protocol": "nats"}}


def test_a_bad_server_url_is_refused() -> None:
    with pytest.raises(AsyncAPIError, match=r"is not a nats://.*Fix WALNATS\['SERVERS'\] or NATS_URL"):
        kinds_document(servers=["http://example.com"])


def _never(message: str) -> None:
    """Never runs."""


def test_a_registry_with_problems_is_refused() -> None:
    broken = Registry()
    broken.add(Actor("orphan", Event("test.not-registered", str), _never))
    with pytest.raises(AsyncAPIError, match=r"fix them first \(manage.py check\): walnats_django.E003"):
        build_document(INFO, events=broken, task_queues=False)


def test_task_queues_are_channels_with_the_task_record() -> None:
    document = build_document(INFO)  # the tests' registry and TASKS (queues "default", "strict")
    channel = document["channels"]["tasks.default"]
    assert channel["x-walnats-stream"]["name"] == "tasks-default"
    assert channel["messages"]["event"]["payload"]["title"] == "TaskRecord"
    operation = document["operations"]["receive.tasks.default.tasks-default"]
    assert operation["x-walnats-actor"]["durable_name"] == "tasks-default"
    assert "receive.tasks.strict.tasks-strict" in document["operations"]
    assert registry.events[0].name in document["channels"]
    record = TaskRecord(
        id="r1",
        task="tests.testapp.tasks.add",
        backend="default",
        queue="default",
        args=[1, 2],
        kwargs={},
        enqueued_at=datetime.datetime.now(datetime.UTC),
        errors=(TaskError(exception_class_path="builtins.ValueError", traceback="..."),),
    )
    check(document, "/channels/tasks.default/messages/event/payload", json.loads(record.encode()))
    with pytest.raises(jsonschema.ValidationError):
        check(
            document,
            "/channels/tasks.default/messages/event/payload",
            {**json.loads(record.encode()), "status": "?"},
        )
    assert "tasks.default" not in build_document(INFO, task_queues=False)["channels"]


def test_an_event_named_like_a_task_queue_is_refused() -> None:
    with registry.isolated():
        registry.add(Event("tasks.default", str))
        with pytest.raises(AsyncAPIError, match=r"two channels are named 'tasks\.default'"):
            build_document(INFO)


def test_custom_schemas_must_be_json() -> None:
    class Odd:
        def encode(self, message: str) -> bytes:
            return message.encode()

        def decode(self, data: bytes) -> str:
            return data.decode()

        def json_schema(self) -> dict[str, Any]:
            return {"default": {1, 2}}

    odd = Registry()
    odd.add(Event("test.odd", str, serializer=Odd()))
    with pytest.raises(AsyncAPIError, match="holds a value that is not JSON"):
        build_document(INFO, events=odd, task_queues=False)


def test_each_document_is_a_fresh_tree() -> None:
    first = kinds_document()
    first["components"]["schemas"]["walnats-event-headers"]["properties"].clear()
    first["channels"]["walnats-reply.kinds.ship"]["messages"]["error"]["payload"]["type"] = "number"
    second = kinds_document()
    assert second["components"]["schemas"]["walnats-event-headers"]["properties"]
    assert second["channels"]["walnats-reply.kinds.ship"]["messages"]["error"]["payload"]["type"] == "string"
    # Parts used twice are equal copies, not one object (YAML would write them as &id001 anchors).
    operations = second["operations"]
    assert operations["send.kinds.ship"]["reply"] == operations["receive.kinds.ship.ship-it"]["reply"]
    assert operations["send.kinds.ship"]["reply"] is not operations["receive.kinds.ship.ship-it"]["reply"]


def test_without_djangos_tasks_there_are_no_queue_channels(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    for name in [name for name in sys.modules if name.startswith("walnats_django.tasks")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "django_tasks", None)  # as if not installed
    document = build_document(INFO)
    assert not any(name.startswith("tasks.") for name in document["channels"])
    assert "test.echo" in document["channels"]
