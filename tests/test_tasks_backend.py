"""WalnatsBackend on the caller's side: flags, validation, errors before and at enqueue, OPTIONS,
system checks (E030-E034) and the stored record format. No worker runs here."""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import datetime
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
import pytest_asyncio
from django.core.checks import Error
from django.core.exceptions import ImproperlyConfigured, SynchronousOnlyOperation
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings
from django_tasks import TaskResultStatus, task, task_backends
from django_tasks.base import TaskError
from django_tasks.exceptions import InvalidTaskError

from tests.helpers import using
from tests.testapp.tasks import add, attempt_and_time
from walnats_django import Event, EventNotRegistered, NatsUnavailable, PayloadTooLarge, registry
from walnats_django.checks import check_tasks
from walnats_django.tasks import TaskArgumentsError, TaskQueueMissing, WalnatsBackend, wait
from walnats_django.tasks.checking import backend_problems
from walnats_django.tasks.options import TaskOptions, parse_options
from walnats_django.tasks.records import TaskRecord, record_status
from walnats_django.testing import NatsServer, free_port

WALNATS_BACKEND = "walnats_django.tasks.WalnatsBackend"


def test_flags() -> None:
    assert WalnatsBackend.supports_defer is True
    assert WalnatsBackend.supports_async_task is True
    assert WalnatsBackend.supports_get_result is True
    assert WalnatsBackend.supports_priority is False


# -- validation --------------------------------------------------------------------------------


def test_priority_is_refused_with_what_to_do_instead() -> None:
    with pytest.raises(InvalidTaskError, match=r"cannot honour priority=5 .*queue of their own"):
        add.using(priority=5)


def test_a_queue_not_in_queues_is_refused() -> None:
    with pytest.raises(InvalidTaskError, match=r"queue 'mail' of tests.testapp.tasks.add is not in TASKS"):
        add.using(queue_name="mail")


def test_run_after_must_be_aware() -> None:
    with pytest.raises(InvalidTaskError, match="aware"):
        add.using(run_after=datetime.datetime(2030, 1, 1))


def test_arguments_that_are_not_json_are_refused_before_anything_is_sent() -> None:
    with (
        override_settings(WALNATS={"SERVERS": [f"nats://127.0.0.1:{free_port()}"]}),
        pytest.raises(
            TaskArgumentsError, match=r"arguments of tests.testapp.tasks.add cannot be stored as JSON"
        ),
    ):
        add.enqueue(object(), 1)


async def test_sync_enqueue_inside_an_event_loop_names_the_async_twin() -> None:
    with pytest.raises(SynchronousOnlyOperation, match=r"await task.aenqueue"):
        add.enqueue(1, 2)


