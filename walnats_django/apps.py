"""App config: wires checks and discovers each app's `events` and `actors` modules."""

from __future__ import annotations

from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class WalnatsConfig(AppConfig):
    """`INSTALLED_APPS += ["walnats_django"]`."""

    name = "walnats_django"
    verbose_name = "walnats"
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
        from .observe import configure

        autodiscover_modules("events", "actors")
        configure()  # tracing and metrics, as WALNATS says
