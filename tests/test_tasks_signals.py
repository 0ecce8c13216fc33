"""The Tasks signals sent from the event loop: the framework's logging receivers run on the loop,
any other sync receiver in a thread (it may use the database), async receivers on the loop.

Each test sends a fresh `Signal` with the framework's logging receiver connected, as the
framework connects it to its own signals (the test app adds receivers to those).
"""

from __future__ import annotations

import logging
import threading
from types import SimpleNamespace
from typing import Any

import pytest
from django.dispatch import Signal
from django_tasks import TaskResultStatus
from django_tasks.signals import log_task_enqueued, log_task_finished, log_task_started

from walnats_django.tasks import WalnatsBackend
from walnats_django.tasks.signals import LOGGING_RECEIVERS, asend, asend_robust


def a_result(status: TaskResultStatus) -> Any:
    """What the framework's logging receivers read of a TaskResult."""
    task = SimpleNamespace(module_path="tests.testapp.tasks.add")
    return SimpleNamespace(id="r1", task=task, status=status, backend="default")


def signal_with(*receivers: Any) -> Signal:
    signal = Signal()
    for receiver in receivers:
        signal.connect(receiver, weak=False)
    return signal


def framework_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "django_tasks"]


@pytest.fixture(autouse=True)
def _log_everything(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="django_tasks")


def test_the_framework_s_own_receivers_are_known() -> None:
    assert {log_task_enqueued, log_task_started, log_task_finished} == LOGGING_RECEIVERS


async def test_logging_receivers_alone_run_on_the_loop(caplog: pytest.LogCaptureFixture) -> None:
    await asend(signal_with(log_task_started), WalnatsBackend, task_result=a_result(TaskResultStatus.RUNNING))
    [record] = framework_lines(caplog)
    assert record.getMessage() == "Task id=r1 path=tests.testapp.tasks.add state=RUNNING"
    assert record.thread == threading.get_ident()


async def test_another_sync_receiver_runs_all_sync_receivers_in_a_thread(
    caplog: pytest.LogCaptureFixture,
) -> None:
    threads: list[int] = []
    signal = signal_with(log_task_enqueued, lambda **kwargs: threads.append(threading.get_ident()))
    await asend(signal, WalnatsBackend, task_result=a_result(TaskResultStatus.READY))
    [record] = framework_lines(caplog)
    assert len(threads) == 1
    assert threads[0] != threading.get_ident()
    assert record.thread == threads[0]


async def test_async_receivers_are_awaited_on_the_loop(caplog: pytest.LogCaptureFixture) -> None:
    threads: list[int] = []

    async def on_started(**kwargs: Any) -> None:
        threads.append(threading.get_ident())

    signal = signal_with(log_task_started, on_started)
    await asend(signal, WalnatsBackend, task_result=a_result(TaskResultStatus.RUNNING))
    assert threads == [threading.get_ident()]
    assert [record.thread for record in framework_lines(caplog)] == [threading.get_ident()]


async def test_a_receiver_s_exception_propagates_from_asend() -> None:
    async def refuses(**kwargs: Any) -> None:
        raise RuntimeError("no")

    with pytest.raises(RuntimeError, match="no"):
        await asend(signal_with(refuses), WalnatsBackend, task_result=a_result(TaskResultStatus.RUNNING))


async def test_a_failure_is_logged_in_a_thread_with_the_error_for_logger_exception(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """At ERROR a handler may send mail (Django's mail_admins): never on the worker's loop."""
    error = ValueError("the task's failure")
    signal = signal_with(log_task_finished)
    await asend_robust(signal, WalnatsBackend, error, task_result=a_result(TaskResultStatus.FAILED))
    [record] = framework_lines(caplog)
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None
    assert record.exc_info[1] is error
    assert record.thread != threading.get_ident()


async def test_a_success_is_logged_on_the_loop(caplog: pytest.LogCaptureFixture) -> None:
    signal = signal_with(log_task_finished)
    await asend_robust(signal, WalnatsBackend, None, task_result=a_result(TaskResultStatus.SUCCESSFUL))
    [record] = framework_lines(caplog)
    assert record.levelno == logging.INFO
    assert record.thread == threading.get_ident()


async def test_asend_robust_logs_a_raising_receiver_and_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    called: list[str] = []

    def raises(**kwargs: Any) -> None:
        raise RuntimeError("receiver broke")

    signal = signal_with(raises, lambda **kwargs: called.append("after"))
    await asend_robust(signal, WalnatsBackend, None, task_result=a_result(TaskResultStatus.SUCCESSFUL))
    assert called == ["after"]
    [logged] = [record for record in caplog.records if record.name == "walnats_django.tasks"]
    assert "receiver broke" in logged.getMessage()


async def test_asend_robust_runs_async_receivers_too() -> None:
    seen: list[str] = []

    async def on_finished(task_result: Any, **kwargs: Any) -> None:
        seen.append(task_result.id)

    signal = signal_with(log_task_finished, on_finished)
    await asend_robust(signal, WalnatsBackend, None, task_result=a_result(TaskResultStatus.SUCCESSFUL))
    assert seen == ["r1"]
