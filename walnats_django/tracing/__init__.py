"""OpenTelemetry tracing of emits, requests and jobs (the `otel` extra: opentelemetry-api)."""

from .headers import extract, inject
from .observer import TracingObserver

__all__ = ["TracingObserver", "extract", "inject"]
