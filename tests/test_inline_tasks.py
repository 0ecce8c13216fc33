"""inline() runs Django's Tasks API in process: `enqueue`/`aenqueue` run the task through the real
backend and runner code, results live in memory (`get_result`, `refresh`, `wait`), retries pass without
sleeping, failures become FAILED results and dead letters; `run=False` only records; the bus's
`enqueued`/`assert_enqueued`; and `live=True` sends the same calls to a real server and worker.

Settings from tests/settings.py: "default" retries twice; "strict" never retries, JOB_TIMEOUT 0.5.
"""

from __future__ import annotations

import asyncio
import datetime
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.db import transaction
from django.test import TestCase, override_settings
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks.exceptions import TaskResultDoesNotExist
from django_tasks.signals import task_enqueued, task_finished, task_started

import walnats_django
from tests.helpers import ROOT, StartWorker, WorkerProcess
from tests.test_inline_modes import attempted, listener  # noqa: F401 - the fixture
from tests.testapp.inline_tasks import add_group, add_group_then_fail, add_later, notify, repeat
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
from walnats_django import Event, PayloadTooLarge, Registry
from walnats_django.client import loops
from walnats_django.tasks import (
    ReturnValueNotStored,
    TaskArgumentsError,
    TaskTimeout,
    TaskWaitTimeout,
    wait,
    wait_sync,
)
from walnats_django.tasks.queues import queue_event
from walnats_django.tasks.records import TaskRecord
from walnats_django.testing import InlineBus, InlineTestMixin, inline
from walnats_django.worker.outcomes import GiveUp, HandBack

SUCCESSFUL = TaskResultStatus.SUCCESSFUL
FAILED = TaskResultStatus.FAILED
READY = TaskResultStatus.READY


@pytest.fixture
def bus() -> Iterator[InlineBus]:
    with inline() as active:
        yield active


def error_paths(result: Any) -> list[str]:
    return [error.exception_class_path for error in result.errors]


# -- enqueue runs the task; results are read back ---------------------------------------------------


def test_enqueue_runs_the_task_and_get_result_reads_its_outcome(bus: InlineBus) -> None:
    result = add.enqueue(2, 3)
    assert result.status == READY, "enqueue returns the READY result, as over NATS"
    stored = add.get_result(result.id)
    assert stored.status == SUCCESSFUL
    assert stored.return_value == 5
    assert stored.args == [2, 3]
    assert len(stored.worker_ids) == 1
    assert stored.enqueued_at is not None
    assert stored.started_at is not None
    assert stored.finished_at is not None
    assert stored.enqueued_at <= stored.started_at <= stored.finished_at
    result.refresh()
    assert result.status == SUCCESSFUL
    assert result.return_value == 5
    [message] = bus.emitted(queue_event("default"))
    assert message.uid == result.id, "the queue message carries the result id, as on the wire"
    assert [delivery.attempts for delivery in message.deliveries] == [1]


async def test_aenqueue_runs_async_and_sync_tasks_and_aget_result_reads_them(bus: InlineBus) -> None:
    product = await multiply.aenqueue(2, 4)
    total = await add.aenqueue(1, 1)
    assert (await multiply.aget_result(product.id)).return_value == 8
    await total.arefresh()
    assert total.return_value == 2


def test_wait_returns_at_once_for_a_finished_result(bus: InlineBus) -> None:
    result = add.enqueue(1, 2)
    started = time.monotonic()
    assert wait_sync(result, timeout=30).return_value == 3
    assert result.status == SUCCESSFUL, "refreshed in place"
    assert time.monotonic() - started < 5


async def test_await_wait_returns_at_once_for_a_finished_result(bus: InlineBus) -> None:
    result = await multiply.aenqueue(3, 3)
    assert (await wait(result, timeout=30)).return_value == 9


def test_an_unknown_result_id_does_not_exist(bus: InlineBus) -> None:
    with pytest.raises(TaskResultDoesNotExist):
        add.get_result("no-such-result")


