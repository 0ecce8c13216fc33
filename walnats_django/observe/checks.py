"""System checks of WALNATS['METRICS'] (E019) and WALNATS['TRACING'] (E020)."""

from __future__ import annotations

from django.core.checks import CheckMessage, Error

from .setup import METRICS_EXTRA, TRACING_EXTRA, installed


def check_metrics(value: object) -> list[CheckMessage]:
    """E019: METRICS is a bool, and True only with prometheus-client installed."""
    if not isinstance(value, bool):
        return [
            Error(
                f"WALNATS['METRICS'] must be True or False, got {value!r}.",
                hint="True records Prometheus metrics of emits, requests and jobs in each process.",
                id="walnats_django.E019",
            )
        ]
    if value and not installed("prometheus_client"):
        return [
            Error(
                f"WALNATS['METRICS'] is True but prometheus-client is not installed: {METRICS_EXTRA}.",
                hint="Or set WALNATS['METRICS'] to False.",
                id="walnats_django.E019",
            )
        ]
    return []


def check_tracing(value: object) -> list[CheckMessage]:
    """E020: TRACING is None or a bool, and True only with opentelemetry-api installed."""
    if value is not None and not isinstance(value, bool):
        return [
            Error(
                f"WALNATS['TRACING'] must be None, True or False, got {value!r}.",
                hint="None (the default) traces when opentelemetry-api is installed; False never does.",
                id="walnats_django.E020",
            )
        ]
    if value and not installed("opentelemetry.trace"):
        return [
            Error(
                f"WALNATS['TRACING'] is True but opentelemetry-api is not installed: {TRACING_EXTRA}.",
                hint="Or leave WALNATS['TRACING'] at None to trace only when it is installed.",
                id="walnats_django.E020",
            )
        ]
    return []
