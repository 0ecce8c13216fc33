"""NATS unreachable, silent or restarting: fail fast with NatsUnavailable, recover without restarts."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import override_settings

import walnats_django
from tests.helpers import StartWorker
from tests.testapp.events import ECHO
from walnats_django import NatsUnavailable
from walnats_django.testing import NatsServer, free_port


async def test_unreachable_nats_fails_fast() -> None:
    with override_settings(WALNATS={"SERVERS": [f"nats://127.0.0.1:{free_port()}"]}):
        started = time.monotonic()
        with pytest.raises(NatsUnavailable, match="cannot connect to NATS"):
            await walnats_django.request(ECHO, "x", timeout=4)
        assert time.monotonic() - started < 0.5


def test_unreachable_nats_fails_fast_from_sync_code() -> None:
    closed = [f"nats://127.0.0.1:{free_port()}"]
    with override_settings(WALNATS={"SERVERS": closed}), pytest.raises(NatsUnavailable):
        walnats_django.emit_sync(ECHO, "x")


def test_credentials_are_not_shown_in_errors() -> None:
    url = f"nats://alice:s3cret@127.0.0.1:{free_port()}"
    with override_settings(WALNATS={"SERVERS": [url]}), pytest.raises(NatsUnavailable) as info:
        walnats_django.request_sync(ECHO, "x")
    assert "s3cret" not in str(info.value)
    assert "alice" not in str(info.value)


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A server of this test's own, so stopping it does not disturb other tests."""
    with NatsServer(store_dir=tmp_path / "store") as server:
        yield server


async def _until_answered(deadline: float) -> str:
    while True:
        try:
            return await walnats_django.request(ECHO, "back", timeout=1)
        except (NatsUnavailable, walnats_django.RequestTimeout):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def test_requests_recover_after_nats_restarts(
    own_server: NatsServer, start_worker: StartWorker
) -> None:
    worker = start_worker("--actor", "echo", extra_env={"NATS_URL": own_server.url})
    with override_settings(WALNATS={"SERVERS": [own_server.url]}):
        assert await walnats_django.request(ECHO, "before", timeout=2) == "before"
        own_server.stop()
        started = time.monotonic()
        with pytest.raises(NatsUnavailable):
            await walnats_django.request(ECHO, "during", timeout=4)
        assert time.monotonic() - started < 0.5
        own_server.start()
        assert await _until_answered(time.monotonic() + 15) == "back"
    await asyncio.to_thread(worker.wait_for_line, "Reconnected to NATS")
    assert worker.process.poll() is None, "the worker recovered by itself"


async def test_concurrent_requests_each_fail_within_their_timeout_when_nats_is_silent() -> None:
    """connection.py:460-474: `get_connection` holds the loop's lock while connecting.

    Concurrent callers wait for the lock without any bound, then each makes its own attempt:
    against a server that accepts TCP but never answers (a black-holed port, an overloaded
    server), the k-th caller fails after k x timeout. With 4 requests of timeout=0.5 the
    last one returns after ~2 s; with 100 of them under load, after ~50 s.
    """
    with socket.socket() as silent:  # accepts TCP connections, never says INFO
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        url = f"nats://127.0.0.1:{silent.getsockname()[1]}"

        async def one() -> float:
            started = time.monotonic()
            with contextlib.suppress(NatsUnavailable):
                await walnats_django.request(ECHO, "x", timeout=0.5)
            return time.monotonic() - started

        with override_settings(WALNATS={"SERVERS": [url]}):
            took = await asyncio.gather(*(one() for _ in range(4)))
    assert max(took) < 1.2, f"requests with timeout=0.5 took {[round(t, 2) for t in took]} s"
