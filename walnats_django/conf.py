"""The `WALNATS` settings dict, read lazily so `override_settings` works."""

from __future__ import annotations

from typing import Any

import environ
from django.conf import settings as django_settings
from django.core.signals import setting_changed
from django.dispatch import receiver

DEFAULT_SERVER = "nats://127.0.0.1:4222"
DEFAULTS: dict[str, Any] = {
    "SERVERS": None,  # None: env NATS_URL (comma-separated), else DEFAULT_SERVER
    "CONNECT_OPTIONS": {},
    "REQUEST_TIMEOUT": 4.0,
    "CONNECT_TIMEOUT": 2.0,
    "INBOX_PREFIX": "_INBOX",
    "SHUTDOWN_TIMEOUT": 30.0,
    "REPLICAS": 1,  # stream copies in a JetStream cluster, unless an Event says otherwise
    "METRICS": False,  # Prometheus metrics of emits, requests and jobs (the metrics extra)
    "TRACING": None,  # OpenTelemetry spans and trace context; None: when opentelemetry-api is installed
}
# Options walnats-django sets itself; users may not pass them in CONNECT_OPTIONS.
RESERVED_CONNECT_OPTIONS = frozenset(
    {
        "servers",
        "error_cb",
        "disconnected_cb",
        "reconnected_cb",
        "closed_cb",
        "inbox_prefix",
    }
)

_env = environ.Env()


class Settings:
    """One typed property per `WALNATS` key, defaults inline in `DEFAULTS`."""

    @property
    def raw(self) -> dict[str, Any]:
        value = getattr(django_settings, "WALNATS", {})
        return value if isinstance(value, dict) else {}

    def _get(self, key: str) -> Any:
        return self.raw.get(key, DEFAULTS[key])

    @property
    def SERVERS(self) -> list[str]:
        value = self._get("SERVERS")
        if value is None:
            value = _env.str("NATS_URL", default=DEFAULT_SERVER)
        if isinstance(value, str):
            return [s.strip() for s in value.split(",") if s.strip()]
        return list(value)

    @property
    def CONNECT_OPTIONS(self) -> dict[str, Any]:
        return dict(self._get("CONNECT_OPTIONS"))

    @property
    def REQUEST_TIMEOUT(self) -> float:
        return float(self._get("REQUEST_TIMEOUT"))

    @property
    def CONNECT_TIMEOUT(self) -> float:
        return float(self._get("CONNECT_TIMEOUT"))

    @property
    def INBOX_PREFIX(self) -> str:
        return str(self._get("INBOX_PREFIX"))

    @property
    def SHUTDOWN_TIMEOUT(self) -> float:
        return float(self._get("SHUTDOWN_TIMEOUT"))

    @property
    def REPLICAS(self) -> int:
        return int(self._get("REPLICAS"))

    @property
    def METRICS(self) -> bool:
        return self._get("METRICS") is True

    @property
    def TRACING(self) -> bool | None:
        value = self._get("TRACING")
        return None if value is None else value is True

    @property
    def REPLICAS_SET(self) -> bool:
        """Whether the project names REPLICAS itself (then updates may scale streams to it)."""
        return "REPLICAS" in self.raw


walnats_settings = Settings()


class _Generation:
    """Bumped whenever `WALNATS` changes (override_settings), so connections are remade."""

    value = 0


settings_generation = _Generation()


@receiver(setting_changed)
def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == "WALNATS":
        settings_generation.value += 1
