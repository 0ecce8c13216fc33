"""Django's Tasks API against a real `runactors` process: this process enqueues and reads results,
the worker runs the queues of tests/settings.py (tasks in tests/testapp/tasks.py).

"default" retries twice (RETRY_DELAY 0.1, 0.2); "strict" never retries and times out after 0.5 s.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from django.utils import timezone
from django_tasks import TaskResultStatus, default_task_backend, task_backends
from django_tasks.exceptions import InvalidTaskError, TaskResultDoesNotExist
from django_tasks.signals import task_enqueued

import walnats_django
from tests.helpers import StartWorker, WorkerProcess, await_line, record_lines, unique, until
from tests.testapp.tasks import (
    add,
    always_fails,
    attempt_and_time,
    fails_first,
    multiply,
    returns_object,
    sleeps,
    sleeps_in_thread,
)
from walnats_django import deadletters
from walnats_django.tasks import TaskWaitTimeout, WalnatsBackend, enqueueing, wait, wait_sync
from walnats_django.tasks.enqueueing import _abandon
from walnats_django.tasks.queues import queue_event
from walnats_django.tasks.records import TaskRecord
from walnats_django.tasks.store import Stored
from walnats_django.testing import NatsServer


@pytest.fixture(scope="module")
def task_worker(start_worker: StartWorker) -> Iterator[WorkerProcess]:
    """One `runactors --queue default --queue strict` for the module."""
    worker = start_worker("--queue", "default", "--queue", "strict")
    yield worker
    worker.stop()


def backend(alias: str = "default") -> WalnatsBackend:
    found = task_backends[alias]
    assert isinstance(found, WalnatsBackend)
    return found


async def stored(result_id: str, alias: str = "default") -> Stored:
    """The record in the results bucket (also for results `get_result` cannot build)."""
    found = await backend(alias).store.read(result_id)
    assert found is not None, f"no stored result {result_id}"
    return found


async def dead_letter_of(url: str, actor: str, result_id: str) -> deadletters.DeadLetter | None:
    nc = await nats.connect(url)
    try:
        letters = await deadletters.list_all(nc.jetstream(), actor=actor)
    finally:
        await nc.close()
    return next((d for d in letters if TaskRecord.decode(d.payload).id == result_id), None)


# -- results in another process ----------------------------------------------------------------


async def test_enqueue_returns_ready_and_the_worker_stores_success_for_get_result(
    task_worker: WorkerProcess,
) -> None:
    result = await asyncio.to_thread(add.enqueue, 2, 3)
    assert result.status == TaskResultStatus.READY
    assert result.enqueued_at is not None
    assert timezone.is_aware(result.enqueued_at)

    async def finished() -> Any:
        found = await add.aget_result(result.id)
        return found if found.is_finished else None

    got = await until(finished, "the result is finished")
    assert got.status == TaskResultStatus.SUCCESSFUL
    assert got.return_value == 5
    assert got.args == [2, 3]
    assert got.errors == []
    assert len(got.worker_ids) == 1
    assert f"-{task_worker.process.pid}-" in got.worker_ids[0]
    assert result.enqueued_at <= got.started_at <= got.last_attempted_at <= got.finished_at
    # The sync twin, from a thread as a WSGI view would call it.
    same = await asyncio.to_thread(default_task_backend.get_result, result.id)
    assert (same.status, same.return_value, same.worker_ids) == (got.status, 5, got.worker_ids)


async def test_aenqueue_runs_an_async_task_and_refresh_reads_it(task_worker: WorkerProcess) -> None:
    result = await multiply.aenqueue(6, 7)
    await wait(result, timeout=10)
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 42
    await result.arefresh()
    assert result.return_value == 42


def test_sync_code_enqueues_waits_and_refreshes(task_worker: WorkerProcess) -> None:
    result = add.enqueue(20, 22)
    assert wait_sync(result, timeout=10) is result
    assert result.return_value == 42
    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL


async def test_unknown_result_ids_do_not_exist(task_worker: WorkerProcess) -> None:
    await add.aenqueue(0, 0)  # the bucket exists
    with pytest.raises(TaskResultDoesNotExist):
        await add.aget_result("a" * 32)
    with pytest.raises(TaskResultDoesNotExist):
        await default_task_backend.aget_result("not a key!")


# -- run_after, context, retries ---------------------------------------------------------------


async def test_run_after_is_honoured_without_using_up_an_attempt(task_worker: WorkerProcess) -> None:
    run_after = timezone.now() + datetime.timedelta(seconds=1.5)
    result = await attempt_and_time.using(run_after=run_after).aenqueue("later")
    assert (await attempt_and_time.aget_result(result.id)).status == TaskResultStatus.READY
    await wait(result, timeout=10)
    assert result.status == TaskResultStatus.SUCCESSFUL
    ran_at = result.return_value["ran_at"]
    assert run_after.timestamp() - 0.01 <= ran_at < run_after.timestamp() + 1.0
    assert result.return_value["attempt"] == 1, "the wait for run_after is not an attempt"
    assert result.return_value["id"] == result.id
    assert result.attempts == 1
    assert result.task.run_after == run_after


async def test_failed_attempts_are_retried_and_context_attempt_counts_them(
    task_worker: WorkerProcess,
) -> None:
    result = await fails_first.aenqueue(2)
    await wait(result, timeout=10)
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 3
    assert result.attempts == 3
    assert [e.exception_class_path for e in result.errors] == ["builtins.ValueError"] * 2
    assert "attempt 1 of fails_first fails on purpose" in result.errors[0].traceback
    assert "attempt 2 of fails_first fails on purpose" in result.errors[1].traceback
    assert result.errors[0].exception_class is ValueError


async def test_a_task_failing_every_attempt_ends_failed_with_a_dead_letter(
    task_worker: WorkerProcess, nats_server: NatsServer
) -> None:
    note = unique("doomed")
    result = await always_fails.aenqueue(note)
    await wait(result, timeout=10)
    assert result.status == TaskResultStatus.FAILED
    assert result.attempts == 3, "RETRIES=2: three attempts"
    assert [e.exception_class_path for e in result.errors] == ["builtins.RuntimeError"] * 3
    assert f"RuntimeError: always fails: {note}" in result.errors[-1].traceback
    assert result.finished_at is not None
    with pytest.raises(ValueError, match="Task failed"):
        _ = result.return_value
    letter = await until(
        lambda: dead_letter_of(nats_server.url, "tasks-default", result.id), "a dead letter for the task"
    )
    assert letter.event == "tasks.default"
    assert f"always fails: {note}" in letter.error


async def test_job_timeout_fails_an_async_task(task_worker: WorkerProcess) -> None:
    started = time.monotonic()
    result = await sleeps.aenqueue(5)
    await wait(result, timeout=10)
    assert time.monotonic() - started < 4, "cut at JOB_TIMEOUT 0.5 s"
    assert result.status == TaskResultStatus.FAILED
    assert result.attempts == 1, "strict: no retries"
    assert result.errors[0].exception_class_path == "walnats_django.tasks.errors.TaskTimeout"
    assert "ran past its JOB_TIMEOUT of 0.5s" in result.errors[0].traceback


async def test_job_timeout_fails_a_sync_task_while_its_thread_runs_on(task_worker: WorkerProcess) -> None:
    result = await sleeps_in_thread.aenqueue(1.5)
    await wait(result, timeout=10)
    assert result.status == TaskResultStatus.FAILED
    assert result.errors[0].exception_class_path == "walnats_django.tasks.errors.TaskTimeout"


async def test_a_return_value_that_is_not_json_fails_at_once_and_clearly(task_worker: WorkerProcess) -> None:
    result = await returns_object.aenqueue()
    await wait(result, timeout=10)
    assert result.status == TaskResultStatus.FAILED
    assert result.attempts == 1, "the task ran: a retry would repeat it"
    error = result.errors[0]
    assert error.exception_class_path == "walnats_django.tasks.errors.ReturnValueNotStored"
    assert "returned object" in error.traceback
    assert "cannot be stored as JSON" in error.traceback


# -- what reaches the worker -------------------------------------------------------------------


async def test_a_stale_redelivery_never_overwrites_a_finished_result(task_worker: WorkerProcess) -> None:
    result = await add.aenqueue(1, 1)
    await wait(result, timeout=10)
    before = await stored(result.id)
    stale = dataclasses.replace(
        before.record, status=TaskResultStatus.READY.value, worker_ids=(), finished_at=None
    )
    mark = task_worker.mark()
    await walnats_django.emit(queue_event("default"), stale, wait=True)  # a new message, same result id
    await await_line(
        task_worker, f"Task id={result.id} path=tests.testapp.tasks.add is SUCCESSFUL already", mark
    )
    after = await stored(result.id)
    assert after == before, "same record, same revision"


async def ready_message(args: list[Any]) -> tuple[TaskRecord, int]:
    """A READY record of `add` stored as enqueue stores it, and its queue message (not published)."""
    record = TaskRecord(
        id=unique("r"),
        task="tests.testapp.tasks.add",
        backend="default",
        queue="default",
        args=args,
        kwargs={},
    )
    revision = await backend().store.write(record, 0)
    assert revision
    return dataclasses.replace(record, ready_revision=revision), revision


async def test_a_message_with_its_ready_revision_runs_once_and_the_same_message_again_is_stale(
    task_worker: WorkerProcess,
) -> None:
    message, ready = await ready_message([20, 22])
    await walnats_django.emit(queue_event("default"), message, wait=True)
    done = await wait(await add.aget_result(message.id), timeout=10)
    assert done.return_value == 42
    before = await stored(message.id)
    assert before.revision == ready + 2, "RUNNING and SUCCESSFUL, no other write"
    mark = task_worker.mark()
    await walnats_django.emit(queue_event("default"), message, wait=True)  # the same message again
    await await_line(
        task_worker, f"Task id={message.id} path=tests.testapp.tasks.add is SUCCESSFUL already", mark
    )
    assert await stored(message.id) == before


async def test_a_message_whose_enqueue_failed_never_runs(task_worker: WorkerProcess) -> None:
    """enqueue raised (here: its PubAck was lost) after JetStream stored the message: the READY
    record is FAILED with that error, and the worker skips the message."""
    message, ready = await ready_message([1, 2])
    lost = walnats_django.RequestTimeout("no PubAck within 5s")
    assert await _abandon(backend().store, dataclasses.replace(message, ready_revision=None), ready, lost)
    mark = task_worker.mark()
    await walnats_django.emit(queue_event("default"), message, wait=True)
    await await_line(
        task_worker, f"Task id={message.id} path=tests.testapp.tasks.add is FAILED already", mark
    )
    result = await add.aget_result(message.id)
    assert result.status == TaskResultStatus.FAILED
    assert result.worker_ids == []
    assert result.errors[0].exception_class_path == "walnats_django.errors.RequestTimeout"


async def test_a_publish_that_fails_after_a_worker_claimed_the_task_is_an_enqueue(
    task_worker: WorkerProcess, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """JetStream stored the message but its PubAck came too late: the caller gets its result, not
    an error for a task that runs anyway."""
    real_publish = enqueueing.publish_encoded

    async def late_puback(event: Any, message: bytes, headers: dict[str, str], *, wait: bool) -> None:
        await real_publish(event, message, headers, wait=wait)
        result_id = TaskRecord.decode(message).id
        assert await until(lambda: claimed(result_id), "the worker claimed the task")
        raise walnats_django.RequestTimeout("no PubAck within 4s")

    async def claimed(result_id: str) -> bool:
        return (await stored(result_id)).record.status != TaskResultStatus.READY.value

    caplog.set_level(logging.INFO, logger="walnats_django.tasks")
    monkeypatch.setattr(enqueueing, "publish_encoded", late_puback)
    result = await add.aenqueue(20, 1)
    monkeypatch.undo()
    assert (await wait(result, timeout=10)).return_value == 21
    assert (
        f"Task id={result.id} path=tests.testapp.tasks.add: the publish raised RequestTimeout" in caplog.text
    )


async def test_a_cancelled_enqueue_still_publishes_what_it_stored(
    task_worker: WorkerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancelled between its READY write and its publish, an enqueue finishes in the background:
    no READY result is left that nothing runs."""
    real_publish = enqueueing.publish_encoded
    publishing = asyncio.Event()
    go_on = asyncio.Event()
    ids: list[str] = []

    async def held(event: Any, message: bytes, headers: dict[str, str], *, wait: bool) -> None:
        ids.append(TaskRecord.decode(message).id)
        publishing.set()
        await go_on.wait()
        await real_publish(event, message, headers, wait=wait)

    monkeypatch.setattr(enqueueing, "publish_encoded", held)
    caller = asyncio.ensure_future(add.aenqueue(30, 3))
    await asyncio.wait_for(publishing.wait(), 5)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert (await stored(ids[0])).record.status == TaskResultStatus.READY.value
    go_on.set()
    monkeypatch.undo()
    assert (await wait(await add.aget_result(ids[0]), timeout=10)).return_value == 33


