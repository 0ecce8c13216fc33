"""The table-less "Dead letters" placeholder and the permissions of the admin's actions: no table."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("walnats_django", "0002_task_pages"),
    ]

    operations = [
        migrations.CreateModel(
            name="DeadLetter",
            fields=[
                (
                    "id",
                    models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID"),
                ),
            ],
            options={
                "verbose_name": "dead letter",
                "verbose_name_plural": "dead letters",
                "permissions": [
                    ("replay_deadletter", "Can replay dead letters"),
                    ("purge_deadletter", "Can purge dead letters"),
                ],
                "managed": False,
                "default_permissions": ("view",),
            },
        ),
        migrations.AlterModelOptions(
            name="registeredevent",
            options={
                "default_permissions": ("view",),
                "managed": False,
                "permissions": [
                    ("send_test_message", "Can send a test message to an event"),
                    ("delete_orphan_consumer", "Can delete orphan consumers"),
                ],
                "verbose_name": "registered event",
                "verbose_name_plural": "registered events",
            },
        ),
    ]