def test_a_new_bus_starts_with_no_results() -> None:
    with inline():
        result = add.enqueue(1, 1)
    with inline(), pytest.raises(TaskResultDoesNotExist):
        add.get_result(result.id)


def test_never_connects_to_nats_from_sync_code(listener: socket.socket) -> None:  # noqa: F811
    with inline():
        result = add.enqueue(1, 2)
        assert add.get_result(result.id).return_value == 3
        assert wait_sync(result).return_value == 3
        always_fails.enqueue("offline")
    with inline(run=False):
        assert add.get_result(add.enqueue(1, 2).id).status == READY
    assert not attempted(listener)


async def test_never_connects_to_nats_from_async_code(listener: socket.socket) -> None:  # noqa: F811
    with inline():
        result = await multiply.aenqueue(2, 2)
        assert (await wait(result)).return_value == 4
        assert (await add.aget_result((await add.aenqueue(1, 2)).id)).return_value == 3
    assert asyncio.get_running_loop() not in loops._slots, "get_connection() was never called"
    assert not attempted(listener)


def test_arguments_that_are_not_json_are_refused_before_anything_is_recorded(bus: InlineBus) -> None:
    with pytest.raises(TaskArgumentsError, match="cannot be stored as JSON"):
        add.enqueue(object(), 1)  # type: ignore[arg-type]
    assert bus.messages == []


# -- running: retries, failures, dead letters, context, timeouts, signals ------------------------------


def test_retries_follow_the_options_without_sleeping(bus: InlineBus) -> None:
    with override_settings(
        TASKS={
            "default": {
                "BACKEND": "walnats_django.tasks.WalnatsBackend",
                "OPTIONS": {"RETRIES": 2, "RETRY_DELAY": 60},
            }
        }
    ):
        started = time.monotonic()
        result = fails_first.enqueue(2)
        assert time.monotonic() - started < 30, "a retry delay of 60 s passed without sleeping"
        stored = fails_first.get_result(result.id)
    assert stored.status == SUCCESSFUL
    assert stored.return_value == 3, "context.attempt counts the attempts"
    assert error_paths(stored) == ["builtins.ValueError", "builtins.ValueError"]
    assert "attempt 1 of fails_first fails on purpose" in stored.errors[0].traceback
    assert len(stored.worker_ids) == 3
    assert bus.dead_letters == []


def test_a_task_out_of_retries_is_failed_with_its_errors_and_a_dead_letter(bus: InlineBus) -> None:
    result = always_fails.enqueue("boom")  # does not raise: the failure is in the result, as over NATS
    stored = always_fails.get_result(result.id)
    assert stored.status == FAILED
    assert error_paths(stored) == ["builtins.RuntimeError"] * 3, "RETRIES 2: three attempts"
    assert all("always fails: boom" in error.traceback for error in stored.errors)
    assert stored.finished_at is not None
    [dead] = bus.dead_letters
    assert dead.event == "tasks.default"
    assert dead.actor == "tasks-default"
    assert isinstance(dead.payload, TaskRecord)
    assert dead.payload.id == result.id
    assert dead.error_text == "RuntimeError: always fails: boom"
    assert dead.attempts == 3


def test_takes_context_sees_the_attempt_and_the_result_id(bus: InlineBus) -> None:
    result = attempt_and_time.enqueue("ctx")
    value = attempt_and_time.get_result(result.id).return_value
    assert value["attempt"] == 1
    assert value["id"] == result.id
    assert value["note"] == "ctx"


def test_run_after_holds_the_task_until_run_delayed(bus: InlineBus) -> None:
    later = timezone.now() + datetime.timedelta(hours=1)
    result = attempt_and_time.using(run_after=later).enqueue("later")
    assert attempt_and_time.get_result(result.id).status == READY
    assert [message.uid for message in bus.held] == [result.id]
    with pytest.raises(TaskWaitTimeout, match=r"bus\.run_delayed"):
        wait_sync(result, timeout=0.05)
    assert bus.run_delayed() == 1
    stored = attempt_and_time.get_result(result.id)
    assert stored.status == SUCCESSFUL
    assert stored.return_value["attempt"] == 1, "the run_after wait used no attempt"
    assert bus.held == []


