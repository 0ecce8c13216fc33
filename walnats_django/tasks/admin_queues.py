"""The admin's "Task queues" page: per WalnatsBackend its options and results bucket, per queue its
backlog, tasks in progress, redeliveries, worker pulls, dead letters and replicas."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.text import capfirst
from nats.js import JetStreamContext

from .admin_live import TaskPageAdmin, backends
from .backend import WalnatsBackend
from .queue_state import BucketState, QueueState, bucket_state, queue_state
from .queues import TaskQueue


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
