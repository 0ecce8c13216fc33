"""What the admin's actions leave behind: a LogEntry (the admin's "Recent actions" and history) and a
line on logger `walnats_django.admin`."""

from __future__ import annotations

import logging

from django.contrib.admin.models import CHANGE, DELETION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.http import HttpRequest

logger = logging.getLogger("walnats_django.admin")

__all__ = ["CHANGE", "DELETION", "record"]


def record(
    request: HttpRequest, model: type[models.Model], object_id: str, label: str, flag: int, message: str
) -> None:
    """Log an action of `request.user` on the table-less `model`; `label` names the object."""
    assert request.user.pk is not None, "admin actions need a logged-in user"
    LogEntry.objects.create(
        user_id=request.user.pk,
        content_type_id=ContentType.objects.get_for_model(model, for_concrete_model=False).pk,
        object_id=object_id,
        object_repr=label[:200],
        action_flag=flag,
        change_message=message,
    )
    logger.info("Admin action user=%s object=%r: %s", request.user.get_username(), label, message)
