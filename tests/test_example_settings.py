"""The example project's settings read WALNATS_REPLICAS, and name REPLICAS only when it is set."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from tests.helpers import ROOT

# What walnats-django makes of project.settings: the raw WALNATS dict and the resolved values.
PROBE = """
import json
import django
django.setup()
from django.conf import settings
from walnats_django.conf import walnats_settings
print(json.dumps({
    "WALNATS": settings.WALNATS,
    "REPLICAS": walnats_settings.REPLICAS,
    "REPLICAS_SET": walnats_settings.REPLICAS_SET,
}))
"""


def project_settings(**env: str) -> dict[str, Any]:
    """project.settings loaded in a fresh interpreter with `env` on top of a clean environment."""
    inherited = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE_URL", "WALNATS_", "NATS_"))
    }
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={
            **inherited,
            "DJANGO_SETTINGS_MODULE": "project.settings",
            # Settings make var/ only without DATABASE_URL; keep the checkout untouched.
            "DATABASE_URL": "sqlite://:memory:",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    loaded: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    return loaded


def test_walnats_replicas_from_the_environment_names_replicas() -> None:
    loaded = project_settings(WALNATS_REPLICAS="3")
    assert loaded["WALNATS"]["REPLICAS"] == 3
    assert loaded["REPLICAS"] == 3
    assert loaded["REPLICAS_SET"] is True, "an explicit REPLICAS scales streams to it"


@pytest.mark.parametrize("env", [{}, {"WALNATS_REPLICAS": ""}], ids=["unset", "empty"])
def test_without_walnats_replicas_the_key_is_absent(env: dict[str, str]) -> None:
    # compose.yaml passes WALNATS_REPLICAS through only when the shell sets it; an empty value
    # (`WALNATS_REPLICAS=` in .env) means unset too.
    loaded = project_settings(**env)
    assert "REPLICAS" not in loaded["WALNATS"]
    assert loaded["REPLICAS"] == 1, "new streams get walnats-django's default"
    assert loaded["REPLICAS_SET"] is False, "existing streams keep their replicas"
