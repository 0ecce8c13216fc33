"""The metrics of this web process for Prometheus to scrape; mount it where only it can reach."""

from __future__ import annotations

import os

from django.http import HttpRequest, HttpResponse
from prometheus_client import REGISTRY, CollectorRegistry, exposition, multiprocess

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"


def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus' (or OpenMetrics') text of the default registry, or, with PROMETHEUS_MULTIPROC_DIR
    set (gunicorn and other pre-forking servers), of every process that writes there."""
    registry = REGISTRY
    if os.environ.get(MULTIPROCESS_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    encoder, content_type = exposition.choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encoder(registry), content_type=content_type)
