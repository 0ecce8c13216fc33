"""Tasks of tests/test_tasks*.py (Django's Tasks API); side effects go to files the tests read."""

import asyncio
import os
import time
from typing import Any

from django.dispatch import receiver
from django_tasks import TaskContext, task
from django_tasks.signals import task_finished, task_started

from .records import record as _record


@task
def add(a: int, b: int) -> int:
    return a + b


@task
async def multiply(a: float, b: float) -> float:
    await asyncio.sleep(0)
    return a * b


@task(takes_context=True)
def attempt_and_time(context: TaskContext, note: str) -> dict[str, Any]:
    """What the task saw: its attempt and when it ran (epoch seconds)."""
    return {"note": note, "attempt": context.attempt, "ran_at": time.time(), "id": context.task_result.id}


@task(takes_context=True)
def fails_first(context: TaskContext, failures: int) -> int:
    """Raises on the first `failures` attempts, then returns the attempt that succeeded."""
    if context.attempt <= failures:
        raise ValueError(f"attempt {context.attempt} of fails_first fails on purpose")
    return context.attempt


@task
def always_fails(note: str) -> None:
    raise RuntimeError(f"always fails: {note}")


@task
def returns_object() -> object:
    return object()


@task(takes_context=True)
def dies_first(context: TaskContext, key: str) -> str:
    """The first attempt says where it runs and blocks (for a kill -9); later ones return."""
    if context.attempt == 1:
        _record("dies-first", f"{key} {os.getpid()}")
        time.sleep(60)
    return f"done on attempt {context.attempt}"


@task(backend="strict", queue_name="strict")
async def sleeps(seconds: float) -> float:
    await asyncio.sleep(seconds)
    return seconds


@task(backend="strict", queue_name="strict")
def sleeps_in_thread(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def not_a_task() -> str:
    """A plain function: a message naming it must be refused, never called."""
    _record("not-a-task", "called")
    return "must not run"


@receiver(task_started)
def _started(sender: type, task_result: Any, **kwargs: Any) -> None:
    _record("task-signals", f"started {task_result.id} {task_result.status}")


@receiver(task_finished)
def _finished(sender: type, task_result: Any, **kwargs: Any) -> None:
    _record("task-signals", f"finished {task_result.id} {task_result.status}")
