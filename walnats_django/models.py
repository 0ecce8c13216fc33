"""Table-less models so the admin lists its walnats pages ("Registered events", "Task queues",
"Task results") under the walnats app.

`managed = False`: neither `migrate` nor the test database set-up creates a table, and
nothing ever queries one; the admin pages (`admin.py`, `tasks/admin_*.py`) read the registry and NATS.
"""

from __future__ import annotations

from django.db import models


class RegisteredEvent(models.Model):
    """Placeholder for the admin's "Registered events" page; it has no rows and no table."""

    class Meta:
        managed = False
        default_permissions = ("view",)
        verbose_name = "registered event"
        verbose_name_plural = "registered events"

    def __str__(self) -> str:
        return "registered event"


class TaskQueue(models.Model):
    """Placeholder for the admin's "Task queues" page (walnats_django.tasks); no rows, no table.

    No permissions either: the page's own staff check decides who sees it.
    """

    class Meta:
        managed = False
        default_permissions = ()
        verbose_name = "task queue"
        verbose_name_plural = "task queues"

    def __str__(self) -> str:
        return "task queue"


class TaskResult(models.Model):
    """Placeholder for the admin's "Task results" page (walnats_django.tasks); no rows, no table."""

    class Meta:
        managed = False
        default_permissions = ()
        verbose_name = "task result"
        verbose_name_plural = "task results"

    def __str__(self) -> str:
        return "task result"
