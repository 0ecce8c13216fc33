"""The outbox in the admin: a read-only list with the backlog in its title, a status filter with
counts, and an action that queues failed rows again."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.db.models import Count, Min, QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.timesince import timesince

from .models import OutboxMessage, Status

PREVIEW_BYTES = 2000

if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[OutboxMessage]
else:  # ModelAdmin is generic in django-stubs only
    _ModelAdmin = admin.ModelAdmin


class StatusFilter(admin.SimpleListFilter):
    """Pending / sent / failed, each with its number of rows."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        counts = dict(
            OutboxMessage.objects.values_list("status")
            .annotate(rows=Count("id"))
            .values_list("status", "rows")
        )
        return [(status.value, f"{status.label} ({counts.get(status.value, 0)})") for status in Status]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(status=value) if value else queryset


@admin.register(OutboxMessage)
class OutboxMessageAdmin(_ModelAdmin):
    list_display = ("id", "event", "uid", "status", "created_at", "sent_at", "attempts", "short_error")
    list_filter = (StatusFilter, "event")
    search_fields = ("uid", "event")
    ordering = ("-id",)
    readonly_fields = (
        "uid",
        "event",
        "stream",
        "status",
        "created_at",
        "sent_at",
        "attempts",
        "last_error",
        "headers",
        "payload_preview",
    )
    exclude = ("payload",)
    actions = ("retry",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # rows come from outbox.emit(), in the transaction of the data they belong to

    def has_delete_permission(self, request: HttpRequest, obj: OutboxMessage | None = None) -> bool:
        return False  # the relay purges sent rows; failed rows are the record of what went wrong

    def has_change_permission(self, request: HttpRequest, obj: OutboxMessage | None = None) -> bool:
        # The list's retry action needs it; a row's own page stays read-only.
        return obj is None and super().has_change_permission(request)

    @admin.display(description="last error")
    def short_error(self, row: OutboxMessage) -> str:
        return row.last_error if len(row.last_error) <= 80 else f"{row.last_error[:79]}…"

    @admin.display(description="payload")
    def payload_preview(self, row: OutboxMessage) -> str:
        data = bytes(row.payload)
        text = data[:PREVIEW_BYTES].decode(errors="replace")
        return text if len(data) <= PREVIEW_BYTES else f"{text}… ({len(data)} bytes)"

    @admin.action(description="Retry the selected failed rows", permissions=["change"])
    def retry(self, request: HttpRequest, queryset: QuerySet[OutboxMessage]) -> None:
        queued = queryset.filter(status=Status.FAILED).update(status=Status.PENDING)
        self.message_user(
            request,
            f"{queued} failed row(s) queued again; the relay publishes them with their own uid.",
            messages.SUCCESS if queued else messages.WARNING,
        )

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        return super().changelist_view(request, {"title": self._backlog(), **(extra_context or {})})

    def _backlog(self) -> str:
        pending = OutboxMessage.objects.pending().aggregate(rows=Count("id"), oldest=Min("created_at"))
        failed = OutboxMessage.objects.filter(status=Status.FAILED).count()
        oldest = f" (oldest {timesince(pending['oldest'])} ago)" if pending["oldest"] else ""
        return f"Outbox: {pending['rows']} pending{oldest}, {failed} failed"