async def test_wait_refuses_results_of_other_backends() -> None:
    with override_settings(TASKS={"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}):
        dummy = task(add.func)
        result = await dummy.aenqueue(1, 2)
        with pytest.raises(TypeError, match="wait\\(\\) watches results of WalnatsBackend"):
            await wait(result)


# -- enqueue against NATS ----------------------------------------------------------------------


@pytest_asyncio.fixture
async def bare_server(tmp_path: Path) -> AsyncIterator[NatsServer]:
    """A nats-server on which runactors never ran: no queue streams, no bucket."""
    server = NatsServer(store_dir=tmp_path / "store").start()
    try:
        with using(server):
            yield server
    finally:
        server.cleanup()


async def test_enqueue_to_a_queue_without_stream_says_to_run_runactors(bare_server: NatsServer) -> None:
    with pytest.raises(
        TaskQueueMissing, match=r"task queue 'default' has no stream yet .*runactors"
    ) as caught:
        await add.aenqueue(1, 2)
    assert isinstance(caught.value, EventNotRegistered)
    # Its READY record, stored first, is FAILED with the error the caller got.
    nc = await nats.connect(bare_server.url)
    try:
        bucket = await nc.jetstream().key_value("tasks-default")
        [key] = await bucket.keys()
        entry = await bucket.get(key)
    finally:
        await nc.close()
    assert entry.value is not None
    record = TaskRecord.decode(entry.value)
    assert record.status == TaskResultStatus.FAILED.value
    assert record.errors[0].exception_class_path == "walnats_django.tasks.errors.TaskQueueMissing"


async def test_arguments_over_half_the_max_payload_are_refused_before_publishing(
    nats_server: NatsServer,
) -> None:
    with pytest.raises(PayloadTooLarge, match=r"take \d+ bytes, over the \d+ a task may take"):
        await add.aenqueue("x" * 600_000, "")


@pytest.fixture
def nats_down() -> Iterator[None]:
    with override_settings(WALNATS={"SERVERS": [f"nats://127.0.0.1:{free_port()}"], "CONNECT_TIMEOUT": 2.0}):
        yield


async def test_enqueue_with_nats_down_raises_nats_unavailable_at_once(nats_down: None) -> None:
    started = time.monotonic()
    with pytest.raises(NatsUnavailable, match="cannot connect to NATS"):
        await add.aenqueue(1, 2)
    assert time.monotonic() - started < 1.5


def test_sync_enqueue_and_get_result_with_nats_down_raise_nats_unavailable(nats_down: None) -> None:
    with pytest.raises(NatsUnavailable):
        add.enqueue(1, 2)
    with pytest.raises(NatsUnavailable):
        add.get_result("a" * 32)


# -- OPTIONS -----------------------------------------------------------------------------------


def test_options_default_to_one_attempt() -> None:
    options, problems = parse_options("default", {})
    assert problems == []
    assert options == TaskOptions()
    assert options.retries == 0
    assert options.retry_delay_for(1) == 1.0
    assert options.retry_delay_for(9) == 30.0


def test_options_are_read_and_a_single_retry_delay_is_a_list_of_one() -> None:
    options, problems = parse_options(
        "default",
        {"RETRIES": 3, "RETRY_DELAY": 2, "JOB_TIMEOUT": 5, "RESULT_TTL": None, "ACK_WAIT": 3, "MAX_JOBS": 4},
    )
    assert problems == []
    assert options == TaskOptions(
        retries=3, retry_delay=(2.0,), job_timeout=5.0, result_ttl=None, ack_wait=3.0, max_jobs=4
    )


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ([], "TASKS['default']['OPTIONS'] must be a dict, got list."),
        ({"RETRYS": 1}, "Unknown TASKS['default']['OPTIONS'] key(s): RETRYS"),
        ({"RETRIES": -1}, "['RETRIES'] must be an int >= 0, got -1."),
        ({"RETRIES": True}, "['RETRIES'] must be an int >= 0, got True."),
        ({"RETRY_DELAY": "1s"}, "['RETRY_DELAY'] must be seconds or a list of seconds, got '1s'."),
        ({"RETRY_DELAY": [1, -2]}, "['RETRY_DELAY'] values must be numbers >= 0, got -2."),
        ({"JOB_TIMEOUT": 0}, "['JOB_TIMEOUT'] must be a positive number, got 0."),
        ({"RESULT_TTL": "1d"}, "['RESULT_TTL'] must be a positive number or None, got '1d'."),
        ({"MAX_JOBS": 1.5}, "['MAX_JOBS'] must be an int, got 1.5."),
    ],
)
def test_bad_options_are_problems_and_keep_their_defaults(raw: Any, problem: str) -> None:
    options, problems = parse_options("default", raw)
    assert len(problems) == 1
    assert problem in problems[0]
    assert options == TaskOptions()


def test_enqueue_with_bad_options_is_improperly_configured() -> None:
    tasks = {"default": {"BACKEND": WALNATS_BACKEND, "OPTIONS": {"RETRIES": -1}}}
    with override_settings(TASKS=tasks), pytest.raises(ImproperlyConfigured, match=r"manage\.py check"):
        task(add.func).enqueue(1, 2)


# -- system checks -----------------------------------------------------------------------------


def problems_of(tasks: dict[str, Any], alias: str = "default") -> list[Error]:
    with override_settings(TASKS=tasks):
        backend = task_backends[alias]
        assert isinstance(backend, WalnatsBackend)
        return [p for p in backend_problems(backend) if isinstance(p, Error)]