async def test_wait_wakes_when_a_held_task_runs(bus: InlineBus) -> None:
    result = await add.using(run_after=timezone.now() + datetime.timedelta(hours=1)).aenqueue(4, 4)
    waiting = asyncio.create_task(wait(result, timeout=30))
    await asyncio.sleep(0)  # let the wait register before the task runs
    assert not waiting.done()
    assert await bus.arun_delayed() == 1
    assert (await waiting).return_value == 8


def test_a_return_value_that_is_not_json_fails_the_task_at_once(bus: InlineBus) -> None:
    result = returns_object.enqueue()
    stored = returns_object.get_result(result.id)
    assert stored.status == FAILED
    assert error_paths(stored) == ["walnats_django.tasks.errors.ReturnValueNotStored"], "never retried"
    assert "cannot be stored as JSON" in stored.errors[0].traceback
    [dead] = bus.dead_letters
    assert isinstance(dead.error, ReturnValueNotStored)


def test_a_return_value_over_the_max_payload_fails_the_task() -> None:
    with inline(max_payload=16 * 1024) as bus:
        result = repeat.enqueue("x", 20_000)
        stored = repeat.get_result(result.id)
    assert stored.status == FAILED
    assert error_paths(stored) == ["walnats_django.tasks.errors.ReturnValueNotStored"]
    assert "max_payload" in stored.errors[0].traceback
    assert len(bus.dead_letters) == 1


def test_arguments_over_half_the_max_payload_are_refused_at_enqueue() -> None:
    with inline(max_payload=16 * 1024) as bus:
        with pytest.raises(PayloadTooLarge, match="half the server's max_payload"):
            repeat.enqueue("x" * 10_000, 1)
        assert bus.enqueued() == []


def test_an_async_task_past_its_job_timeout_fails() -> None:
    with inline():
        result = sleeps.enqueue(5.0)  # "strict": JOB_TIMEOUT 0.5, no retries
        stored = sleeps.get_result(result.id)
    assert stored.status == FAILED
    assert error_paths(stored) == ["walnats_django.tasks.errors.TaskTimeout"]


def test_a_sync_task_past_its_job_timeout_fails_once_it_returns() -> None:
    with inline() as bus:
        result = sleeps_in_thread.enqueue(0.6)
        stored = sleeps_in_thread.get_result(result.id)
    assert stored.status == FAILED
    assert isinstance(bus.dead_letters[0].error, TaskTimeout)


def test_signals_are_sent_for_the_run_and_the_enqueue(bus: InlineBus) -> None:
    seen: list[tuple[str, str, str]] = []

    def on(name: str) -> Any:
        def receiver(sender: type, task_result: Any, **kwargs: Any) -> None:
            seen.append((name, task_result.id, str(task_result.status)))

        return receiver

    receivers = {
        signal: on(name)
        for signal, name in [
            (task_enqueued, "enqueued"),
            (task_started, "started"),
            (task_finished, "finished"),
        ]
    }
    for signal, receiver in receivers.items():
        signal.connect(receiver)
    try:
        result = add.enqueue(1, 1)
    finally:
        for signal, receiver in receivers.items():
            signal.disconnect(receiver)
    # The task runs inside enqueue(), so it finished before task_enqueued (sent after the "PubAck").
    assert seen == [
        ("started", result.id, "RUNNING"),
        ("finished", result.id, "SUCCESSFUL"),
        ("enqueued", result.id, "READY"),
    ]


def test_a_task_that_enqueues_another_runs_both(bus: InlineBus) -> None:
    outer = add_later.enqueue(20, 22)
    inner_id = add_later.get_result(outer.id).return_value
    assert add.get_result(inner_id).return_value == 42
    assert [result.task.name for result in bus.enqueued()] == ["add_later", "add"]


# -- the test's database: sync tasks run in the caller's thread ----------------------------------------


