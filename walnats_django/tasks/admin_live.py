"""The base of the admin's task pages: staff only, GET only, no object views, live JetStream numbers.

As "Registered events" (`walnats_django/admin.py`): a table-less model per page puts it in the admin
index with the admin's login and staff checks; it reads NATS with short timeouts, never the database,
and still renders (saying why there are no live numbers) when NATS is down or runs without JetStream.
The index lists the task pages only when TASKS has a WalnatsBackend.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db import models as db_models
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from nats.js import JetStreamContext

from ..admin.live import NOT_CREATED, Live, scrub
from ..admin.pages import page_context
from ..client import get_connection
from ..client.pubacks import jetstream_disabled
from ..conf import walnats_settings
from ..errors import NatsUnavailable
from ..servers import redact
from ..sync import run_sync
from .backend import WalnatsBackend
from .compat import task_backends
from .queues import walnats_aliases

logger = logging.getLogger("walnats_django.admin")

T = TypeVar("T")

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


class TaskPageAdmin(_ModelAdmin):
    """A read-only page of live JetStream state: staff only, GET only, no object views."""

    connect_timeout: float = 1.0
    """Seconds to wait for a NATS connection before saying NATS is unreachable."""
    lookup_timeout: float = 1.0
    """Seconds for all JetStream lookups of one page together."""

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

    def live(self, fetch: Callable[[JetStreamContext], Awaitable[T]]) -> tuple[T | None, Live]:
        """`fetch(js)` within the timeouts, or None and the reason it could not run."""
        servers = [redact(url) for url in walnats_settings.SERVERS]
        try:
            value, connected = run_sync(self._fetch(fetch))
        except NatsUnavailable as exc:
            return None, Live(ok=False, servers=servers, error=scrub(str(exc)), unreachable=True)
        except Exception as exc:  # noqa: BLE001 - the page must render whatever NATS does
            error = scrub(f"{type(exc).__name__}: {exc}".rstrip(": "))
            logger.warning("Live task numbers unavailable: %s", error)
            return None, Live(ok=False, servers=servers, error=error)
        return value, Live(ok=True, servers=servers, connected_url=connected)

    async def _fetch(self, fetch: Callable[[JetStreamContext], Awaitable[T]]) -> tuple[T, str | None]:
        connecting = asyncio.ensure_future(get_connection(self.connect_timeout))
        connecting.add_done_callback(_retrieve)
        try:
            # The shield keeps a slow connect shared with other callers alive; the outer bound
            # keeps this page from waiting on it for long.
            conn = await asyncio.wait_for(asyncio.shield(connecting), self.connect_timeout + 0.25)
        except TimeoutError:
            raise NatsUnavailable(f"no connection to NATS within {self.connect_timeout:g}s.") from None
        if not conn.jetstream_enabled:
            raise jetstream_disabled()
        url = conn.nc.connected_url
        js = conn.nc.jetstream(timeout=self.lookup_timeout)
        async with asyncio.timeout(self.lookup_timeout + 0.25):
            value = await fetch(js)
        return value, redact(url.geturl()) if url is not None else None


def _retrieve(future: asyncio.Future[Any]) -> None:
    # A connect that outlived the page's wait must not log "exception was never retrieved".
    if not future.cancelled():
        future.exception()
