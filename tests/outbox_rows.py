"""Outbox rows for the relay tests (SQLite and PostgreSQL): written in one transaction, counted sent."""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.db import transaction

from tests.testapp.outbox_events import OB_BULK
from walnats_django import outbox
from walnats_django.outbox.models import OutboxMessage, Status


@sync_to_async
def write_rows(database: str, count: int, prefix: str) -> list[str]:
    """`count` OB_BULK rows in one committed transaction on `database`; their uids in order."""
    with transaction.atomic(using=database):
        return [outbox.emit(OB_BULK, f"{prefix} {number}", using=database) for number in range(count)]


@sync_to_async
def sent_rows(database: str) -> int:
    return OutboxMessage.objects.using(database).filter(status=Status.SENT).count()
