"""Pointing walnats at a test NATS server for a whole test session, and back afterwards."""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator

from django.core.exceptions import ImproperlyConfigured
from django.test.utils import override_settings

from ..conf import settings_generation, walnats_settings


@dataclasses.dataclass(frozen=True)
class ExternalNats:
    """A NATS server the test run was told to use (`--walnats-nats-url`); neither started nor stopped."""

    url: str


@contextlib.contextmanager
def use_nats_url(url: str) -> Iterator[None]:
    """Within the block, walnats in this process (and subprocesses started in it) uses `url`.

    `NATS_URL` is set in the environment; a project whose `WALNATS` names its own `SERVERS`
    gets them overridden too. Connections made before are remade on their next use.
    """
    old_env = os.environ.get("NATS_URL")
    os.environ["NATS_URL"] = url
    override: override_settings | None = None
    if _project_servers() is not None:
        override = override_settings(WALNATS={**walnats_settings.raw, "SERVERS": url.split(",")})
        override.enable()
    # Only a WALNATS change bumps it by itself; an environment change needs it done here.
    settings_generation.value += 1
    try:
        yield
    finally:
        if override is not None:
            override.disable()
        if old_env is None:
            os.environ.pop("NATS_URL", None)
        else:
            os.environ["NATS_URL"] = old_env
        settings_generation.value += 1


def _project_servers() -> object:
    """The `SERVERS` the project's `WALNATS` names, None without any (or without Django settings)."""
    try:
        return walnats_settings.raw.get("SERVERS")
    except ImproperlyConfigured:
        return None
