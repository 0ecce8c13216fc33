"""One trace across processes: a view's span in this process (the SDK's in-memory exporter), the
`send` span of its request(), and the `process` span of the actor in a `runactors` subprocess
(its spans written to a file), joined by the W3C trace context in the message headers."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from django.http import HttpRequest, JsonResponse
from django.test import AsyncClient, override_settings
from django.urls import path
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import walnats_django
from tests.helpers import StartWorker, WorkerProcess, unique, until
from tests.observeapp.declared import TRACED_ECHO, TRACED_FAIL
from tests.observeapp.spans import SPANS_ENV
from walnats_django import RemoteError, observe
from walnats_django.testing import NatsServer
from walnats_django.tracing import TracingObserver

EXPORTER = InMemorySpanExporter()
PROVIDER = TracerProvider()
PROVIDER.add_span_processor(SimpleSpanProcessor(EXPORTER))
TRACER = PROVIDER.get_tracer("tests.views")


async def traced_view(request: HttpRequest) -> JsonResponse:
    """A view as a project writes it, in a server span (as Django instrumentation would open)."""
    event = TRACED_FAIL if request.GET.get("fail") else TRACED_ECHO
    with TRACER.start_as_current_span("GET /traced", kind=SpanKind.SERVER):
        try:
            answer = await walnats_django.request(event, request.GET["text"])
        except RemoteError as exc:
            return JsonResponse({"error": str(exc)}, status=502)
    return JsonResponse({"answer": answer})


urlpatterns = [path("traced", traced_view)]


@pytest.fixture(scope="module")
def spans_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("spans") / "worker-spans.jsonl"


@pytest.fixture(scope="module")
def traced_worker(start_worker: StartWorker, spans_file: Path) -> Iterator[WorkerProcess]:
    """A worker whose global TracerProvider (the SDK's) writes every span to `spans_file`."""
    worker = start_worker(
        "--actor",
        "traced-echo",
        "--actor",
        "traced-fail",
        extra_env={"DJANGO_SETTINGS_MODULE": "tests.settings_observe", SPANS_ENV: str(spans_file)},
    )
    yield worker
    worker.stop()


@pytest.fixture
def tracing() -> Iterator[InMemorySpanExporter]:
    """This process traced with the test provider (not the global one, which stays unset)."""
    EXPORTER.clear()
    previous = observe.use(TracingObserver(PROVIDER))
    yield EXPORTER
    observe.use(previous)


def hex_id(number: int, digits: int) -> str:
    return f"0x{number:0{digits}x}"


def worker_spans(spans_file: Path, trace_id: int) -> dict[str, dict[str, Any]]:
    """The worker's finished spans of one trace, by name."""
    if not spans_file.exists():
        return {}
    spans = (json.loads(line) for line in spans_file.read_text().splitlines() if line.strip())
    wanted = hex_id(trace_id, 32)
    return {span["name"]: span for span in spans if span["context"]["trace_id"] == wanted}


async def wait_for_worker_spans(spans_file: Path, trace_id: int, *names: str) -> dict[str, dict[str, Any]]:
    def found() -> dict[str, dict[str, Any]] | None:
        spans = worker_spans(spans_file, trace_id)
        return spans if set(names) <= set(spans) else None

    spans: dict[str, dict[str, Any]] = await until(found, f"worker spans {names} of the trace")
    return spans


def local(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    return {span.name: span for span in exporter.get_finished_spans()}


@override_settings(ROOT_URLCONF=__name__)
async def test_one_trace_from_a_view_through_request_to_the_actor_and_back(
    traced_worker: WorkerProcess,
    tracing: InMemorySpanExporter,
    spans_file: Path,
    nats_server: NatsServer,
) -> None:
    # Listen on the subject as a plain NATS subscriber: the headers as any peer sees them.
    nc = await nats.connect(nats_server.url)
    wire = await nc.subscribe(TRACED_ECHO.subject)
    try:
        response = await AsyncClient().get("/traced", {"text": "hello"})
        sent = await wire.next_msg(timeout=5)
    finally:
        await nc.close()
    assert response.status_code == 200
    assert response.json() == {"answer": "hello"}

    spans = local(tracing)
    view, send = spans["GET /traced"], spans["send traced.echo"]
    trace_id = view.context.trace_id
    assert send.context.trace_id == trace_id
    assert send.parent is not None
    assert send.parent.span_id == view.context.span_id
    assert send.kind is SpanKind.PRODUCER
    assert send.end_time is not None
    assert view.end_time is not None
    assert send.end_time <= view.end_time
    assert dict(send.attributes or {}) == {
        "messaging.system": "nats",
        "messaging.destination.name": "traced.echo",
        "messaging.operation.type": "send",
        "messaging.operation.name": "request",
        "messaging.message.body.size": len(b'"hello"'),
        "walnats.outcome": "ok",
    }
    assert send.status.status_code is StatusCode.UNSET

    traceparent = f"00-{trace_id:032x}-{send.context.span_id:016x}-{send.context.trace_flags:02x}"
    assert sent.headers is not None
    assert sent.headers["traceparent"] == traceparent
    assert sent.headers["Walnats-Trace"] == traceparent, "walnats 1.2.6 peers read it as a traceparent"

    remote = await wait_for_worker_spans(spans_file, trace_id, "process traced.echo", "handler work")
    process = remote["process traced.echo"]
    assert process["parent_id"] == hex_id(send.context.span_id, 16)
    assert process["kind"] == "SpanKind.CONSUMER"
    assert process["status"]["status_code"] == "UNSET"
    assert process["attributes"] == {
        "messaging.system": "nats",
        "messaging.destination.name": "traced.echo",
        "messaging.consumer.group.name": "traced-echo",
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.message.body.size": len(b'"hello"'),
        "walnats.attempt": 1,
        "walnats.outcome": "acked",
    }
    # The sync handler ran in a thread, inside the job's span.
    assert remote["handler work"]["parent_id"] == process["context"]["span_id"]
    assert len(worker_spans(spans_file, trace_id)) == 2


@override_settings(ROOT_URLCONF=__name__)
async def test_a_failing_actor_records_its_error_on_both_sides(
    traced_worker: WorkerProcess, tracing: InMemorySpanExporter, spans_file: Path
) -> None:
    response = await AsyncClient().get("/traced", {"text": "boom", "fail": "1"})
    assert response.status_code == 502
    assert "cannot trace 'boom'" in response.json()["error"]

    send = local(tracing)["send traced.fail"]
    assert send.status.status_code is StatusCode.ERROR
    assert send.attributes is not None
    assert send.attributes["walnats.outcome"] == "remote_error"
    (exception,) = send.events
    assert exception.name == "exception"
    assert exception.attributes is not None
    assert exception.attributes["exception.type"].endswith("RemoteError")

    remote = await wait_for_worker_spans(spans_file, send.context.trace_id, "process traced.fail")
    process = remote["process traced.fail"]
    assert process["parent_id"] == hex_id(send.context.span_id, 16)
    assert process["status"]["status_code"] == "ERROR"
    assert process["status"]["description"] == "ValueError: cannot trace 'boom'"
    assert process["attributes"]["walnats.outcome"] == "dead_lettered"
    (event,) = process["events"]
    assert event["name"] == "exception"
    assert event["attributes"]["exception.type"] == "ValueError"
    assert "traced_fail" in event["attributes"]["exception.stacktrace"]


async def test_a_walnats_peer_trace_id_is_continued_and_the_answer_carries_the_context(
    traced_worker: WorkerProcess, spans_file: Path, nats_server: NatsServer
) -> None:
    """A walnats 1.2.6 requester sends `trace_id=` as Walnats-Trace (a traceparent) and no
    traceparent header: the actor's span continues that trace, and so does its answer."""
    trace_id, parent_id = secrets.randbits(128) | 1, secrets.randbits(64) | 1
    nc = await nats.connect(nats_server.url)
    try:
        inbox = f"_INBOX.{unique('peer')}"
        answers = await nc.subscribe(inbox)
        headers = {"Walnats-Reply": inbox, "Walnats-Trace": f"00-{trace_id:032x}-{parent_id:016x}-01"}
        await nc.jetstream().publish(TRACED_ECHO.subject, b'"from a peer"', headers=headers)
        answer = await answers.next_msg(timeout=5)
    finally:
        await nc.close()
    assert answer.data == b'"from a peer"'

    remote = await wait_for_worker_spans(spans_file, trace_id, "process traced.echo")
    process = remote["process traced.echo"]
    assert process["parent_id"] == hex_id(parent_id, 16)
    assert answer.headers is not None
    span_id = process["context"]["span_id"][2:]
    assert answer.headers["traceparent"] == f"00-{trace_id:032x}-{span_id}-01"
    assert "Walnats-Trace" not in answer.headers


async def test_emits_are_traced_with_the_send_operation(
    traced_worker: WorkerProcess, tracing: InMemorySpanExporter, spans_file: Path
) -> None:
    with TRACER.start_as_current_span("caller") as caller:
        await walnats_django.emit(TRACED_ECHO, "emitted", wait=True, uid=unique("emit"))
    send = local(tracing)["send traced.echo"]
    assert send.parent is not None
    assert send.parent.span_id == caller.get_span_context().span_id
    assert send.attributes is not None
    assert send.attributes["messaging.operation.name"] == "emit"
    assert str(send.attributes["messaging.message.id"]).startswith("emit-")
    remote = await wait_for_worker_spans(spans_file, send.context.trace_id, "process traced.echo")
    assert (
        remote["process traced.echo"]["attributes"]["messaging.message.id"]
        == send.attributes["messaging.message.id"]
    )


async def test_sync_requests_are_traced_in_the_callers_context(
    traced_worker: WorkerProcess, tracing: InMemorySpanExporter
) -> None:
    def sync_view() -> str:
        with TRACER.start_as_current_span("sync view"):
            return walnats_django.request_sync(TRACED_ECHO, "sync")

    assert await asyncio.to_thread(sync_view) == "sync"
    spans = local(tracing)
    assert spans["send traced.echo"].parent is not None
    assert spans["send traced.echo"].parent.span_id == spans["sync view"].context.span_id