def test_the_test_settings_have_no_task_problems() -> None:
    assert [p for alias in ("default", "strict") for p in task_backends[alias].check()] == []


def test_check_e030_bad_options() -> None:
    (problem,) = problems_of({"default": {"BACKEND": WALNATS_BACKEND, "OPTIONS": {"ACK_WAIT": -1}}})
    assert problem.id == "walnats_django.E030"
    assert "['ACK_WAIT'] must be a positive number" in problem.msg


@pytest.mark.parametrize(
    ("queues", "text"),
    [([], "non-empty list"), ("default", "non-empty list"), (["a.b"], "'a.b' must be 1 to 200 letters")],
)
def test_check_e031_bad_queues(queues: list[str], text: str) -> None:
    (problem,) = problems_of({"default": {"BACKEND": WALNATS_BACKEND, "QUEUES": queues}})
    assert problem.id == "walnats_django.E031"
    assert text in problem.msg


def test_check_e032_an_alias_that_cannot_name_a_bucket() -> None:
    (problem,) = problems_of({"my.tasks": {"BACKEND": WALNATS_BACKEND}}, "my.tasks")
    assert problem.id == "walnats_django.E032"


def test_check_e033_a_queue_in_two_walnats_backends() -> None:
    tasks = {
        "default": {"BACKEND": WALNATS_BACKEND, "QUEUES": ["default", "mail"]},
        "other": {"BACKEND": WALNATS_BACKEND, "QUEUES": ["mail"]},
        "dummy": {"BACKEND": "django_tasks.backends.dummy.DummyBackend", "QUEUES": ["default"]},
    }
    (problem,) = problems_of(tasks)
    assert problem.id == "walnats_django.E033"
    assert "'mail' is in the QUEUES of both TASKS['default'] and TASKS['other']" in problem.msg


def test_check_e034_an_event_on_a_queue_subject() -> None:
    with registry.isolated():
        registry.add(Event("tasks.default", str))
        (problem,) = problems_of({"default": {"BACKEND": WALNATS_BACKEND}})
    assert problem.id == "walnats_django.E034"
    assert "event 'tasks.default' uses the subject or stream of task queue 'default'" in problem.msg


def test_manage_py_check_reports_task_problems() -> None:
    tasks = {"default": {"BACKEND": WALNATS_BACKEND, "OPTIONS": {"RETRIES": "3"}}}
    with override_settings(TASKS=tasks), pytest.raises(SystemCheckError, match=r"walnats_django\.E030"):
        call_command("check")


def test_walnats_checks_run_task_checks_only_without_the_django_tasks_app(settings: Any) -> None:
    """The django_tasks app's own check runs every backend's check(); without it, ours does."""
    settings.TASKS = {"default": {"BACKEND": WALNATS_BACKEND, "QUEUES": ["a b"]}}
    assert check_tasks() == []
    settings.INSTALLED_APPS = [app for app in settings.INSTALLED_APPS if app != "django_tasks"]
    assert [problem.id for problem in check_tasks()] == ["walnats_django.E031"]


# -- the stored record -------------------------------------------------------------------------


def test_a_record_round_trips_through_json() -> None:
    now = datetime.datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=datetime.UTC)
    record = TaskRecord(
        id="r1",
        task="tests.testapp.tasks.add",
        backend="default",
        queue="default",
        args=[1, "two", [3]],
        kwargs={"k": {"v": None}},
        status=TaskResultStatus.FAILED.value,
        run_after=now,
        enqueued_at=now,
        started_at=now,
        finished_at=now,
        last_attempted_at=now,
        errors=(TaskError(exception_class_path="builtins.ValueError", traceback="Traceback ..."),),
        worker_ids=("w1", "w2"),
        return_value={"a": [1.5]},
    )
    assert TaskRecord.decode(record.encode()) == record