@pytest.mark.django_db
def test_a_sync_task_runs_in_the_callers_thread_inside_the_tests_transaction(bus: InlineBus) -> None:
    Group.objects.create(name="made-by-the-test")
    result = add_group.enqueue("made-by-the-task")
    value = add_group.get_result(result.id).return_value
    assert value["thread"] == threading.get_ident()
    assert value["groups"] == ["made-by-the-task", "made-by-the-test"], "the task saw the test's row"
    assert Group.objects.filter(name="made-by-the-task").exists(), "and the test sees the task's"


@pytest.mark.django_db
def test_a_failed_attempts_writes_roll_back_and_the_transaction_goes_on(bus: InlineBus) -> None:
    with transaction.atomic():
        result = add_group_then_fail.enqueue("doomed")
        assert add_group_then_fail.get_result(result.id).status == FAILED
        assert not Group.objects.filter(name="doomed").exists(), "each attempt rolled back"
        Group.objects.create(name="still-usable")
    assert Group.objects.filter(name="still-usable").exists()


class InlineTasksTestCase(InlineTestMixin, TestCase):
    def test_a_task_writes_in_the_test_case_transaction(self) -> None:
        result = add_group.enqueue("from-a-testcase")
        assert add_group.get_result(result.id).status == SUCCESSFUL
        assert Group.objects.filter(name="from-a-testcase").exists()
        self.bus.assert_enqueued(add_group, times=1, where={"name": "from-a-testcase"})


# -- run=False: recorded, not run ----------------------------------------------------------------------


def test_run_false_records_the_enqueue_and_runs_nothing() -> None:
    with inline(run=False) as bus:
        result = always_fails.enqueue("never-run")
        assert always_fails.get_result(result.id).status == READY
        [enqueued] = bus.assert_enqueued(always_fails, times=1, where={"note": "never-run"})
        assert enqueued.status == READY
        assert enqueued.id == result.id
        assert bus.dead_letters == []
        with pytest.raises(TaskWaitTimeout, match="run=False"):
            wait_sync(result, timeout=0.01)


# -- the bus's assertions --------------------------------------------------------------------------------


def test_enqueued_lists_each_tasks_results_in_order(bus: InlineBus) -> None:
    first = add.enqueue(1, 2)
    notify.enqueue(7, "hi")
    second = add.enqueue(3, 4)
    assert [result.id for result in bus.enqueued(add)] == [first.id, second.id]
    assert [result.return_value for result in bus.enqueued(add)] == [3, 7], "as stored now"
    assert [result.task.name for result in bus.enqueued()] == ["add", "notify", "add"]
    assert [result.id for result in bus.enqueued("tests.testapp.tasks.add")] == [first.id, second.id]


def test_assert_enqueued_matches_arguments_by_parameter_name(bus: InlineBus) -> None:
    notify.enqueue(7, "hello")
    notify.enqueue(8, subject="urgent one", urgent=True)
    [result] = bus.assert_enqueued(notify, times=1, where={"user_id": 7, "subject": "hello", "urgent": False})
    assert result.return_value == "7: hello"
    bus.assert_enqueued(notify, where={"urgent": True})
    bus.assert_enqueued(notify, times=2)
    bus.assert_enqueued(notify, times=1, where=lambda arguments: arguments["user_id"] > 7)
    bus.assert_not_enqueued(notify, where={"user_id": 9})
    bus.assert_not_enqueued(add)


def test_a_failed_assert_enqueued_lists_what_was_enqueued(bus: InlineBus) -> None:
    with pytest.raises(AssertionError, match="nothing was enqueued at all"):
        bus.assert_enqueued(notify)
    first = notify.enqueue(7, "hello")
    with pytest.raises(AssertionError) as failed:
        bus.assert_enqueued(notify, times=2, where={"user_id": 7})
    message = str(failed.value)
    assert "expected task tests.testapp.inline_tasks.notify enqueued 2 times where user_id=7" in message
    assert f"it was enqueued once (1 matching):\n  1. notify(7, 'hello') SUCCESSFUL id={first.id}" in message
    with pytest.raises(
        AssertionError, match=r"it was not enqueued; the bus saw tests\.testapp\.inline_tasks\.notify once"
    ):
        bus.assert_enqueued(add)
    with pytest.raises(AssertionError, match=r"expected task \S+ enqueued never"):
        bus.assert_not_enqueued(notify)


