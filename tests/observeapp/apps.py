"""The app config: installs the span file exporter when the tracing tests ask for it."""

import os
from pathlib import Path

from django.apps import AppConfig


class ObserveAppConfig(AppConfig):
    name = "tests.observeapp"
    label = "observeapp"

    def ready(self) -> None:
        from .spans import SPANS_ENV, install

        if os.environ.get(SPANS_ENV):
            install(Path(os.environ[SPANS_ENV]))
