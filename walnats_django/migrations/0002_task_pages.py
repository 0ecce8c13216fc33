"""The table-less "Task queues" and "Task results" admin placeholders: this migration creates nothing."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("walnats_django", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="TaskQueue",
            fields=[
                (
                    "id",
                    models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID"),
                ),
            ],
            options={
                "verbose_name": "task queue",
                "verbose_name_plural": "task queues",
                "managed": False,
                "default_permissions": (),
            },
        ),
        migrations.CreateModel(
            name="TaskResult",
            fields=[
                (
                    "id",
                    models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID"),
                ),
            ],
            options={
                "verbose_name": "task result",
                "verbose_name_plural": "task results",
                "managed": False,
                "default_permissions": (),
            },
        ),
    ]
