"""The exceptions of metrics and tracing."""

from __future__ import annotations

from ..errors import WalnatsError


class ExtraNotInstalled(WalnatsError, ImportError):
    """Metrics need prometheus-client, tracing opentelemetry-api; install the extra the message names."""


class MetricsServerError(WalnatsError, OSError):
    """The metrics HTTP server cannot listen on the address and port; pick a free port."""