async def test_a_message_naming_no_task_is_refused_stored_failed_and_dead_lettered(
    task_worker: WorkerProcess, nats_server: NatsServer, record_dir: Path
) -> None:
    ids = {}
    for path in ("tests.testapp.tasks.no_such_task", "tests.testapp.tasks.not_a_task"):
        record = TaskRecord(
            id=unique("forged").replace("-", ""),
            task=path,
            backend="default",
            queue="default",
            args=[],
            kwargs={},
        )
        await walnats_django.emit(queue_event("default"), record, wait=True)
        ids[path] = record.id

    async def failed(result_id: str) -> Stored | None:
        found = await backend().store.read(result_id)
        return found if found is not None and found.record.is_finished else None

    missing = (await until(lambda: failed(ids["tests.testapp.tasks.no_such_task"]), "refused")).record
    plain = (await until(lambda: failed(ids["tests.testapp.tasks.not_a_task"]), "refused")).record
    for record in (missing, plain):
        assert record.status == TaskResultStatus.FAILED.value
        assert record.worker_ids == (), "never started"
        assert record.errors[0].exception_class_path == "django_tasks.exceptions.InvalidTaskError"
    assert "cannot be imported" in missing.errors[0].traceback
    assert "is a function, not a Task" in plain.errors[0].traceback
    assert record_lines(record_dir / "not-a-task") == []
    with pytest.raises(InvalidTaskError, match="cannot be imported"):
        await default_task_backend.aget_result(missing.id)
    for result_id in (missing.id, plain.id):
        assert await until(
            lambda i=result_id: dead_letter_of(nats_server.url, "tasks-default", i), "dead letter"
        )
    after = await add.aenqueue(2, 2)
    assert (await wait(after, timeout=10)).return_value == 4, "the worker runs on"


