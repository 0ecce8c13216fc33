"""Tasks of tests/test_inline_tasks.py: database work in the test's transaction, keyword arguments,
large return values, and one that enqueues another."""

import threading
from typing import Any

from django.contrib.auth.models import Group
from django_tasks import task

from .tasks import add


@task
def add_group(name: str) -> dict[str, Any]:
    """Adds a group; returns every group's name and the thread it ran in."""
    Group.objects.create(name=name)
    return {"groups": sorted(Group.objects.values_list("name", flat=True)), "thread": threading.get_ident()}


@task
def add_group_then_fail(name: str) -> None:
    Group.objects.create(name=name)
    raise ValueError(f"{name} fails after writing")


@task
def notify(user_id: int, subject: str, *, urgent: bool = False) -> str:
    return f"{user_id}: {subject}{' (urgent)' if urgent else ''}"


@task
def repeat(text: str, times: int) -> str:
    return text * times


@task
def add_later(a: int, b: int) -> str:
    """Enqueues `add` (a task that enqueues another); returns the id of its result."""
    return add.enqueue(a, b).id
