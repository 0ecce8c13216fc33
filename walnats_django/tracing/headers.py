"""W3C trace context in NATS headers: `traceparent` (and whatever the global propagator adds),
with `Walnats-Trace` as the fallback walnats 1.2.6 peers send and read as a traceparent."""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Setter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from ..wire import HEADER_TRACE

TRACEPARENT = "traceparent"

_W3C = TraceContextTextMapPropagator()


class _HeaderSetter(Setter[dict[str, str]]):
    """Sets a header unless its value could break the header block (CR, LF, NUL)."""

    def set(self, carrier: dict[str, str], key: str, value: str) -> None:
        if value and "\r" not in value and "\n" not in value and "\0" not in value:
            carrier[key] = value


_SETTER = _HeaderSetter()


def inject(headers: dict[str, str], context: Context | None = None, *, mirror: bool = True) -> None:
    """Add the trace context of `context` (default: the current one) unless the caller set a
    traceparent; with `mirror`, copy it to Walnats-Trace unless the caller passed `trace_id=`."""
    if TRACEPARENT in headers:
        return
    propagate.inject(headers, context=context, setter=_SETTER)
    if mirror and HEADER_TRACE not in headers and TRACEPARENT in headers:
        headers[HEADER_TRACE] = headers[TRACEPARENT]


def extract(headers: Mapping[str, str]) -> Context:
    """The trace context a message carries: its traceparent, else a Walnats-Trace that parses as one."""
    context = propagate.extract(headers)
    if HEADER_TRACE in headers and not trace.get_current_span(context).get_span_context().is_valid:
        context = _W3C.extract({TRACEPARENT: headers[HEADER_TRACE]}, context=context)
    return context
