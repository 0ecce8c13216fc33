"""The outbox table: one row per event written in the caller's transaction, relayed after commit."""

from __future__ import annotations

import datetime

from django.db import models


class Status(models.TextChoices):
    """Where a row is: waiting for the relay, in the stream, or given up on (see `last_error`)."""

    PENDING = "pending", "pending"
    SENT = "sent", "sent"
    FAILED = "failed", "failed"


class OutboxQuerySet(models.QuerySet["OutboxMessage"]):
    """The queries the relay and the admin make."""

    def pending(self) -> OutboxQuerySet:
        """Rows still to publish, oldest first."""
        return self.filter(status=Status.PENDING).order_by("id")

    def sent_before(self, cutoff: datetime.datetime) -> OutboxQuerySet:
        """Sent rows older than `cutoff`: safe to purge."""
        return self.filter(status=Status.SENT, sent_at__lt=cutoff)


class OutboxMessage(models.Model):
    """An event to publish: its encoded payload and headers, made at the call site."""

    uid = models.CharField(max_length=255, db_index=True, help_text="Sent as Nats-Msg-Id.")
    event = models.CharField(max_length=255, help_text="The event's name, which is also its subject.")
    stream = models.CharField(max_length=255)
    payload = models.BinaryField()
    headers = models.JSONField(default=dict)
    status = models.CharField(max_length=7, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")

    objects = OutboxQuerySet.as_manager()

    class Meta:
        db_table = "walnats_outbox_message"
        ordering = ["id"]
        verbose_name = "outbox message"
        verbose_name_plural = "outbox messages"
        indexes = [
            models.Index(fields=["status", "id"], name="walnats_outbox_status_id"),
            models.Index(fields=["status", "sent_at"], name="walnats_outbox_status_sent"),
        ]

    def __str__(self) -> str:
        return f"{self.event} {self.uid} ({self.status})"
