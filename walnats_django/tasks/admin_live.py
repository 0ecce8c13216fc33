"""The base of the admin's task pages: staff only, GET only, no object views, live JetStream numbers.

As "Registered events" (`walnats_django/admin/events.py`): a table-less model per page puts it in the
admin index with the admin's login and staff checks; it reads NATS through the event pages' `LivePages`
(short timeouts, never the database) and still renders, saying why there are no live numbers, when NATS
is down or runs without JetStream. The index lists the task pages only when TASKS has a WalnatsBackend.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db import models as db_models
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.template.response import TemplateResponse
from django.urls import URLPattern, path

from ..admin.live import NOT_CREATED, LivePages
from ..admin.pages import page_context
from .backend import WalnatsBackend
from .compat import task_backends
from .queues import walnats_aliases

if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[db_models.Model]
else:
    _ModelAdmin = admin.ModelAdmin


def backends() -> list[WalnatsBackend]:
    """The WalnatsBackends of TASKS, in TASKS order."""
    found = []
    for alias in walnats_aliases():
        backend = task_backends[alias]
        assert isinstance(backend, WalnatsBackend)
        found.append(backend)
    return found


class TaskPageAdmin(LivePages, _ModelAdmin):
    """A read-only page of live JetStream state: staff only, GET only, no object views."""

    def has_view_permission(self, request: HttpRequest, obj: db_models.Model | None = None) -> bool:
        # Operational state without secrets (as "Registered events"): every active staff member.
        return bool(request.user.is_active and request.user.is_staff)

    def has_module_permission(self, request: HttpRequest) -> bool:
        # Listed in the index only when there is something to show.
        return self.has_view_permission(request) and bool(walnats_aliases())

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: db_models.Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: db_models.Model | None = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        # Only the page itself: the default object URLs would query a table that does not exist.
        view = self.admin_site.admin_view(self.changelist_view)
        return [path("", view, name=self.url_name("changelist"))]

    def url_name(self, view: str) -> str:
        return f"{self.opts.app_label}_{self.opts.model_name}_{view}"

    def refuse(self, request: HttpRequest) -> HttpResponse | None:
        """405 for anything but GET/HEAD; `PermissionDenied` for non-staff users."""
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET", "HEAD"])
        if not self.has_view_permission(request):
            raise PermissionDenied
        return None

    def render(
        self, request: HttpRequest, template: str, title: object, context: Mapping[str, Any]
    ) -> HttpResponse:
        page = {
            **page_context(self, request, title),
            "not_created": NOT_CREATED,
            **context,
        }
        return TemplateResponse(request, template, page)