def test_a_queue_message_carries_the_ready_revision_and_a_stored_record_does_not() -> None:
    record = TaskRecord(id="r1", task="t", backend="default", queue="default", args=[], kwargs={})
    assert b"ready_revision" not in record.encode()
    message = dataclasses.replace(record, ready_revision=7)
    assert TaskRecord.decode(message.encode()).ready_revision == 7
    with pytest.raises(ValueError, match="ready_revision must be a positive integer"):
        TaskRecord.decode(message.encode().replace(b'"ready_revision":7', b'"ready_revision":"7"'))


@pytest.mark.parametrize("status", [status.value for status in TaskResultStatus])
def test_record_status_reads_the_status_without_decoding(status: str) -> None:
    sneaky = {"status": "SUCCESSFUL", "x": ',"status":"FAILED"'}
    record = TaskRecord(
        id="r1", task="t", backend="default", queue="default", args=[sneaky], kwargs={}, status=status
    )
    assert record_status(record.encode()) == status


def test_record_status_of_json_another_writer_spaced_out_decodes_it() -> None:
    data = b'{"id": "x", "task": "t", "backend": "b", "queue": "q", "status": "RUNNING", "args": []'
    data += b', "kwargs": {}}'
    assert record_status(data) == "RUNNING"
    with pytest.raises(ValueError, match="status 'DONE' is not one of"):
        record_status(data.replace(b"RUNNING", b"DONE"))


def test_a_shrunk_record_keeps_the_end_of_each_traceback() -> None:
    long = "line\n" * 2000 + "ValueError: the point"
    record = TaskRecord(
        id="r",
        task="t",
        backend="default",
        queue="default",
        args=[],
        kwargs={},
        errors=(TaskError(exception_class_path="builtins.ValueError", traceback=long),),
    )
    (error,) = record.shrunk().errors
    assert error.traceback.startswith(f"[{len(long) - 1024} characters cut]")
    assert error.traceback.endswith("ValueError: the point")
    assert len(error.traceback) < 1100


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"[]", "must be a JSON object"),
        (b'{"id": "x"}', "field 'task' must be a non-empty string"),
        (
            b'{"id":"x","task":"t","backend":"b","queue":"q","status":"DONE","args":[],"kwargs":{}}',
            "status 'DONE' is not one of",
        ),
        (
            b'{"id":"x","task":"t","backend":"b","queue":"q","status":"READY","args":{},"kwargs":{}}',
            "args must be a list",
        ),
        (
            b'{"id":"x","task":"t","backend":"b","queue":"q","status":"READY","args":[],"kwargs":{},"errors":[1]}',
            "errors must be objects",
        ),
    ],
)
def test_a_malformed_record_is_refused_with_what_is_wrong(data: bytes, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        TaskRecord.decode(data)


def test_the_record_of_a_new_result_keeps_its_run_after_and_queue() -> None:
    run_after = datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)
    later = attempt_and_time.using(run_after=run_after)
    result = asyncio.run(_result_of(later))
    record = TaskRecord.of(result)
    assert (record.task, record.queue, record.run_after, record.args) == (
        "tests.testapp.tasks.attempt_and_time",
        "default",
        run_after,
        ["x"],
    )
    assert record.to_result(later).args == ["x"]


async def _result_of(task_: Any) -> Any:
    backend = task_backends["default"]
    assert isinstance(backend, WalnatsBackend)
    return backend._new_result(task_, ["x"], {})


def test_a_resolved_task_is_kept_per_process_until_tasks_changes() -> None:
    from django.conf import settings

    from walnats_django.tasks.resolve import resolve_task

    record = TaskRecord(
        id="r", task="tests.testapp.tasks.add", backend="default", queue="default", args=[], kwargs={}
    )
    first = resolve_task(record, task_backends["default"])
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        other_backend, again = pool.submit(_resolved_here, record).result()
    assert other_backend is not task_backends["default"], "Django hands each thread its own backend"
    assert again is first
    with override_settings(TASKS={**settings.TASKS}):
        assert resolve_task(record, task_backends["default"]) is not first


def _resolved_here(record: TaskRecord) -> tuple[Any, Any]:
    from walnats_django.tasks.resolve import resolve_task

    backend = task_backends["default"]
    return backend, resolve_task(record, backend)
