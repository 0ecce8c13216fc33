"""The tracing observer's job spans on their own (pure unit tests): how each outcome ends a span,
and a job without an SDK passing its message's trace context on to the handler and the answer."""

from __future__ import annotations

import pytest
from nats.aio.msg import Msg
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from walnats_django import Actor, Event
from walnats_django.observe import JobOutcome
from walnats_django.tracing import TracingObserver
from walnats_django.tracing import observer as tracing_observer

TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C
SPAN_ID = 0xB7AD6B7169203331
TRACEPARENT = f"00-{TRACE_ID:032x}-{SPAN_ID:016x}-01"
ECHO = Event("traced.echo", str).with_response(str)
ACTOR = Actor("traced-echo", ECHO, lambda text: text)


def message(headers: dict[str, str]) -> Msg:
    return Msg(None, subject=ECHO.subject, data=b'"x"', headers=headers)  # type: ignore[arg-type]


def recorded() -> tuple[TracingObserver, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return TracingObserver(provider), exporter


@pytest.mark.parametrize(
    ("outcome", "status", "description"),
    [
        (JobOutcome.ACKED, StatusCode.UNSET, None),
        (JobOutcome.HANDED_BACK, StatusCode.UNSET, None),
        (JobOutcome.EXPIRED, StatusCode.ERROR, "expired: the requester had given up"),
        (JobOutcome.INTERRUPTED, StatusCode.ERROR, "interrupted: not settled"),
    ],
)
def test_how_a_job_ends_its_span(outcome: JobOutcome, status: StatusCode, description: str | None) -> None:
    observer, exporter = recorded()
    headers = {"traceparent": TRACEPARENT}
    observer.job(ACTOR, message(headers), headers).settled(outcome)
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is status
    assert span.status.description == description
    assert span.attributes is not None
    assert span.attributes["walnats.outcome"] == outcome.value
    assert span.parent is not None
    assert span.parent.span_id == SPAN_ID


def test_a_failed_job_keeps_its_error_as_the_status() -> None:
    observer, exporter = recorded()
    job = observer.job(ACTOR, message({}), {})
    job.failed(KeyError("gone"))
    job.settled(JobOutcome.INTERRUPTED)
    (span,) = exporter.get_finished_spans()
    assert span.status.description == "KeyError: 'gone'"
    assert span.parent is None, "no trace context in the message: a trace of its own"


def test_the_job_span_is_current_until_it_settles() -> None:
    observer, _ = recorded()
    before = trace.get_current_span()
    job = observer.job(ACTOR, message({}), {})
    inside = trace.get_current_span().get_span_context()
    assert inside.is_valid
    try:
        expected = f"00-{inside.trace_id:032x}-{inside.span_id:016x}-{inside.trace_flags:02x}"
        assert observer.answer_headers() == {"traceparent": expected}
    finally:
        job.settled(JobOutcome.ACKED)
    assert trace.get_current_span() is before


def test_without_an_sdk_a_job_passes_its_trace_context_on() -> None:
    observer = TracingObserver(trace.NoOpTracerProvider())
    job = observer.job(ACTOR, message({"Walnats-Trace": TRACEPARENT}), {"Walnats-Trace": TRACEPARENT})
    current = trace.get_current_span().get_span_context()
    assert (current.trace_id, current.span_id) == (TRACE_ID, SPAN_ID)
    assert observer.answer_headers() == {"traceparent": TRACEPARENT}
    job.settled(JobOutcome.ACKED)
    assert not trace.get_current_span().get_span_context().is_valid
    assert observer.answer_headers() is None


def test_an_sdk_set_after_start_up_is_seen_within_a_second(monkeypatch: pytest.MonkeyPatch) -> None:
    providers: list[trace.TracerProvider] = [trace.NoOpTracerProvider()]
    monkeypatch.setattr(tracing_observer.trace, "get_tracer_provider", lambda: providers[-1])
    clock = [100.0]
    monkeypatch.setattr(tracing_observer.time, "monotonic", lambda: clock[-1])
    observer = TracingObserver()
    assert not observer.recording()
    providers.append(TracerProvider())
    clock.append(100.5)
    assert not observer.recording(), "looked again only after LOOK_AGAIN_AFTER"
    clock.append(101.0)
    assert observer.recording()
    providers.append(trace.NoOpTracerProvider())
    assert observer.recording(), "OpenTelemetry allows one provider: once set, it stays"
