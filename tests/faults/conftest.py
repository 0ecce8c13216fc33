"""Fixtures of the fault suite: a nats-server per test (stopping it disturbs nobody), plain
nats-py connections, and a worker for the actors that answer or fail on their own.

Helpers (starting workers, waiting for log and record lines) are in tests/helpers.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
import pytest_asyncio
from nats.js import JetStreamContext

from tests.helpers import StartWorker, WorkerProcess
from walnats_django.client import close_connection
from walnats_django.testing import NatsServer


@pytest_asyncio.fixture
async def own_server(tmp_path: Path) -> AsyncIterator[NatsServer]:
    """A `nats-server -js` of this test's own (its port and store survive restarts).

    The test's requester connection is closed while the server still runs: closing it
    right after the server went away can leave nats-py's reconnect task running
    (see test_closing_right_after_nats_went_away_leaves_no_reconnect_task).
    """
    server = NatsServer(store_dir=tmp_path / "store").start()
    try:
        yield server
        await close_connection()
    finally:
        server.cleanup()


@pytest_asyncio.fixture
async def own_js(own_server: NatsServer) -> AsyncIterator[JetStreamContext]:
    """A plain nats-py JetStream context on `own_server`, for consumer and stream info."""
    nc = await nats.connect(own_server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    yield nc.jetstream()
    await nc.close()


@pytest.fixture
async def raw(nats_server: NatsServer) -> AsyncIterator[nats.NATS]:
    """A plain nats-py connection to the session's server, as a walnats peer or an attacker would have."""
    nc = await nats.connect(nats_server.url)
    yield nc
    await nc.close()


@pytest.fixture(scope="module")
def fb_worker(start_worker: StartWorker) -> Iterator[WorkerProcess]:
    """One worker per test module for the fb-* actors that answer or fail on their own."""
    worker = start_worker(
        "--actor",
        "fb-dead",
        "--actor",
        "fb-bad",
        "--actor",
        "fb-slow",
        "--actor",
        "fb-forge",
        "--actor",
        "fb-dup",
        "--actor",
        "fb-retry",
    )
    yield worker
    worker.stop()
