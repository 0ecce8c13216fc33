"""Prometheus metrics (the `metrics` extra: prometheus-client): `metrics_view` for web processes,
`runactors --metrics-port` for workers."""

from .collectors import Metrics, walnats_metrics
from .observer import MetricsObserver
from .server import serve_metrics
from .views import metrics_view

__all__ = ["Metrics", "MetricsObserver", "metrics_view", "serve_metrics", "walnats_metrics"]
