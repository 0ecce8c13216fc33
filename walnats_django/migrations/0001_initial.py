"""The table-less admin placeholder: `managed=False`, so this migration creates nothing."""

from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="RegisteredEvent",
            fields=[
                (
                    "id",
                    models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID"),
                ),
            ],
            options={
                "verbose_name": "registered event",
                "verbose_name_plural": "registered events",
                "managed": False,
                "default_permissions": ("view",),
            },
        ),
    ]
