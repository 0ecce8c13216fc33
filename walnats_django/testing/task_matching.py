"""The bus's view of enqueued tasks: their results, `where=` on their arguments, and the wording
of failed `assert_enqueued` calls."""

from __future__ import annotations

import collections
import inspect
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..tasks.compat import Task, TaskResult, task_backends
from ..tasks.records import TaskRecord
from ..tasks.resolve import resolve_task
from .matching import times_text
from .records import Emitted

TaskChoice = Task[Any, Any] | str
"""A task, or its dotted path (`myapp.tasks.send_email`)."""


def task_path(task: TaskChoice) -> str:
    if isinstance(task, str):
        return task
    if isinstance(task, Task):
        return task.module_path
    raise TypeError(
        f"expected a Task (a function decorated with @task) or its dotted path, got {task!r:.80}."
    )


def enqueued_records(messages: Iterable[Emitted]) -> list[TaskRecord]:
    """The tasks among `messages` that were stored (enqueued), in order."""
    return [m.payload for m in messages if m.stored and isinstance(m.payload, TaskRecord)]


def results(
    records: Iterable[TaskRecord], current: Callable[[TaskRecord], TaskRecord]
) -> list[TaskResult[Any]]:
    """Each record's `TaskResult`, as `current` has it now."""
    found = []
    for record in records:
        latest = current(record)
        found.append(latest.to_result(resolve_task(latest, task_backends[latest.backend])))
    return found


def arguments(result: TaskResult[Any]) -> dict[str, Any]:
    """The task's arguments by parameter name, positional ones too, defaults filled in (`where=`)."""
    signature = inspect.signature(result.task.func)
    if result.task.takes_context:
        signature = signature.replace(parameters=list(signature.parameters.values())[1:])
    try:
        bound = signature.bind_partial(*result.args, **result.kwargs)
    except TypeError:  # the run fails with this TypeError; match what can be matched
        return dict(result.kwargs)
    bound.apply_defaults()
    return dict(bound.arguments)


def describe(result: TaskResult[Any]) -> str:
    call = ", ".join([*map(repr, result.args), *(f"{k}={v!r}" for k, v in result.kwargs.items())])
    return f"{result.task.name}({call:.120}) {result.status} id={result.id}"


def what_was_enqueued(
    path: str, found: Sequence[TaskResult[Any]], matching: int, everything: Sequence[TaskRecord]
) -> str:
    """The second half of an assertion message: the task's runs, or what else was enqueued."""
    if found:
        listed = "\n".join(f"  {i}. {describe(result)}" for i, result in enumerate(found, 1))
        return f"it was enqueued {times_text(len(found))} ({matching} matching):\n{listed}"
    counts = collections.Counter(record.task for record in everything)
    if not counts:
        return "nothing was enqueued at all."
    others = ", ".join(f"{other} {times_text(n)}" for other, n in counts.items())
    return f"it was not enqueued; the bus saw {others}."
