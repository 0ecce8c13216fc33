"""The example project's settings on a fresh clone: no var/ yet, nothing run before."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def fresh_clone(tmp_path: Path) -> Path:
    """The files a clone has (no var/, no database), in a directory of its own."""
    ignore = shutil.ignore_patterns("var", "__pycache__")
    for package in ("project", "walnats_django"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=ignore)
    shutil.copy(ROOT / "manage.py", tmp_path)
    return tmp_path


def manage(clone: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL"))}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=clone,
        env={**environ, "DJANGO_SETTINGS_MODULE": "project.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_migrate_works_before_var_exists(fresh_clone: Path) -> None:
    result = manage(fresh_clone, "migrate", "--noinput")
    assert result.returncode == 0, result.stderr
    assert (fresh_clone / "var" / "db.sqlite3").is_file()


def test_settings_with_database_url_make_no_var_dir(fresh_clone: Path) -> None:
    # compose.yaml and a read-only image bring their own database location.
    result = manage(fresh_clone, "check", DATABASE_URL=f"sqlite:///{fresh_clone / 'other.sqlite3'}")
    assert result.returncode == 0, result.stderr
    assert not (fresh_clone / "var").exists()
