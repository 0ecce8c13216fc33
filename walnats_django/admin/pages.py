"""The context every walnats admin page starts from: the admin site's own, plus the model's title bar."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest


def page_context(model_admin: admin.ModelAdmin[Any], request: HttpRequest, title: object) -> dict[str, Any]:
    """What Django's admin templates expect of a page that belongs to `model_admin`."""
    request.current_app = model_admin.admin_site.name
    return {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "subtitle": None,
        "opts": model_admin.opts,
        "app_label": model_admin.opts.app_label,
    }