async def test_an_unreadable_stored_result_sends_its_message_to_the_dead_letters(
    task_worker: WorkerProcess, nats_server: NatsServer
) -> None:
    result = await add.aenqueue(1, 2)
    await wait(result, timeout=10)
    nc = await nats.connect(nats_server.url)
    try:
        broken = unique("broken").replace("-", "")
        await nc.jetstream().publish(f"$KV.tasks-default.{broken}", b"not json")
    finally:
        await nc.close()
    record = TaskRecord(
        id=broken, task="tests.testapp.tasks.add", backend="default", queue="default", args=[1, 2], kwargs={}
    )
    await walnats_django.emit(queue_event("default"), record, wait=True)
    letter = await until(lambda: dead_letter_of(nats_server.url, "tasks-default", broken), "a dead letter")
    assert "JSONDecodeError" in letter.error


# -- wait() ------------------------------------------------------------------------------------


async def test_wait_gives_up_after_its_timeout_and_can_wait_again(task_worker: WorkerProcess) -> None:
    result = await sleeps.aenqueue(0.3)
    started = time.monotonic()
    with pytest.raises(TaskWaitTimeout, match=r"did not finish within 0\.05s"):
        await wait(result, timeout=0.05)
    assert time.monotonic() - started < 1
    assert not result.is_finished
    await wait(result, timeout=10)
    assert result.return_value == 0.3


