"""Table-less models so the admin lists its walnats pages ("Registered events", "Dead letters",
"Task queues", "Task results") under the walnats app, and so their actions have permissions.

`managed = False`: neither `migrate` nor the test database set-up creates a table, and
nothing ever queries one; the admin pages (`admin.py`, `tasks/admin_*.py`) read the registry and NATS.
"""

from __future__ import annotations

from django.db import models


class RegisteredEvent(models.Model):
    """Placeholder for the admin's "Registered events" pages; it has no rows and no table.

    Every active staff member may view them; sending test messages and deleting orphan
    consumers each need their own permission.
    """

    class Meta:
        managed = False
        default_permissions = ("view",)
        permissions = [
            ("send_test_message", "Can send a test message to an event"),
            ("delete_orphan_consumer", "Can delete orphan consumers"),
        ]
        verbose_name = "registered event"
        verbose_name_plural = "registered events"

    def __str__(self) -> str:
        return "registered event"


class DeadLetter(models.Model):
    """Placeholder for the admin's "Dead letters" page (walnats_django.deadletters); no rows, no table.

    Payloads may hold personal data, so viewing needs `view_deadletter`; replaying and purging
    need their own permissions. `pk` is the letter's sequence in the dead-letter stream.
    """

    class Meta:
        managed = False
        default_permissions = ("view",)
        permissions = [
            ("replay_deadletter", "Can replay dead letters"),
            ("purge_deadletter", "Can purge dead letters"),
        ]
        verbose_name = "dead letter"
        verbose_name_plural = "dead letters"

    def __str__(self) -> str:
        return f"dead letter {self.pk}" if self.pk else "dead letter"


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
