"""System checks of a WalnatsBackend (E030-E034), reported through the backend's `check()`."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from django.core.checks import CheckMessage, Error

from ..registry import registry
from .compat import task_backends
from .queues import queue_event, queue_name_problem, walnats_aliases

if TYPE_CHECKING:
    from .backend import WalnatsBackend

_BUCKET_SAFE = re.compile(r"[A-Za-z0-9_-]+")


def backend_problems(backend: WalnatsBackend) -> list[CheckMessage]:
    """Everything wrong with one WalnatsBackend entry of TASKS."""
    alias = backend.alias
    where = f"TASKS[{alias!r}]"
    found: list[CheckMessage] = [
        Error(problem, hint="See walnats_django.tasks.options.DEFAULTS.", obj=where, id="walnats_django.E030")
        for problem in backend.option_problems
    ]
    if not backend.queue_names:
        found.append(
            Error(
                f"{where}['QUEUES'] must be a non-empty list of queue names.",
                hint="Leave QUEUES out for ['default'].",
                obj=where,
                id="walnats_django.E031",
            )
        )
    for queue in backend.queue_names:
        problem = queue_name_problem(queue)
        if problem is not None:
            found.append(
                Error(
                    f"{where}['QUEUES']: {problem}.",
                    hint="Rename the queue.",
                    obj=where,
                    id="walnats_django.E031",
                )
            )
    if not _BUCKET_SAFE.fullmatch(alias):
        found.append(
            Error(
                f"Task backend alias {alias!r} must be letters, digits, '-' or '_': it names the results "
                f"bucket 'tasks-<alias>'.",
                hint="Rename the alias in TASKS.",
                obj=where,
                id="walnats_django.E032",
            )
        )
    found += _shared_queues(backend)
    found += _queues_clashing_with_events(backend)
    return found


def _shared_queues(backend: WalnatsBackend) -> list[CheckMessage]:
    """A queue is one stream: two WalnatsBackend aliases naming it would run each other's tasks."""
    found: list[CheckMessage] = []
    for other in walnats_aliases():
        if other == backend.alias:
            continue
        shared = set(backend.queue_names) & set(getattr(task_backends[other], "queue_names", ()))
        for queue in sorted(shared):
            found.append(
                Error(
                    f"Task queue {queue!r} is in the QUEUES of both TASKS[{backend.alias!r}] and "
                    f"TASKS[{other!r}]; a queue is one stream and belongs to one WalnatsBackend.",
                    hint="Give each backend queues of its own.",
                    obj=f"TASKS[{backend.alias!r}]",
                    id="walnats_django.E033",
                )
            )
    return found


def _queues_clashing_with_events(backend: WalnatsBackend) -> list[CheckMessage]:
    found: list[CheckMessage] = []
    for queue in backend.queue_names:
        if queue_name_problem(queue) is not None:
            continue
        event = queue_event(queue)
        for declared in registry.events:
            if declared.subject == event.subject or declared.stream_name == event.stream_name:
                found.append(
                    Error(
                        f"{declared} uses the subject or stream of task queue {queue!r} "
                        f"({event.subject!r}, stream {event.stream_name!r}).",
                        hint="Rename the event or the queue.",
                        obj=declared,
                        id="walnats_django.E034",
                    )
                )
    return found
