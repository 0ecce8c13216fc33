"""Runs the official AsyncAPI parser (npm `@asyncapi/parser`, pinned in package-lock.json) on files.

`npm ci` installs it into this directory's node_modules/ (ignored by git) the first time; CI runs
`npm ci --prefix tests/asyncapi` before the tests.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
INSTALLED = HERE / "node_modules" / "@asyncapi" / "parser" / "package.json"


def ensure_installed() -> None:
    """Install the parser from package-lock.json unless it is there; fail saying what is missing."""
    if INSTALLED.is_file():
        return
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        pytest.fail("The AsyncAPI tests need Node.js and npm (apt-get install nodejs npm).")
    result = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "SCARF_ANALYTICS": "false"},
    )
    if result.returncode != 0 or not INSTALLED.is_file():
        pytest.fail(f"npm ci in {HERE} failed ({result.returncode}):\n{result.stderr[-2000:]}")


def parse(*files: Path) -> dict[str, dict[str, Any]]:
    """For each file: {"parsed": bool, "version": str, "diagnostics": [{severity, code, message, path}]}."""
    ensure_installed()
    result = subprocess.run(
        ["node", str(HERE / "validate.cjs"), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    reports: dict[str, dict[str, Any]] = json.loads(result.stdout)
    return reports


# Only this one is expected: the document says 3.0.0 on purpose (the version the issue asks for).
ALLOWED = {"asyncapi-latest-version"}


def problems(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Diagnostics other than the "a newer AsyncAPI exists" hint."""
    return [d for d in report["diagnostics"] if d["code"] not in ALLOWED]
