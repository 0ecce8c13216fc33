"""A project that uses only Django's Tasks API works on `runactors` (tests/tasksproject/).

Its settings name `WalnatsBackend` in TASKS and nothing else of walnats: no events, no actors.
A plain `manage.py runactors` runs its queue; this process enqueues and reads results with
`@task`, `enqueue`/`aenqueue` and `get_result` only, as a web process would.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio
from django_tasks import TaskResultStatus, default_task_backend

from tests.helpers import StartWorker, until, using
from tests.tasksproject.tasks import greet, total
from walnats_django.testing import NatsServer


@pytest_asyncio.fixture
async def project_server(tmp_path: Path) -> AsyncIterator[NatsServer]:
    """A nats-server of this test's own: the project's queue is its alone."""
    server = NatsServer(store_dir=tmp_path / "store").start()
    try:
        with using(server):
            yield server
    finally:
        server.cleanup()


async def test_tasks_only_project_enqueues_and_reads_results_of_runactors(
    project_server: NatsServer, start_worker: StartWorker
) -> None:
    worker = start_worker(
        wait=False,
        extra_env={"NATS_URL": project_server.url, "DJANGO_SETTINGS_MODULE": "tests.tasksproject.settings"},
    )
    await asyncio.to_thread(worker.wait_for_line, "Worker started")
    assert "actors=tasks-default(tasks.default) " in worker.wait_for_line("Worker started")

    hello = await asyncio.to_thread(greet.enqueue, "Ada")
    summed = await total.aenqueue([1.5, 2.5])
    assert hello.status == summed.status == TaskResultStatus.READY

    async def finished(task: Any, result_id: str) -> Any:
        found = await task.aget_result(result_id)
        return found if found.is_finished else None

    hello_done = await until(lambda: finished(greet, hello.id), "greet finished")
    summed_done = await until(lambda: finished(total, summed.id), "total finished")
    assert (hello_done.status, hello_done.return_value) == (TaskResultStatus.SUCCESSFUL, "Hello, Ada!")
    assert (summed_done.status, summed_done.return_value) == (TaskResultStatus.SUCCESSFUL, 4.0)
    from_any_code = await asyncio.to_thread(default_task_backend.get_result, hello.id)
    assert from_any_code.return_value == "Hello, Ada!"
    assert from_any_code.task.func is greet.func
