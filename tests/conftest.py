"""Fixtures: real `runactors` subprocesses (see tests/helpers.py) on the session's real nats-server.

`nats_server` comes from walnats-django's own pytest plugin (walnats_django/testing/pytest_plugin.py):
NATS_URL points at it for the whole session.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.helpers import StartWorker, WorkerProcess, Workers
from walnats_django.client import close_connection
from walnats_django.testing import NatsServer


@pytest_asyncio.fixture(autouse=True)
async def _close_walnats_connection() -> AsyncIterator[None]:
    """Each test's event loop gets its own connection; close it with the loop."""
    yield
    await close_connection()


@pytest.fixture(scope="session")
def record_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where test actors write their side effects."""
    return tmp_path_factory.mktemp("records")


@pytest.fixture(scope="session")
def start_worker(nats_server: NatsServer, record_dir: Path) -> Iterator[StartWorker]:
    """Start `runactors` subprocesses (waits for the start-up line); all killed at the end."""
    workers = Workers(record_dir)

    def start(*args: str, wait: bool = True, extra_env: dict[str, str] | None = None) -> WorkerProcess:
        return workers.start(args, {"NATS_URL": nats_server.url, **(extra_env or {})}, wait=wait)

    yield start
    workers.stop()


@pytest.fixture(scope="session")
def worker(start_worker: StartWorker) -> WorkerProcess:
    """One shared worker running the example and test actors that answer quickly."""
    return start_worker(
        "--actor", "count-words", "--actor", "send-welcome", "--actor", "echo", "--actor", "fail"
    )
