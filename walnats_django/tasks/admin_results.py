"""The admin's "Task results" page: the results that changed last, filtered by status, backend and
queue, each with its errors; and a page per result with every field.

Per backend only the newest KV revisions are looked through (`recent.py`), so a page costs the
same for a bucket of 100,000 results as for one of `results_scanned`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import json
from typing import Any
from urllib.parse import urlencode

from django.http import Http404, HttpRequest, HttpResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.text import capfirst
from nats.js import JetStreamContext

from .admin_live import TaskPageAdmin, backends
from .backend import bucket_name
from .compat import TaskError, TaskResultStatus
from .queues import walnats_aliases
from .recent import Read, Recent, read_result, recent_results
from .records import TaskRecord
from .store import is_result_id

STATUSES = [status.value for status in TaskResultStatus]
"""READY, RUNNING, SUCCESSFUL, FAILED: the status filter's choices, in their order."""
TRACEBACK_SHOWN = 3000
"""Characters of each traceback the list shows (the end); a result's own page shows all."""


@dataclasses.dataclass(frozen=True)
class ErrorRow:
    """One failed attempt of a result."""

    exception_class_path: str
    message: str
    """The exception's message: the traceback's last line without the exception's name."""
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
