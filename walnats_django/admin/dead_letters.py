"""The "Dead letters" admin: the newest failed messages with filters, one letter's page, and replay
and purge after a confirmation page, each behind its own permission.

Dead letters live in their JetStream stream (`walnats_django.deadletters`), not in the database:
`DeadLetter` is a table-less model for the admin index and the permissions. Viewing needs
`view_deadletter` (payloads may hold personal data), replaying `replay_deadletter`, purging
`purge_deadletter`; superusers have all three. Every replay and purge is logged (LogEntry and
logger `walnats_django.admin`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.text import capfirst
from nats.js import JetStreamContext

from .. import deadletters
from ..errors import DeadLetterError, SerializationError
from ..models import DeadLetter as DeadLetterModel
from ..registry import registry
from ..serializers import decode
from . import audit
from .formatting import ago, count, size
from .live import LivePages, scrub
from .pages import page_context

if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[DeadLetterModel]
else:
    _ModelAdmin = admin.ModelAdmin

PAGE_SIZE = 50
"""Dead letters per page."""
SCAN = 500
"""Sequences read at most for one page (filters may leave fewer than a page)."""
PREVIEW = 160
"""Payload characters shown in the list."""
ACTIONS = {"replay": "Replay", "purge": "Purge"}


@dataclasses.dataclass(frozen=True)
class LetterView:
    """A dead letter as the pages show it: its payload decoded when possible."""

    letter: deadletters.DeadLetter
    payload_text: str
    """The payload as text: pretty JSON, plain text, or base64 for binary payloads."""
    payload_kind: str
    """"JSON", "text" or "binary (base64)"."""
    decodes: str | None
    """None when the event's serializer accepts the payload, else why not."""
    failed: str
    """When it failed, as "3 minutes ago"."""

    @property
    def error_message(self) -> str:
        """The error without its leading exception class (shown apart)."""
        kind, _, rest = self.letter.error.partition(":")
        return rest.strip() if rest and kind.strip() == self.letter.error_type else self.letter.error

    @property
    def preview(self) -> str:
        flat = " ".join(self.payload_text.split())
        return flat if len(flat) <= PREVIEW else flat[: PREVIEW - 1] + "…"

    @property
    def size(self) -> str:
        return size(self.letter.payload_size)


def view_of(letter: deadletters.DeadLetter) -> LetterView:
    """Decode the payload for display: JSON pretty-printed, else text, else base64; check it against
    the event's serializer when the event is registered."""
    raw = letter.payload
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        text, kind = deadletters.summary(letter)["payload"].removeprefix("base64:"), "binary (base64)"
    else:
        try:
            text, kind = json.dumps(json.loads(text), indent=2, ensure_ascii=False), "JSON"
        except ValueError:
            kind = "text"
    decodes: str | None
    try:
        event = registry.get_event(letter.event)
    except LookupError:
        decodes = f"event {letter.event!r} is not registered here"
    else:
        try:
            decode(event.payload_serializer, event.schema, raw, "the payload")
            decodes = None
        except SerializationError as exc:
            decodes = str(exc)
    when = parse_datetime(letter.failed_at) if letter.failed_at else None
    return LetterView(letter, text, kind, decodes, ago(when, timezone.now()) if when else "?")