def test_assert_enqueued_refuses_what_is_not_a_task(bus: InlineBus) -> None:
    with pytest.raises(TypeError, match="decorated with @task"):
        bus.assert_enqueued(add.func)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="whole number"):
        bus.assert_enqueued(add, times=-1)
    with pytest.raises(TypeError, match="where= takes"):
        bus.assert_enqueued(add, where=3)  # type: ignore[arg-type]


# -- any handler may settle its message itself (worker/outcomes.py), as in a worker ------------------------

SETTLED = Registry()
SETTLE = SETTLED.add(Event("inline.settle", str))
handled: list[str] = []


@SETTLED.actor("inline-settler", SETTLE)
def settle(text: str) -> None:
    handled.append(text)
    if text == "give up":
        raise GiveUp(ValueError("nothing to do with this one"))
    if text == "hand back" and handled.count(text) < 3:
        raise HandBack(60.0)


def test_a_handler_that_hands_back_runs_again_without_waiting_and_without_a_failure() -> None:
    handled.clear()
    with inline(registry=SETTLED) as bus:
        started = time.monotonic()
        walnats_django.emit_sync(SETTLE, "hand back")
        assert time.monotonic() - started < 30, "the 60 s hand-back delays passed without sleeping"
    assert handled == ["hand back"] * 3
    [delivery] = bus.emitted(SETTLE)[0].deliveries
    assert delivery.attempts == 3
    assert delivery.errors == [], "a hand-back is not a failure"
    assert bus.dead_letters == []


def test_a_handler_that_gives_up_leaves_a_dead_letter_and_no_error_to_raise() -> None:
    handled.clear()
    with inline(registry=SETTLED) as bus:
        walnats_django.emit_sync(SETTLE, "give up")  # raise_errors: nothing raised, the handler settled it
    assert handled == ["give up"], "given up at once: no retry"
    [dead] = bus.dead_letters
    assert dead.error_text == "ValueError: nothing to do with this one"
    assert dead.attempts == 1


# -- without Django's Tasks framework --------------------------------------------------------------------


def test_without_django_tasks_inline_and_the_live_workers_work_as_before() -> None:
    code = textwrap.dedent(
        """
        import sys
        sys.modules["django_tasks"] = None  # as if not installed: importing it raises ModuleNotFoundError
        from django.conf import settings
        settings.configure(INSTALLED_APPS=["walnats_django"], DATABASES={})
        import django
        django.setup()
        import walnats_django
        from walnats_django import Event, Registry
        from walnats_django.testing import inline
        from walnats_django.testing.task_queues import queue_actors
        registry = Registry()
        NOTE = registry.add(Event("plain.note", str))
        seen = []
        registry.actor("plain-noter", NOTE)(seen.append)
        with inline(registry=registry) as bus:
            walnats_django.emit_sync(NOTE, "hi")
        print(seen, queue_actors(), "walnats_django.tasks" in sys.modules)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['hi'] {} False"


# -- live: the same calls over a real server and worker -------------------------------------------------


@pytest.fixture(scope="module")
def queue_worker(start_worker: StartWorker) -> Iterator[WorkerProcess]:
    worker = start_worker("--queue", "default")
    yield worker
    worker.stop()


@pytest.mark.parametrize("mode", ["in-process", "live"])
def test_one_test_body_in_process_and_live(mode: str, request: pytest.FixtureRequest) -> None:
    if mode == "live":
        request.getfixturevalue("queue_worker")
    with inline(live=mode == "live") as bus:
        notify.enqueue(5, "both ways")
        [result] = bus.assert_enqueued(notify, times=1, where={"subject": "both ways"})
        assert wait_sync(result, timeout=10).return_value == "5: both ways"
        assert notify.get_result(result.id).status == SUCCESSFUL
