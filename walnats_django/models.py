"""A table-less model so the admin lists "Registered events" under the walnats app.

`managed = False`: neither `migrate` nor the test database set-up creates a table, and
nothing ever queries one; the admin page (see `admin.py`) reads the registry and NATS.
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
