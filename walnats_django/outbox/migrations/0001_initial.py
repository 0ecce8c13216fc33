"""The outbox table, with indexes for the relay (pending rows in order) and the purge (old sent rows)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="OutboxMessage",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("uid", models.CharField(db_index=True, help_text="Sent as Nats-Msg-Id.", max_length=255)),
                (
                    "event",
                    models.CharField(
                        help_text="The event's name, which is also its subject.", max_length=255
                    ),
                ),
                ("stream", models.CharField(max_length=255)),
                ("payload", models.BinaryField()),
                ("headers", models.JSONField(default=dict)),
                (
                    "status",
                    models.CharField(
                        choices=[("pending", "pending"), ("sent", "sent"), ("failed", "failed")],
                        default="pending",
                        max_length=7,
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("sent_at", models.DateTimeField(blank=True, null=True)),
                ("attempts", models.PositiveIntegerField(default=0)),
                ("last_error", models.TextField(blank=True, default="")),
            ],
            options={
                "verbose_name": "outbox message",
                "verbose_name_plural": "outbox messages",
                "db_table": "walnats_outbox_message",
                "ordering": ["id"],
                "indexes": [
                    models.Index(fields=["status", "id"], name="walnats_outbox_status_id"),
                    models.Index(fields=["status", "sent_at"], name="walnats_outbox_status_sent"),
                ],
            },
        ),
    ]
