"""Choosing the observers from the settings: tracing when opentelemetry-api is installed (unless
WALNATS['TRACING'] is False), Prometheus metrics when WALNATS['METRICS'] is True."""

from __future__ import annotations

import importlib
import logging
from typing import Any

from django.core.signals import setting_changed
from django.dispatch import receiver

from ..conf import walnats_settings
from . import current
from .errors import ExtraNotInstalled
from .observer import Observer, combine

logger = logging.getLogger("walnats_django.observe")

METRICS_EXTRA = "pip install 'walnats-django[metrics]'"
TRACING_EXTRA = "pip install 'walnats-django[otel]'"
METRICS_MISSING = f"Metrics need prometheus-client, which is not installed: {METRICS_EXTRA}."


def installed(module: str) -> bool:
    """Whether `module` can be imported."""
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def configure(*, metrics: bool = False) -> Observer | None:
    """Install the observers the settings ask for and return them (None: nothing observed).

    `metrics=True` records metrics whatever WALNATS['METRICS'] says (`runactors --metrics-port`)
    and raises `ExtraNotInstalled` without prometheus-client; a setting that asks for a missing
    extra is only logged here, as `manage.py check` reports it (E019, E020).
    """
    observers: list[Observer] = []
    tracing = walnats_settings.TRACING
    if tracing is not False:
        if installed("opentelemetry.trace"):
            from ..tracing.observer import TracingObserver

            observers.append(TracingObserver())
        elif tracing:
            logger.warning(
                "WALNATS['TRACING'] is True but opentelemetry-api is not installed (%s); no spans are made.",
                TRACING_EXTRA,
            )
    if metrics or walnats_settings.METRICS:
        if installed("prometheus_client"):
            from ..metrics.observer import MetricsObserver

            observers.append(MetricsObserver())
        elif metrics:
            raise ExtraNotInstalled(METRICS_MISSING)
        else:
            logger.warning(
                "WALNATS['METRICS'] is True but prometheus-client is not installed (%s); "
                "no metrics are recorded.",
                METRICS_EXTRA,
            )
    observer = combine(observers)
    current.use(observer)
    return observer


@receiver(setting_changed)
def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == "WALNATS":
        configure()
