"""Spans of a worker process written to a file, one JSON object a line, for the tracing tests."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

SPANS_ENV = "WALNATS_TEST_SPANS"
"""The file a worker started with tests.settings_observe appends its finished spans to."""


class JsonLinesExporter(SpanExporter):
    """Appends each finished span as a line of JSON (the SDK's own `to_json`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = "".join(span.to_json(indent=None) + "\n" for span in spans)
        with self._lock, self.path.open("a") as file:
            file.write(lines)
        return SpanExportResult.SUCCESS


def install(path: Path) -> None:
    """Make an SDK TracerProvider exporting to `path` the global one."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(JsonLinesExporter(path)))
    trace.set_tracer_provider(provider)
