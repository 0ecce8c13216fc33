"""The settings a `runactors` subprocess of a test gets: the test's own, on its NATS server and databases.

Without it, the subprocess would import the project's settings afresh and could reach the
developer's NATS server (SERVERS fixed in settings) or database (the test database is renamed
only inside the test process).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

MODULE = "walnats_test_settings"
"""The name of the written settings module (in a directory of its own per worker)."""


def write_settings_module(
    directory: Path, *, base: str, servers: Sequence[str], database_names: Mapping[str, object]
) -> str:
    """Write `<directory>/walnats_test_settings.py`: everything of `base`, then the test's NATS
    servers and database names; return the module name."""
    text = (
        f'"""Written by walnats_django.testing for a runactors subprocess of a test: {base} on the\n'
        'test run\'s NATS server and test databases."""\n\n'
        f"from {base} import *  # noqa: F403\n\n"
        f'WALNATS = {{**globals().get("WALNATS", {{}}), "SERVERS": {list(servers)!r}}}\n'
        f"for _alias, _name in {dict(database_names)!r}.items():\n"
        "    if _alias in DATABASES:  # noqa: F405\n"
        '        DATABASES[_alias] = {**DATABASES[_alias], "NAME": _name}  # noqa: F405\n'
    )
    (directory / f"{MODULE}.py").write_text(text)
    return MODULE


def base_settings_module() -> str:
    """The test run's settings module; `ImproperlyConfigured` if Django was set up without one."""
    module = os.environ.get("DJANGO_SETTINGS_MODULE")
    if not module:
        raise ImproperlyConfigured(
            "A runactors subprocess needs a settings module to import, and DJANGO_SETTINGS_MODULE is "
            "not set (settings.configure() was used?); use an in-process worker (subprocess=False) "
            "or set DJANGO_SETTINGS_MODULE (pytest-django: --ds or the ini option)."
        )
    return module


def import_path(extra: Path) -> list[str]:
    """`extra`, then this process's import path minus the interpreter's own directories (the
    subprocess has those anyway), so the subprocess imports the project as the tests do."""
    interpreter = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    path = [str(extra)]
    for entry in sys.path:
        resolved = Path(entry or os.getcwd()).resolve()
        if not any(resolved == root or root in resolved.parents for root in interpreter):
            path.append(str(resolved))
    return list(dict.fromkeys(path))
