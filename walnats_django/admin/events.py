"""The "Registered events" admin: the overview, a page per event, orphan consumers and the test-message form.

`RegisteredEvent` is a table-less model, so these pages sit in the admin index under the walnats
app and use the admin's login and staff checks. Every active staff member may view them (they
show no payloads and no secrets); sending a test message and deleting orphan consumers each need
a permission of their own. They read the registry and, with short timeouts, NATS.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.text import capfirst
from nats.js import JetStreamContext

from .. import orphans
from ..actors import Actor
from ..asyncapi.views import urls as asyncapi_urls
from ..events import Event
from ..introspection import OrphanConsumer, all_event_stats
from ..models import RegisteredEvent
from ..registry import registry
from . import audit
from .formatting import count
from .live import NOT_CREATED, LivePages
from .overview import event_row
from .pages import page_context
from .test_message import TestMessageForm, send

if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[RegisteredEvent]
else:
    _ModelAdmin = admin.ModelAdmin


class RegisteredEventAdmin(LivePages, _ModelAdmin):
    """Read-only pages instead of a changelist; no add, change, delete or history views."""

    template_name = "admin/walnats_django/registered_events.html"
    detail_template = "admin/walnats_django/event_detail.html"
    send_template = "admin/walnats_django/send_test_message.html"
    orphans_template = "admin/walnats_django/orphans.html"
    confirm_orphans_template = "admin/walnats_django/confirm_orphans.html"
    action_timeout: float = 5.0
    """Seconds for deleting orphans (one lookup and one delete each)."""

    def has_view_permission(self, request: HttpRequest, obj: RegisteredEvent | None = None) -> bool:
        # Operational state without payloads or secrets: every active staff member may see it.
        return bool(request.user.is_active and request.user.is_staff)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: RegisteredEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: RegisteredEvent | None = None) -> bool:
        return False

    def has_send_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request) and request.user.has_perm(
            f"{self.opts.app_label}.send_test_message"
        )

    def has_delete_orphans_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request) and request.user.has_perm(
            f"{self.opts.app_label}.delete_orphan_consumer"
        )

    def get_urls(self) -> list[URLPattern]:
        # Only these pages: the default object URLs would query a table that does not exist.
        wrap = self.admin_site.admin_view
        return [
            path("", wrap(self.changelist_view), name=self.url_name("changelist")),
            path("event/<str:name>/", wrap(self.detail_view), name=self.url_name("detail")),
            path("send/", wrap(self.send_view), name=self.url_name("send")),
            path("orphans/", wrap(self.orphans_view), name=self.url_name("orphans")),
            *asyncapi_urls(self),
        ]

    def url_name(self, view: str) -> str:
        return f"{self.opts.app_label}_{self.opts.model_name}_{view}"

    def render(
        self, request: HttpRequest, template: str, title: object, context: Mapping[str, Any]
    ) -> HttpResponse:
        page = {
            **page_context(self, request, title),
            "not_created": NOT_CREATED,
            "can_send": self.has_send_permission(request),
            "can_delete_orphans": self.has_delete_orphans_permission(request),
            **context,
        }
        return TemplateResponse(request, template, page)

    # -- the overview ---------------------------------------------------------------------------

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET", "HEAD"])
        if not self.has_view_permission(request):
            raise PermissionDenied
        pairs = [(event, registry.actors_for(event)) for event in registry.events]
        stats, live = self.live(lambda js: all_event_stats(js, pairs))
        rows = [event_row(event, actors, (stats or {}).get(event.name)) for event, actors in pairs]
        context = {
            "live": live,
            "events": rows,
            "orphan_count": sum(len(row.orphans) for row in rows),
            "problems": [p.msg for p in registry.problems()],
            **(extra_context or {}),
        }
        return self.render(request, self.template_name, capfirst(self.opts.verbose_name_plural), context)

    # -- an event's page --------------------------------------------------------------------------

    def detail_view(self, request: HttpRequest, name: str) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET", "HEAD"])
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            event = registry.get_event(name)
        except LookupError:
            raise Http404(f"No event named {name!r} is registered.") from None
        actors = registry.actors_for(event)
        stats, live = self.live(lambda js: all_event_stats(js, [(event, actors)]))
        row = event_row(event, actors, (stats or {}).get(event.name))
        context = {"live": live, "row": row, "event": event}
        return self.render(request, self.detail_template, event.name, context)

    # -- the test-message form --------------------------------------------------------------------

    def send_view(self, request: HttpRequest) -> HttpResponse:
        if request.method not in ("GET", "HEAD", "POST"):
            return HttpResponseNotAllowed(["GET", "HEAD", "POST"])
        if not self.has_send_permission(request):
            raise PermissionDenied
        outcome = None
        if request.method == "POST":
            form = TestMessageForm(request.POST)
            if form.is_valid():
                data = form.cleaned_data
                outcome = send(data["event_object"], data["message"], data["mode"], data["timeout"])
                audit.logger.info(
                    "Test message user=%s event=%s mode=%s outcome=%s elapsed_ms=%.1f",
                    request.user.get_username(),
                    outcome.event,
                    outcome.mode,
                    outcome.error_type or "ok",
                    outcome.elapsed_ms,
                )
        else:
            initial = {"event": request.GET["event"]} if "event" in request.GET else {}
            form = TestMessageForm(initial=initial)
        return self.render(
            request, self.send_template, "Send a test message", {"form": form, "outcome": outcome}
        )

    # -- orphan consumers -------------------------------------------------------------------------

    def orphans_view(self, request: HttpRequest) -> HttpResponse:
        if request.method not in ("GET", "HEAD", "POST"):
            return HttpResponseNotAllowed(["GET", "HEAD", "POST"])
        if not self.has_view_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            if not self.has_delete_orphans_permission(request):
                raise PermissionDenied
            return self._delete_orphans(request)
        event = request.GET.get("event")
        pairs = _pairs(event)
        found, live = self.live(lambda js: orphans.find(js, pairs))
        context = {"live": live, "orphans": found or [], "event": event, "warning": orphans.INTEROP_WARNING}
        return self.render(request, self.orphans_template, "Orphan consumers", context)

    def _delete_orphans(self, request: HttpRequest) -> HttpResponse:
        chosen = set(request.POST.getlist("consumer"))
        back = reverse(f"admin:{self.url_name('orphans')}")
        if not chosen:
            self.message_user(request, "Select the consumers to delete first.", messages.WARNING)
            return HttpResponseRedirect(back)
        pairs = _pairs(None)
        confirmed = request.POST.get("post") == "yes"

        async def act(js: JetStreamContext) -> tuple[list[OrphanConsumer], list[OrphanConsumer]]:
            # Looked up again: only consumers that are orphans now can be chosen, whatever was posted.
            still = [o for o in await orphans.find(js, pairs) if f"{o.stream}/{o.name}" in chosen]
            if not confirmed:
                return still, []
            done = await asyncio.gather(*(orphans.delete(js, o) for o in still))
            return still, [o for o, ok in zip(still, done, strict=True) if ok]

        result, live = self.live(act, timeout=self.action_timeout)
        if result is None:
            self.message_user(request, f"Nothing deleted: {live.error}", messages.ERROR)
            return HttpResponseRedirect(back)
        found, deleted = result
        if not confirmed:
            context = {"orphans": found, "warning": orphans.INTEROP_WARNING, "live": live}
            return self.render(request, self.confirm_orphans_template, "Delete orphan consumers?", context)
        for orphan in deleted:
            audit.record(
                request,
                RegisteredEvent,
                f"{orphan.stream}/{orphan.name}",
                f"consumer {orphan.name} of stream {orphan.stream}",
                audit.DELETION,
                f"Deleted orphan consumer {orphan.name} of event {orphan.event} "
                f"({orphan.stats.num_pending} pending, {orphan.stats.num_ack_pending} unacknowledged).",
            )
        self.message_user(request, f"Deleted {count(len(deleted), 'orphan consumer')}.", messages.SUCCESS)
        return HttpResponseRedirect(back)


def _pairs(event: str | None) -> list[tuple[Event[Any, Any], tuple[Actor[Any, Any], ...]]]:
    try:
        return orphans.registered_pairs(None if event is None else [event])
    except LookupError:
        raise Http404(f"No event named {event!r} is registered.") from None
