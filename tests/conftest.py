"""Fixtures: a real nats-server per session and real `runactors` subprocesses (see tests/helpers.py)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.helpers import StartWorker, WorkerProcess, Workers
from walnats_django.client import close_connection
from walnats_django.testing import NatsServer


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """A real `nats-server -js` on a free loopback port; NATS_URL points at it."""
    server = NatsServer(store_dir=tmp_path_factory.mktemp("nats-store"))
    server.start()
    old = os.environ.get("NATS_URL")
    os.environ["NATS_URL"] = server.url
    yield server
    server.cleanup()
    if old is None:
        os.environ.pop("NATS_URL", None)
    else:
        os.environ["NATS_URL"] = old


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
