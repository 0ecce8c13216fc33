"""The admin's "Registered events" page: every event and actor, with live JetStream numbers.

`RegisteredEvent` is a table-less (`managed = False`) model, so the page sits in the admin
index under the walnats app and uses the admin's own login and staff checks (every active
staff member may view it; it shows no secrets). Only its changelist URL exists,
GET only; it reads the registry and, with a short timeout, NATS, never the database.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils.text import capfirst

from .actors import Actor
from .asyncapi.views import urls as asyncapi_urls
from .client import get_connection
from .client.pubacks import jetstream_disabled
from .conf import walnats_settings
from .errors import NatsUnavailable
from .events import Event, Limits
from .introspection import ConsumerStats, EventStats, StreamStats, all_event_stats
from .models import RegisteredEvent
from .registry import registry
from .servers import redact
from .sync import run_sync

logger = logging.getLogger("walnats_django.admin")

NOT_CREATED = "not created yet (run manage.py runactors)"

if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[RegisteredEvent]
else:
    _ModelAdmin = admin.ModelAdmin


@dataclasses.dataclass(frozen=True)
class ActorRow:
    """One actor as the page shows it."""

    actor: Actor[Any, Any]
    handler: str
    max_attempts: str
    retry_delay: str
    consumer: ConsumerStats | None
    """Live numbers; `None` with `Live.ok` means the consumer does not exist yet."""


@dataclasses.dataclass(frozen=True)
class EventRow:
    """One event as the page shows it."""

    event: Event[Any, Any]
    payload_type: str
    response_type: str
    limits: list[tuple[str, str]]
    actors: list[ActorRow]
    stream: StreamStats | None
    """Live numbers; `None` with `Live.ok` means the stream does not exist yet."""
    other_consumers: int
    """Consumers on the stream that belong to no registered actor of this event."""


@dataclasses.dataclass(frozen=True)
class Live:
    """Whether live numbers could be fetched, and from where (URLs already redacted)."""

    ok: bool
    servers: list[str]
    connected_url: str | None = None
    error: str | None = None
    unreachable: bool = False
    """NATS itself could not be reached (as opposed to JetStream failing to answer)."""


@admin.register(RegisteredEvent)
class RegisteredEventAdmin(_ModelAdmin):
    """A read-only page instead of a changelist; no add, change, delete or history views."""

    template_name = "admin/walnats_django/registered_events.html"
    connect_timeout: float = 1.0
    """Seconds to wait for a NATS connection before saying NATS is unreachable."""
    lookup_timeout: float = 1.0
    """Seconds for all JetStream info lookups together."""

    def has_view_permission(self, request: HttpRequest, obj: RegisteredEvent | None = None) -> bool:
        # Read-only operational state without secrets: every active staff member may see it.
        return bool(request.user.is_active and request.user.is_staff)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: RegisteredEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: RegisteredEvent | None = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        # Only the page itself: the default object URLs would query a table that does not exist.
        info = self.opts.app_label, self.opts.model_name
        view = self.admin_site.admin_view(self.changelist_view)
        return [path("", view, name="{}_{}_changelist".format(*info)), *asyncapi_urls(self)]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET", "HEAD"])
        if not self.has_view_permission(request):
            raise PermissionDenied
        pairs = [(event, registry.actors_for(event)) for event in registry.events]
        stats, live = self.live_numbers(pairs)
        context = {
            **self.admin_site.each_context(request),
            "title": capfirst(self.opts.verbose_name_plural),
            "subtitle": None,
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "live": live,
            "events": [_event_row(event, actors, stats.get(event.name)) for event, actors in pairs],
            "problems": [p.msg for p in registry.problems()],
            "not_created": NOT_CREATED,
            **(extra_context or {}),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.template_name, context)

    def live_numbers(
        self, pairs: Sequence[tuple[Event[Any, Any], Sequence[Actor[Any, Any]]]]
    ) -> tuple[dict[str, EventStats], Live]:
        """JetStream numbers for `pairs`, or none and the reason; never slower than the timeouts."""
        servers = [redact(url) for url in walnats_settings.SERVERS]
        try:
            stats, connected = run_sync(self._fetch(pairs))
        except NatsUnavailable as exc:
            return {}, Live(ok=False, servers=servers, error=scrub(str(exc)), unreachable=True)
        except Exception as exc:  # noqa: BLE001 - the page must render whatever NATS does
            error = scrub(f"{type(exc).__name__}: {exc}".rstrip(": "))
            logger.warning("Live JetStream numbers unavailable: %s", error)
            return {}, Live(ok=False, servers=servers, error=error)
        return stats, Live(ok=True, servers=servers, connected_url=connected)

    async def _fetch(
        self, pairs: Sequence[tuple[Event[Any, Any], Sequence[Actor[Any, Any]]]]
    ) -> tuple[dict[str, EventStats], str | None]:
        connecting = asyncio.ensure_future(get_connection(self.connect_timeout))
        connecting.add_done_callback(_retrieve)
        try:
            # get_connection() honours its timeout; the shield keeps a slow connect shared with
            # other callers alive, the outer bound keeps this page from waiting on it for long.
            conn = await asyncio.wait_for(asyncio.shield(connecting), self.connect_timeout + 0.25)
        except TimeoutError:
            raise NatsUnavailable(f"no connection to NATS within {self.connect_timeout:g}s.") from None
        if not conn.jetstream_enabled:
            raise jetstream_disabled()
        url = conn.nc.connected_url
        js = conn.nc.jetstream(timeout=self.lookup_timeout)
        async with asyncio.timeout(self.lookup_timeout + 0.25):
            stats = await all_event_stats(js, pairs)
        return stats, redact(url.geturl()) if url is not None else None


def _retrieve(future: asyncio.Future[Any]) -> None:
    # A connect that outlived the page's wait must not log "exception was never retrieved".
    if not future.cancelled():
        future.exception()


def _event_row(
    event: Event[Any, Any], actors: Sequence[Actor[Any, Any]], stats: EventStats | None
) -> EventRow:
    consumers = stats.consumers if stats is not None else {}
    stream = stats.stream if stats is not None else None
    found = sum(1 for c in consumers.values() if c is not None)
    return EventRow(
        event=event,
        payload_type=type_label(event.schema),
        response_type=type_label(event.response_schema) if event.has_response else "",
        limits=limit_rows(event.limits),
        actors=[
            ActorRow(
                actor=actor,
                handler=actor.describe_handler(),
                max_attempts="unlimited" if actor.max_attempts is None else str(actor.max_attempts),
                retry_delay=", ".join(f"{d:g}" for d in actor.retry_delay) or "none",
                consumer=consumers.get(actor.name),
            )
            for actor in actors
        ],
        stream=stream,
        other_consumers=max(stream.consumers - found, 0) if stream is not None else 0,
    )


def type_label(schema: object) -> str:
    """`module.Name` for classes (just `Name` for builtins), the repr for anything else."""
    if isinstance(schema, type):
        if schema.__module__ == "builtins":
            return schema.__qualname__
        return f"{schema.__module__}.{schema.__qualname__}"
    return repr(schema)


def limit_rows(limits: Limits) -> list[tuple[str, str]]:
    """(label, value) pairs for the event's stream limits; unset limits read "unlimited"."""

    def show(value: float | None, unit: str = "") -> str:
        return "unlimited" if value is None else f"{value:g}{unit}"

    age = show(limits.age, " s")
    if limits.age is not None and limits.age >= 3600:
        age += f" ({limits.age / 86400:g} days)" if limits.age >= 86400 else f" ({limits.age / 3600:g} h)"
    return [
        ("Max age", age),
        ("Max consumers", show(limits.consumers)),
        ("Max messages", show(limits.messages)),
        ("Max bytes", show(limits.bytes)),
        ("Max message size", show(limits.message_size, " bytes")),
    ]


_SECRET_OPTIONS = ("user", "password", "token", "nkeys_seed_str", "user_jwt", "signature")


def scrub(text: str) -> str:
    """`text` with URL credentials and every configured secret replaced by `***`."""
    text = redact(text)
    secrets: set[str] = set()
    for url in walnats_settings.SERVERS:
        try:
            parts = urlsplit(url)
        except ValueError:
            continue
        for value in (parts.username, parts.password):
            if value:
                secrets.update({value, unquote(value)})
    for key in _SECRET_OPTIONS:
        value = walnats_settings.CONNECT_OPTIONS.get(key)
        if isinstance(value, str) and value:
            secrets.add(value)
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


# "Task queues" and "Task results" (walnats_django/tasks/admin_pages.py), with Django's Tasks framework only.
try:
    from .tasks import admin_pages  # noqa: F401  (registers the pages)
except ModuleNotFoundError as exc:
    if exc.name not in ("django_tasks", "django.tasks"):
        raise
