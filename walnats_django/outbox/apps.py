"""App config of the transactional outbox: `INSTALLED_APPS += ["walnats_django.outbox"]`."""

from __future__ import annotations

from django.apps import AppConfig


class OutboxConfig(AppConfig):
    """The outbox table, its admin and `manage.py relayoutbox`; needs `walnats_django` installed too."""

    name = "walnats_django.outbox"
    label = "walnats_outbox"  # not "outbox": a project may well have an app of that name
    verbose_name = "walnats outbox"
    default_auto_field = "django.db.models.BigAutoField"
