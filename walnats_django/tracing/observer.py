"""OpenTelemetry spans: `send <event>` (PRODUCER) around emits and requests, `process <event>`
(CONSUMER) around jobs, continuing the trace the message carries; messaging attributes as the
OpenTelemetry semantic conventions name them."""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import Token
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from ..observe.observer import JobObservation, Observer, PublishObservation
from ..observe.outcomes import JobOutcome, PublishKind, call_outcome
from ..wire import HEADER_MSG_ID
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

        self.tracer = trace.get_tracer("walnats_django", __version__, tracer_provider=tracer_provider)

    def publishing(
        self, kind: PublishKind, event: Event[Any, Any], headers: dict[str, str], size: int
    ) -> PublishObservation:
        attributes: dict[str, AttributeValue] = {
            "messaging.system": SYSTEM,
            "messaging.destination.name": event.subject,
            "messaging.operation.type": "send",
            "messaging.operation.name": kind.value,
            "messaging.message.body.size": size,
        }
        if HEADER_MSG_ID in headers:
            attributes["messaging.message.id"] = headers[HEADER_MSG_ID]
        span = self.tracer.start_span(f"send {event.subject}", kind=SpanKind.PRODUCER, attributes=attributes)
        trace_headers.inject(headers, trace.set_span_in_context(span))
        return _SendSpan(span)

    def job(self, actor: Actor[Any, Any], msg: Msg, headers: Mapping[str, str]) -> JobObservation:
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
        span = self.tracer.start_span(
            f"process {actor.event.subject}",
            context=trace_headers.extract(headers),
            kind=SpanKind.CONSUMER,
            attributes=attributes,
        )
        # Current for the handler (its own spans and calls are children) and the answer.
        token = otel_context.attach(trace.set_span_in_context(span))
        return _ProcessSpan(span, token)

    def answer_headers(self) -> dict[str, str] | None:
        headers: dict[str, str] = {}
        trace_headers.inject(headers, mirror=False)
        return headers or None
