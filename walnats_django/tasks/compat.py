"""Django's Tasks API from `django.tasks` (Django 6+) or the `django-tasks` backport (Django 5.2).

The one place that knows both spellings: Django 6 renamed `InvalidTaskError` to `InvalidTask`
and moved `normalize_json` to `django.utils.json`. Type checking reads the backport.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

BUILTIN = importlib.util.find_spec("django.tasks") is not None
"""Whether Django itself ships the Tasks framework (Django 6+); its checks then run every backend's."""

if TYPE_CHECKING or not BUILTIN:
    from django_tasks import TaskContext, TaskResult, TaskResultStatus, task_backends
    from django_tasks.backends.base import BaseTaskBackend
    from django_tasks.base import DEFAULT_TASK_PRIORITY, TASK_REFRESH_ATTRS, Task, TaskError
    from django_tasks.exceptions import InvalidTaskError as InvalidTask
    from django_tasks.exceptions import TaskResultDoesNotExist
    from django_tasks.signals import task_enqueued, task_finished, task_started
    from django_tasks.utils import normalize_json
else:
    from django.tasks import TaskContext, TaskResult, TaskResultStatus, task_backends
    from django.tasks.backends.base import BaseTaskBackend
    from django.tasks.base import DEFAULT_TASK_PRIORITY, TASK_REFRESH_ATTRS, Task, TaskError
    from django.tasks.exceptions import InvalidTask, TaskResultDoesNotExist
    from django.tasks.signals import task_enqueued, task_finished, task_started
    from django.utils.json import normalize_json

TASKS_APP = "django_tasks"
"""The backport's app label: its system checks run every backend's `check()` when it is installed."""

__all__ = [
    "BUILTIN",
    "DEFAULT_TASK_PRIORITY",
    "TASKS_APP",
    "TASK_REFRESH_ATTRS",
    "BaseTaskBackend",
    "InvalidTask",
    "Task",
    "TaskContext",
    "TaskError",
    "TaskResult",
    "TaskResultDoesNotExist",
    "TaskResultStatus",
    "normalize_json",
    "task_backends",
    "task_enqueued",
    "task_finished",
    "task_started",
]