async def test_wait_for_an_expired_or_unknown_result_says_it_does_not_exist(
    task_worker: WorkerProcess,
) -> None:
    result = await add.aenqueue(3, 4)
    gone = dataclasses.replace(result, id="b" * 32)
    with pytest.raises(TaskResultDoesNotExist):
        await wait(gone, timeout=5)


# -- signals -----------------------------------------------------------------------------------


async def test_task_enqueued_fires_here_and_started_and_finished_fire_in_the_worker(
    task_worker: WorkerProcess, record_dir: Path
) -> None:
    seen: list[Any] = []

    def on_enqueued(sender: type, task_result: Any, **kwargs: Any) -> None:
        seen.append((sender, task_result.id, task_result.status))

    task_enqueued.connect(on_enqueued)
    try:
        result = await add.aenqueue(5, 5)
        failing = await always_fails.aenqueue("signals")
    finally:
        task_enqueued.disconnect(on_enqueued)
    assert seen == [
        (WalnatsBackend, result.id, TaskResultStatus.READY),
        (WalnatsBackend, failing.id, TaskResultStatus.READY),
    ]
    await wait(result, timeout=10)
    await wait(failing, timeout=10)

    def lines_of(result_id: str) -> list[str]:
        return [line for line in record_lines(record_dir / "task-signals") if result_id in line]

    assert await until(lambda: len(lines_of(failing.id)) == 4, "three starts and one finish")
    assert lines_of(result.id) == [f"started {result.id} RUNNING", f"finished {result.id} SUCCESSFUL"]
    assert lines_of(failing.id) == [f"started {failing.id} RUNNING"] * 3 + [f"finished {failing.id} FAILED"]


