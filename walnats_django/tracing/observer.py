"""OpenTelemetry spans: `send <event>` (PRODUCER) around emits and requests, `process <event>`
(CONSUMER) around jobs, continuing the trace the message carries; messaging attributes as the
OpenTelemetry semantic conventions name them.

Without an SDK (the API's proxy or no-op provider) no span would be recorded: then only the trace
context is passed on, at the cost of a check or two per message."""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextvars import Token
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import NoOpTracerProvider, ProxyTracerProvider, Span, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from ..observe.observer import NOTHING_PUBLISHED, NOTHING_RUN, JobObservation, Observer, PublishObservation
from ..observe.outcomes import JobOutcome, PublishKind, call_outcome
from ..wire import HEADER_MSG_ID, HEADER_TRACE
from ..worker.messages import attempt
from . import headers as trace_headers

if TYPE_CHECKING:
    from nats.aio.msg import Msg

    from ..actors import Actor
    from ..events import Event

SYSTEM = "nats"
OUTCOME = "walnats.outcome"
"""The job's `JobOutcome`, or the call's outcome (ok, timeout, remote_error, ...)."""
ATTEMPT = "walnats.attempt"
"""Which delivery of the message a job is, from 1 (JetStream's delivery count)."""
_NOT_DONE = {JobOutcome.EXPIRED: "the requester had given up", JobOutcome.INTERRUPTED: "not settled"}
_NOT_RECORDING = (ProxyTracerProvider, NoOpTracerProvider)
LOOK_AGAIN_AFTER = 1.0
"""Seconds between looks for an SDK while there is none (a look reads the environment: ~1 us)."""


def _fail(span: Span, error: BaseException) -> None:
    span.record_exception(error)
    span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))


class _SendSpan(PublishObservation):
    __slots__ = ("span",)

    def __init__(self, span: Span) -> None:
        self.span = span

    def done(self, error: BaseException | None) -> None:
        span = self.span
        span.set_attribute(OUTCOME, call_outcome(error))
        if error is not None:
            _fail(span, error)
        span.end()


class _PassedOn(JobObservation):
    """A job without an SDK: its message's trace context is current, so emits, requests and the
    answer carry it on."""

    __slots__ = ("token",)

    def __init__(self, token: Token[Context]) -> None:
        self.token = token

    def settled(self, outcome: JobOutcome) -> None:
        otel_context.detach(self.token)


class _ProcessSpan(JobObservation):
    __slots__ = ("failed_already", "span", "token")

    def __init__(self, span: Span, token: Token[Context]) -> None:
        self.span = span
        self.token = token
        self.failed_already = False

    def failed(self, error: BaseException) -> None:
        self.failed_already = True
        _fail(self.span, error)

    def settled(self, outcome: JobOutcome) -> None:
        span = self.span
        span.set_attribute(OUTCOME, outcome.value)
        if outcome in _NOT_DONE and not self.failed_already:
            span.set_status(Status(StatusCode.ERROR, f"{outcome.value}: {_NOT_DONE[outcome]}"))
        span.end()
        otel_context.detach(self.token)


class TracingObserver(Observer):
    """Spans from `tracer_provider` (default: the global one, so an SDK configured later counts)."""

    def __init__(self, tracer_provider: trace.TracerProvider | None = None) -> None:
        from .. import __version__

        self.tracer_provider = tracer_provider
        self.tracer = trace.get_tracer("walnats_django", __version__, tracer_provider=tracer_provider)
        self._recording = False
        self._look_again_at = 0.0

    def recording(self) -> bool:
        """Whether spans are recorded: an SDK's provider is set. One set after start-up is seen
        within `LOOK_AGAIN_AFTER`; once set, it stays (OpenTelemetry allows no other)."""
        if self._recording:
            return True
        now = time.monotonic()
        if now < self._look_again_at:
            return False
        self._look_again_at = now + LOOK_AGAIN_AFTER
        provider = self.tracer_provider or trace.get_tracer_provider()
        self._recording = not isinstance(provider, _NOT_RECORDING)
        return self._recording

    def publishing(
        self, kind: PublishKind, event: Event[Any, Any], headers: dict[str, str], size: int
    ) -> PublishObservation:
        if not self.recording():
            if trace.get_current_span().get_span_context().is_valid:
                trace_headers.inject(headers)
            return NOTHING_PUBLISHED
        span = self.tracer.start_span(f"send {event.subject}", kind=SpanKind.PRODUCER)
        if span.is_recording():
            span.set_attributes(
                {
                    "messaging.system": SYSTEM,
                    "messaging.destination.name": event.subject,
                    "messaging.operation.type": "send",
                    "messaging.operation.name": kind.value,
                    "messaging.message.body.size": size,
                }
            )
            if HEADER_MSG_ID in headers:
                span.set_attribute("messaging.message.id", headers[HEADER_MSG_ID])
        trace_headers.inject(headers, trace.set_span_in_context(span))
        return _SendSpan(span)

    def job(self, actor: Actor[Any, Any], msg: Msg, headers: Mapping[str, str]) -> JobObservation:
        if not self.recording():
            if trace_headers.TRACEPARENT not in headers and HEADER_TRACE not in headers:
                return NOTHING_RUN
            return _PassedOn(otel_context.attach(trace_headers.extract(headers)))
        span = self.tracer.start_span(
            f"process {actor.event.subject}", context=trace_headers.extract(headers), kind=SpanKind.CONSUMER
        )
        if span.is_recording():
            attributes: dict[str, AttributeValue] = {
                "messaging.system": SYSTEM,
                "messaging.destination.name": actor.event.subject,
                "messaging.consumer.group.name": actor.name,
                "messaging.operation.type": "process",
                "messaging.operation.name": "process",
                "messaging.message.body.size": len(msg.data),
                ATTEMPT: attempt(msg),
            }
            if HEADER_MSG_ID in headers:
                attributes["messaging.message.id"] = headers[HEADER_MSG_ID]
            span.set_attributes(attributes)
        # Current for the handler (its own spans and calls are children) and the answer.
        token = otel_context.attach(trace.set_span_in_context(span))
        return _ProcessSpan(span, token)

    def answer_headers(self) -> dict[str, str] | None:
        if not trace.get_current_span().get_span_context().is_valid:
            return None
        headers: dict[str, str] = {}
        trace_headers.inject(headers, mirror=False)
        return headers or None
