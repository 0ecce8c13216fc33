"""Trace context in headers (walnats_django.tracing.headers) and the tracing observer without an SDK:
what a caller set is kept, a walnats peer's Walnats-Trace is read as a traceparent, unsafe values
never reach the wire, and with the API alone the context still passes through."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import CarrierT, Getter, Setter, TextMapPropagator, default_setter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from walnats_django import Event
from walnats_django.observe import PublishKind
from walnats_django.tracing import TracingObserver, extract, inject
from walnats_django.wire import build_headers

TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C
SPAN_ID = 0xB7AD6B7169203331
TRACEPARENT = f"00-{TRACE_ID:032x}-{SPAN_ID:016x}-01"
ECHO = Event("traced.echo", str).with_response(str)


@pytest.fixture
def upstream() -> Iterator[None]:
    """The current context carries a remote span, as after a Django instrumentation extracted it."""
    span = NonRecordingSpan(SpanContext(TRACE_ID, SPAN_ID, is_remote=True, trace_flags=TraceFlags(1)))
    token = otel_context.attach(trace.set_span_in_context(span))
    yield
    otel_context.detach(token)


def span_ids(context: Context) -> tuple[int, int]:
    span_context = trace.get_current_span(context).get_span_context()
    return span_context.trace_id, span_context.span_id


def test_inject_adds_the_traceparent_and_mirrors_it_in_walnats_trace(upstream: None) -> None:
    headers = build_headers()
    inject(headers)
    assert headers == {"traceparent": TRACEPARENT, "Walnats-Trace": TRACEPARENT}


def test_inject_keeps_the_callers_trace_id(upstream: None) -> None:
    headers = build_headers(trace_id="order-42")
    inject(headers)
    assert headers == {"traceparent": TRACEPARENT, "Walnats-Trace": "order-42"}


def test_inject_keeps_a_traceparent_the_caller_set_through_meta(upstream: None) -> None:
    theirs = f"00-{1:032x}-{2:016x}-00"
    headers = build_headers(meta={"traceparent": theirs})
    inject(headers)
    assert headers == {"traceparent": theirs}


def test_inject_without_a_trace_adds_nothing() -> None:
    headers = build_headers()
    inject(headers)
    assert headers == {}


def test_extract_prefers_the_traceparent() -> None:
    other = f"00-{3:032x}-{4:016x}-01"
    assert span_ids(extract({"traceparent": TRACEPARENT, "Walnats-Trace": other})) == (TRACE_ID, SPAN_ID)


def test_extract_reads_walnats_trace_as_a_traceparent() -> None:
    assert span_ids(extract({"Walnats-Trace": TRACEPARENT})) == (TRACE_ID, SPAN_ID)


def test_extract_ignores_a_walnats_trace_that_is_no_traceparent() -> None:
    assert span_ids(extract({"Walnats-Trace": "order-42"})) == (0, 0)


class _Unsafe(TextMapPropagator):
    """A propagator whose value would split the NATS header block."""

    def extract(
        self, carrier: CarrierT, context: Context | None = None, getter: Getter[CarrierT] | None = None
    ) -> Context:
        return context or Context()

    def inject(
        self, carrier: CarrierT, context: Context | None = None, setter: Setter[CarrierT] = default_setter
    ) -> None:
        setter.set(carrier, "x-evil", "a\r\nNats-Msg-Id: forged")
        setter.set(carrier, "x-fine", "ok")

    @property
    def fields(self) -> set[str]:
        return {"x-evil", "x-fine"}


def test_values_that_would_break_the_header_block_are_left_out() -> None:
    previous = propagate.get_global_textmap()
    propagate.set_global_textmap(_Unsafe())
    try:
        headers: dict[str, str] = {}
        inject(headers)
    finally:
        propagate.set_global_textmap(previous)
    assert headers == {"x-fine": "ok"}


def test_with_the_api_alone_the_context_passes_through(upstream: None) -> None:
    """No SDK: spans are not recorded, but a request made inside a traced context still carries it."""
    observer = TracingObserver(trace.NoOpTracerProvider())
    headers = build_headers()
    observer.publishing(PublishKind.REQUEST, ECHO, headers, 7).done(None)
    assert headers["traceparent"] == TRACEPARENT


def test_with_the_api_alone_and_no_trace_nothing_is_added() -> None:
    observer = TracingObserver(trace.NoOpTracerProvider())
    headers = build_headers()
    observer.publishing(PublishKind.EMIT, ECHO, headers, 7).done(None)
    assert headers == {}


def test_a_send_span_is_the_parent_the_headers_name(upstream: None) -> None:
    provider = TracerProvider()
    observer = TracingObserver(provider)
    headers = build_headers()
    observation = observer.publishing(PublishKind.REQUEST, ECHO, headers, 7)
    observation.done(None)
    trace_id, span_id = span_ids(extract(headers))
    assert trace_id == TRACE_ID
    assert span_id != SPAN_ID, "the send span's own id: the actor's span is its child"
    assert headers["Walnats-Trace"] == headers["traceparent"]