class DeadLetterAdmin(LivePages, _ModelAdmin):
    """The newest dead letters, a page per letter, and replay/purge with confirmation."""

    list_template = "admin/walnats_django/dead_letters.html"
    letter_template = "admin/walnats_django/dead_letter.html"
    confirm_template = "admin/walnats_django/confirm_dead_letters.html"
    lookup_timeout = 3.0
    action_timeout: float = 10.0
    """Seconds for replaying or purging the selected letters."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: DeadLetterModel | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: DeadLetterModel | None = None) -> bool:
        return False

    def allowed_actions(self, request: HttpRequest) -> dict[str, str]:
        """The actions `request.user` may run: replay and purge need their own permissions."""
        label = self.opts.app_label
        return {
            name: title
            for name, title in ACTIONS.items()
            if request.user.has_perm(f"{label}.{name}_deadletter")
        }

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("", wrap(self.changelist_view), name=f"{info}_changelist"),
            path("<int:seq>/", wrap(self.letter_view), name=f"{info}_letter"),
        ]

    def render(
        self, request: HttpRequest, template: str, title: object, context: dict[str, Any]
    ) -> HttpResponse:
        page = {
            **page_context(self, request, title),
            "actions": self.allowed_actions(request),
            **context,
        }
        return TemplateResponse(request, template, page)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if request.method not in ("GET", "HEAD", "POST"):
            return HttpResponseNotAllowed(["GET", "HEAD", "POST"])
        if not self.has_view_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            return self._act(request)
        filters = {key: request.GET.get(key) or None for key in ("event", "actor", "error")}
        before = _positive(request.GET.get("before"))

        async def fetch(
            js: JetStreamContext,
        ) -> tuple[deadletters.Page, deadletters.Page | None, dict[Any, int]]:
            page = deadletters.newest(
                js,
                event=filters["event"],
                actor=filters["actor"],
                error_type=filters["error"],
                before=before,
                limit=PAGE_SIZE,
                scan=SCAN,
            )
            # The error types to choose from: those of the newest letters without the error filter.
            unfiltered = (
                deadletters.newest(
                    js, event=filters["event"], actor=filters["actor"], limit=PAGE_SIZE, scan=SCAN
                )
                if filters["error"]
                else _none()
            )
            return await asyncio.gather(page, unfiltered, deadletters.counts(js))

        result, live = self.live(fetch)
        page, unfiltered, counts = result if result is not None else (deadletters.Page([], None, 0), None, {})
        letters = [view_of(letter) for letter in page.letters]
        seen = (unfiltered or page).letters
        query = {k: v for k, v in filters.items() if v}
        context = {
            "live": live,
            "letters": letters,
            "total": count(page.total, "dead letter"),
            "older_url": "?" + urlencode({**query, "before": page.older}) if page.older else None,
            "newest_url": "?" + urlencode(query) if before else None,
            "filters": filters,
            "event_choices": sorted({e.name for e in registry.events} | {v.letter.event for v in letters}),
            "actor_choices": sorted({actor for _, actor in counts} | {a.name for a in registry.actors}),
            "error_choices": sorted({letter.error_type for letter in seen} | _given(filters["error"])),
            "return_query": request.GET.urlencode(),
            "page_size": PAGE_SIZE,
            "scan": SCAN,
            **(extra_context or {}),
        }
        return self.render(request, self.list_template, capfirst(self.opts.verbose_name_plural), context)

    def letter_view(self, request: HttpRequest, seq: int) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET", "HEAD"])
        if not self.has_view_permission(request):
            raise PermissionDenied

        async def fetch(js: JetStreamContext) -> deadletters.DeadLetter | None:
            try:
                return await deadletters.get(js, seq)
            except DeadLetterError:
                return None

        letter, live = self.live(fetch)
        if live.ok and letter is None:
            raise Http404(f"No dead letter with sequence {seq} (replayed or purged?).")
        context = {"live": live, "view": view_of(letter) if letter is not None else None, "seq": seq}
        return self.render(request, self.letter_template, f"Dead letter {seq}", context)

    def _act(self, request: HttpRequest) -> HttpResponse:
        action = request.POST.get("action", "")
        if action not in ACTIONS:
            raise Http404("Unknown action.")
        if action not in self.allowed_actions(request):
            raise PermissionDenied
        back = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")
        query = request.POST.get("return_query", "")
        if query and not query.startswith(("/", "\\")) and "://" not in query:
            back += "?" + query
        seqs = sorted({s for s in (_positive(v) for v in request.POST.getlist("seq")) if s}, reverse=True)
        if not seqs:
            self.message_user(request, "Select the dead letters first.", messages.WARNING)
            return HttpResponseRedirect(back)
        confirmed = request.POST.get("post") == "yes"

        async def act(js: JetStreamContext) -> tuple[list[deadletters.DeadLetter], list[tuple[bool, str]]]:
            found = [letter for letter in await asyncio.gather(*(_get(js, s) for s in seqs)) if letter]
            if not confirmed:
                return found, []
            outcomes = []
            for letter in found:
                outcomes.append(await _perform(js, action, letter))
            return found, outcomes

        result, live = self.live(act, timeout=self.action_timeout)
        if result is None:
            self.message_user(request, f"Nothing was done: {live.error}", messages.ERROR)
            return HttpResponseRedirect(back)
        found, outcomes = result
        if not confirmed:
            context = {
                "live": live,
                "action": action,
                "action_title": ACTIONS[action],
                "letters": [view_of(letter) for letter in found],
                "missing": len(seqs) - len(found),
                "return_query": query,
            }
            return self.render(request, self.confirm_template, f"{ACTIONS[action]} dead letters?", context)
        done = 0
        for letter, (ok, outcome) in zip(found, outcomes, strict=True):
            if ok:
                done += 1
                audit.record(
                    request,
                    DeadLetterModel,
                    str(letter.seq),
                    f"dead letter {letter.seq} ({letter.event} / {letter.actor})",
                    audit.CHANGE if action == "replay" else audit.DELETION,
                    outcome,
                )
            else:
                self.message_user(request, f"Dead letter {letter.seq}: {outcome}", messages.ERROR)
        verb = "Replayed" if action == "replay" else "Purged"
        self.message_user(
            request, f"{verb} {count(done, 'dead letter')}.", messages.SUCCESS if done else messages.WARNING
        )
        return HttpResponseRedirect(back)


def _given(value: str | None) -> set[str]:
    return {value} if value else set()


async def _none() -> None:
    return None


async def _get(js: JetStreamContext, seq: int) -> deadletters.DeadLetter | None:
    try:
        return await deadletters.get(js, seq)
    except DeadLetterError:
        return None


async def _perform(js: JetStreamContext, action: str, letter: deadletters.DeadLetter) -> tuple[bool, str]:
    """Replay or purge one letter: whether it worked, and what happened (the log's change message)."""
    try:
        if action == "replay":
            new_seq = await deadletters.replay(js, letter)
            return True, (
                f"Replayed dead letter {letter.seq} to event {letter.event} for actor {letter.actor} "
                f"(stream sequence {new_seq})."
            )
        await deadletters.delete(js, letter.seq)
        return True, f"Purged dead letter {letter.seq} of event {letter.event}, actor {letter.actor}."
    except Exception as exc:  # noqa: BLE001 - reported per letter; the others go on
        return False, scrub(f"{type(exc).__name__}: {exc}")


def _positive(value: str | None) -> int | None:
    try:
        number = int(value or "")
    except ValueError:
        return None
    return number if number > 0 else None