# -- runactors ---------------------------------------------------------------------------------


def test_runactors_names_its_task_queues_in_its_start_lines(task_worker: WorkerProcess) -> None:
    assert "Task queues queues=default,strict backends=default,strict" in task_worker.log()
    start = task_worker.wait_for_line("Worker started")
    assert "actors=tasks-default(tasks.default),tasks-strict(tasks.strict) " in start


def test_runactors_queue_alone_runs_no_actors(start_worker: StartWorker) -> None:
    worker = start_worker("--queue", "strict", "--burst", wait=False)
    assert worker.wait() == 0
    start = worker.wait_for_line("Worker started")
    assert "actors=tasks-strict(tasks.strict) " in start


def test_runactors_actor_alone_or_no_tasks_runs_no_queues(start_worker: StartWorker) -> None:
    for args in (("--actor", "echo"), ("--actor", "echo", "--no-tasks")):
        worker = start_worker(*args, "--burst", wait=False)
        assert worker.wait() == 0
        assert "actors=echo(test.echo) " in worker.wait_for_line("Worker started")
        assert "Task queues" not in worker.log()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--queue", "nope"), "unknown task queue(s): nope (configured: default, strict)."),
        (("--queue", "default", "--no-tasks"), "--queue and --no-tasks contradict each other"),
    ],
)
def test_runactors_refuses_unknown_or_contradicting_queue_options(
    start_worker: StartWorker, args: tuple[str, ...], message: str
) -> None:
    worker = start_worker(*args, wait=False)
    assert worker.wait() == 1
    assert message in worker.log()
