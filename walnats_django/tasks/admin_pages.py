"""The admin's "Task queues" and "Task results" pages for the WalnatsBackends in TASKS.

Like "Registered events" (`walnats_django/admin.py`): table-less models (`models.TaskQueue`,
`models.TaskResult`) put the pages in the admin index with the admin's login and staff checks;
GET only; they read NATS with short timeouts, never the database, and still render (saying why
there are no live numbers) when NATS is down or runs without JetStream. The index lists them
only when TASKS has a WalnatsBackend.

"Task results" lists, per backend, the results that changed last (newest KV revisions; see
`recent.py`), so its cost does not grow with the bucket.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlencode

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db import models as db_models
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.text import capfirst
from nats.js import JetStreamContext

from .. import models
from ..admin import NOT_CREATED, Live, scrub
from ..client import get_connection
from ..client.pubacks import jetstream_disabled
from ..conf import walnats_settings
from ..errors import NatsUnavailable
from ..servers import redact
from ..sync import run_sync
from .backend import WalnatsBackend, bucket_name
from .compat import TaskError, TaskResultStatus, task_backends
from .queue_state import BucketState, QueueState, bucket_state, queue_state
from .queues import TaskQueue, walnats_aliases
from .recent import Read, Recent, read_result, recent_results
from .records import TaskRecord
from .store import is_result_id

logger = logging.getLogger("walnats_django.admin")

T = TypeVar("T")
STATUSES = [status.value for status in TaskResultStatus]
"""READY, RUNNING, SUCCESSFUL, FAILED: the status filter's choices, in their order."""
TRACEBACK_SHOWN = 3000
"""Characters of each traceback the list shows (the end); a result's own page shows all."""

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
        request.current_app = self.admin_site.name
        page = {
            **self.admin_site.each_context(request),
            "title": title,
            "subtitle": None,
            "opts": self.opts,
            "app_label": self.opts.app_label,
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


# -- Task queues ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class QueueRow:
    """One queue as the page shows it."""

    queue: TaskQueue
    state: QueueState | None
    """None when there are no live numbers."""
    results_url: str


@dataclasses.dataclass(frozen=True)
class BackendSection:
    """One WalnatsBackend: its options, its results bucket and its queues."""

    alias: str
    bucket_name: str
    options: list[tuple[str, str]]
    bucket: BucketState | None
    """None when the bucket does not exist yet (or there are no live numbers)."""
    queues: list[QueueRow]
    results_url: str


@admin.register(models.TaskQueue)
class TaskQueueAdmin(TaskPageAdmin):
    """Every queue of every WalnatsBackend with its backlog, tasks in progress and dead letters."""

    template_name = "admin/walnats_django/task_queues.html"

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        refused = self.refuse(request)
        if refused is not None:
            return refused
        found = backends()
        queues = [TaskQueue(b.alias, name) for b in found for name in b.queue_names]
        states, live = self.live(lambda js: _queue_numbers(js, found, queues))
        buckets, by_queue = states if states is not None else ({}, {})
        results = reverse(f"admin:{self.opts.app_label}_taskresult_changelist")
        sections = [
            BackendSection(
                alias=b.alias,
                bucket_name=b.store.bucket,
                options=_option_rows(b),
                bucket=buckets.get(b.alias),
                queues=[
                    QueueRow(
                        q, by_queue.get(q), results + "?" + urlencode({"backend": b.alias, "queue": q.name})
                    )
                    for q in queues
                    if q.alias == b.alias
                ],
                results_url=results + "?" + urlencode({"backend": b.alias}),
            )
            for b in found
        ]
        context = {"live": live, "sections": sections, **(extra_context or {})}
        return self.render(request, self.template_name, capfirst(self.opts.verbose_name_plural), context)


async def _queue_numbers(
    js: JetStreamContext, found: list[WalnatsBackend], queues: list[TaskQueue]
) -> tuple[dict[str, BucketState | None], dict[TaskQueue, QueueState]]:
    buckets, states = await asyncio.gather(
        asyncio.gather(*(bucket_state(js, b.store.bucket) for b in found)),
        asyncio.gather(*(queue_state(js, q) for q in queues)),
    )
    return (
        {b.alias: bucket for b, bucket in zip(found, buckets, strict=True)},
        {q: state for q, state in zip(queues, states, strict=True)},
    )


def _option_rows(backend: WalnatsBackend) -> list[tuple[str, str]]:
    options = backend.task_options
    return [
        ("Retries", str(options.retries)),
        (
            "Retry delay",
            ", ".join(f"{d:g}" for d in options.retry_delay) + " s" if options.retry_delay else "none",
        ),
        ("Job timeout", f"{options.job_timeout:g} s"),
        ("Ack wait", f"{options.ack_wait:g} s"),
        ("Max jobs", f"{options.max_jobs} per worker and queue"),
        ("Result TTL", "for ever" if options.result_ttl is None else duration(options.result_ttl)),
    ]


def duration(seconds: float) -> str:
    """`seconds` in the largest whole-ish unit: "600 s", "2 h", "7 days"."""
    if seconds >= 86400:
        return f"{seconds / 86400:g} days"
    if seconds >= 3600:
        return f"{seconds / 3600:g} h"
    return f"{seconds:g} s"


# -- Task results ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ErrorRow:
    """One failed attempt of a result."""

    exception_class_path: str
    message: str
    """The traceback's last line: the exception and its message."""
    traceback: str
    hidden: int = 0
    """Characters at the start of the traceback left out here (the result's own page has them)."""


@dataclasses.dataclass(frozen=True)
class ResultRow:
    """One result as the pages show it."""

    read: Read
    url: str
    errors: list[ErrorRow]
    waiting_until: datetime.datetime | None
    """`run_after`, while a READY result waits for it."""

    @property
    def record(self) -> TaskRecord | None:
        return self.read.record


@dataclasses.dataclass(frozen=True)
class Choice:
    """One link of a filter."""

    label: str
    url: str
    selected: bool


@dataclasses.dataclass(frozen=True)
class Filter:
    title: str
    choices: list[Choice]


@admin.register(models.TaskResult)
class TaskResultAdmin(TaskPageAdmin):
    """The results that changed last, filtered by status, backend and queue, and one result's page."""

    template_name = "admin/walnats_django/task_results.html"
    detail_template_name = "admin/walnats_django/task_result.html"
    lookup_timeout = 3.0
    results_scanned = 1000
    """Per backend: the results that changed last (newest KV revisions) the filters look through."""
    results_shown = 100
    """Rows the list shows at most."""
    bytes_read = 8 * 1024 * 1024
    """Per backend: bytes of stored results read at most for one page."""

    def get_urls(self) -> list[URLPattern]:
        detail = self.admin_site.admin_view(self.detail_view)
        return [
            *super().get_urls(),
            path("<str:backend>/<str:result_id>/", detail, name=self.url_name("detail")),
        ]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        refused = self.refuse(request)
        if refused is not None:
            return refused
        aliases = walnats_aliases()
        queue_names = {b.alias: b.queue_names for b in backends()}
        asked = {key: request.GET.get(key, "") for key in ("status", "backend", "queue")}
        known = {
            "status": STATUSES,
            "backend": aliases,
            "queue": list(dict.fromkeys(q for names in queue_names.values() for q in names)),
        }
        ignored = [
            f"Unknown {key} {value!r} ignored (known: {', '.join(known[key]) or 'none'})."
            for key, value in asked.items()
            if value and value not in known[key]
        ]
        chosen = {key: value for key, value in asked.items() if value in known[key]}
        selected = [chosen["backend"]] if "backend" in chosen else aliases
        scans, live = self.live(lambda js: self._recent(js, selected, chosen))
        found = sorted(
            (read for scan in scans or [] for read in scan.found),
            key=lambda read: read.entry.changed_at,
            reverse=True,
        )[: self.results_shown]
        title = capfirst(self.opts.verbose_name_plural)
        context = {
            "live": live,
            "ignored": ignored,
            "chosen": chosen,
            "scans": scans or [],
            "rows": [self._row(read, short=True) for read in found],
            "filters": _filters(chosen, known),
            "clear_url": "?" if chosen else "",
            "results_scanned": self.results_scanned,
            "results_shown": self.results_shown,
            "queues_url": reverse(f"admin:{self.opts.app_label}_taskqueue_changelist"),
            **(extra_context or {}),
        }
        return self.render(request, self.template_name, title, context)

    async def _recent(self, js: JetStreamContext, aliases: list[str], chosen: dict[str, str]) -> list[Recent]:
        status, queue = chosen.get("status"), chosen.get("queue")

        def keep(record: TaskRecord) -> bool:
            return (status is None or record.status == status) and (queue is None or record.queue == queue)

        scans = await asyncio.gather(
            *(
                recent_results(
                    js,
                    alias,
                    bucket_name(alias),
                    scan=self.results_scanned,
                    limit=self.results_shown,
                    max_bytes=self.bytes_read,
                    keep=keep if status or queue else None,
                )
                for alias in aliases
            )
        )
        return [scan for scan in scans if scan is not None]

    def detail_view(self, request: HttpRequest, backend: str, result_id: str) -> HttpResponse:
        refused = self.refuse(request)
        if refused is not None:
            return refused
        if backend not in walnats_aliases() or not is_result_id(result_id):
            raise Http404(f"No task result {result_id!r} in backend {backend!r}.")
        read, live = self.live(lambda js: read_result(js, backend, bucket_name(backend), result_id))
        if live.ok and read is None:
            raise Http404(f"No task result {result_id!r} in backend {backend!r}.")
        row = self._row(read, short=False) if read is not None else None
        record = read.record if read is not None else None
        context = {
            "live": live,
            "row": row,
            "result_id": result_id,
            "backend": backend,
            "args": _json(record.args) if record else "",
            "kwargs": _json(record.kwargs) if record else "",
            "return_value": _json(record.return_value) if record else "",
            "list_url": reverse(f"admin:{self.url_name('changelist')}"),
        }
        return self.render(request, self.detail_template_name, f"Task result {result_id}", context)

    def _row(self, read: Read, *, short: bool) -> ResultRow:
        record = read.record
        url = reverse(f"admin:{self.url_name('detail')}", args=[read.backend, read.entry.key])
        waiting = None
        if record is not None and record.status == TaskResultStatus.READY.value and record.run_after:
            waiting = record.run_after if record.run_after > timezone.now() else None
        errors = [error_row(e, TRACEBACK_SHOWN if short else None) for e in record.errors] if record else []
        return ResultRow(read=read, url=url, errors=errors, waiting_until=waiting)


def error_row(error: TaskError, shown: int | None) -> ErrorRow:
    """An attempt's error, its traceback cut to its last `shown` characters (None: whole)."""
    text = error.traceback
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    hidden = max(len(text) - shown, 0) if shown is not None else 0
    return ErrorRow(
        exception_class_path=error.exception_class_path,
        message=_message(error.exception_class_path, lines[-1] if lines else ""),
        traceback=text[hidden:],
        hidden=hidden,
    )


def _message(class_path: str, last_line: str) -> str:
    """The exception's message from a traceback's last line ("ValueError: bad" -> "bad")."""
    for name in (class_path, class_path.rpartition(".")[2]):
        if last_line == name:
            return ""
        if last_line.startswith(name + ":"):
            return last_line[len(name) + 1 :].strip()
    return last_line


def _filters(chosen: dict[str, str], known: dict[str, list[str]]) -> list[Filter]:
    def choices(key: str) -> list[Choice]:
        every = Choice("All", _query(chosen, key, None), key not in chosen)
        return [
            every,
            *(Choice(value, _query(chosen, key, value), chosen.get(key) == value) for value in known[key]),
        ]

    return [
        Filter(title, choices(key))
        for key, title in (("status", "status"), ("backend", "backend"), ("queue", "queue"))
    ]


def _query(chosen: dict[str, str], key: str, value: str | None) -> str:
    params = {k: v for k, v in chosen.items() if k != key}
    if value is not None:
        params[key] = value
    return "?" + urlencode(dict(sorted(params.items())))


def _json(value: object) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)
