"""Task workers that die or stop mid-task, each test on a nats-server of its own.

kill -9: JetStream hands the task to another worker after ACK_WAIT (1 s in tests/settings.py);
the lost attempt is recorded as a `WorkerLost` error and uses up one of the retries. SIGTERM: the
running attempt is handed back READY, so the next worker's attempt is not counted as a failure.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from django_tasks import TaskResultStatus

from tests.helpers import StartWorker, WorkerProcess, start_workers, unique, using, wait_lines
from tests.testapp.tasks import dies_first
from walnats_django.tasks import wait
from walnats_django.testing import NatsServer


@pytest_asyncio.fixture
async def own_server(tmp_path: Path) -> AsyncIterator[NatsServer]:
    server = NatsServer(store_dir=tmp_path / "store").start()
    try:
        with using(server):
            yield server
    finally:
        server.cleanup()


async def first_attempt_on(workers: list[WorkerProcess], record_dir: Path, key: str) -> WorkerProcess:
    """The worker whose first attempt of `dies_first(key)` is blocking now."""
    line = (await wait_lines(record_dir / "dies-first", 1, keep=lambda line: line.startswith(f"{key} ")))[0]
    pid = int(line.split(" ")[1])
    return next(w for w in workers if w.process.pid == pid)


async def test_a_task_whose_worker_is_killed_runs_again_on_another_worker(
    own_server: NatsServer, start_worker: StartWorker, record_dir: Path
) -> None:
    workers = await start_workers(start_worker, 2, "--queue", "default", server=own_server)
    key = unique("kill")
    result = await dies_first.aenqueue(key)
    victim = await first_attempt_on(workers, record_dir, key)
    victim.process.kill()
    await asyncio.to_thread(victim.process.wait)
    survivor = next(w for w in workers if w is not victim)
    await wait(result, timeout=15)
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == "done on attempt 2"
    assert len(result.worker_ids) == 2
    assert f"-{victim.process.pid}-" in result.worker_ids[0]
    assert f"-{survivor.process.pid}-" in result.worker_ids[1]
    assert [e.exception_class_path for e in result.errors] == ["walnats_django.tasks.errors.WorkerLost"]
    assert "attempt 1 on worker" in result.errors[0].traceback
    assert "ended without an outcome" in result.errors[0].traceback


async def test_a_task_stopped_by_sigterm_is_handed_back_ready_not_failed(
    own_server: NatsServer, start_worker: StartWorker, record_dir: Path
) -> None:
    (first,) = await start_workers(
        start_worker, 1, "--queue", "default", "--shutdown-timeout", "0.2", server=own_server
    )
    key = unique("term")
    result = await dies_first.aenqueue(key)
    await first_attempt_on([first], record_dir, key)
    first.signal(signal.SIGTERM)
    assert await asyncio.to_thread(first.wait, 15) == 0, first.log()
    assert "Exiting with 1 sync job thread(s) still running" in first.log()
    await result.arefresh()
    assert result.status == TaskResultStatus.READY, "handed back for the next worker"
    await start_workers(start_worker, 1, "--queue", "default", server=own_server)
    await wait(result, timeout=15)
    assert result.return_value == "done on attempt 2"
    assert result.errors == [], "a stop on purpose is no failure"
