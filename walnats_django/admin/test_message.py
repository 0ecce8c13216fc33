"""The "Send a test message" form: a JSON payload checked by the event's own serializer, emitted or
requested, with the answer or the typed error and how long it took."""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from ..errors import SerializationError
from ..events import Event
from ..publisher import emit_sync, request_sync
from ..registry import registry
from ..serializers import BytesSerializer, DatetimeSerializer, decode, encode
from .formatting import type_label
from .live import scrub

MAX_TIMEOUT = 60.0

_TEXT_SERIALIZERS = (BytesSerializer, DatetimeSerializer)
"""Serializers whose wire form is plain text, not JSON: the payload is a JSON string of that text."""


def payload_from_json(event: Event[Any, Any], text: str) -> Any:
    """The event's payload from `text`, through the event's serializer and type check.

    Raises `ValidationError` saying what is wrong.
    """
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).") from None
    serializer = event.payload_serializer
    if isinstance(serializer, _TEXT_SERIALIZERS):
        if not isinstance(value, str):
            raise ValidationError(
                f"Event {event.name!r} sends {type_label(event.schema)} as text: "
                'write the payload as a JSON string, e.g. "2024-05-01T12:00:00" or "raw bytes".'
            )
        data = value.encode()
    else:
        data = text.encode()
    try:
        return decode(serializer, event.schema, data, f"payload of event {event.name!r}")
    except SerializationError as exc:
        raise ValidationError(str(exc)) from None


class TestMessageForm(forms.Form):
    """Event, mode, JSON payload and (for requests) a timeout; `clean()` builds the typed payload."""

    __test__ = False  # not a pytest test class, whatever its name

    event = forms.ChoiceField()
    mode = forms.ChoiceField(
        choices=[
            ("emit", "Emit: publish for every actor, no answer"),
            ("request", "Request: wait for the answer"),
        ],
        widget=forms.RadioSelect,
        initial="emit",
    )
    payload = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false", "class": "vLargeTextField"}),
        strip=False,
        help_text='JSON, checked by the event\'s serializer: "text", 42, {"field": "value"}; '
        "dates and bytes as a JSON string.",
    )
    timeout = forms.FloatField(
        required=False,
        min_value=0.1,
        max_value=MAX_TIMEOUT,
        help_text="Seconds to wait for the answer (requests only; empty: WALNATS REQUEST_TIMEOUT).",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["event"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [
            (e.name, f"{e.name} ({'request' if e.has_response else 'emit only'})") for e in registry.events
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        name, mode, text = cleaned.get("event"), cleaned.get("mode"), cleaned.get("payload")
        if name is None or mode is None:
            return cleaned
        event = registry.get_event(name)
        cleaned["event_object"] = event
        if mode == "request" and not event.has_response:
            self.add_error("mode", f"Event {name!r} has no response type: emit it instead.")
        if mode == "emit" and cleaned.get("timeout") is not None:
            self.add_error(
                "timeout", "An emit waits for no answer: leave the timeout empty, or choose request."
            )
        if text is not None:
            try:
                cleaned["message"] = payload_from_json(event, text)
            except ValidationError as exc:
                self.add_error("payload", exc)
        return cleaned


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What happened to a test message."""

    event: str
    mode: str
    elapsed_ms: float
    answer: str | None = None
    """The answer as it travelled (the response serializer's text), for requests."""
    answer_type: str | None = None
    error_type: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error_type is None


def send(event: Event[Any, Any], message: Any, mode: str, timeout: float | None) -> Outcome:
    """Emit (waiting for JetStream to store it) or request `message`, timed."""
    started = time.perf_counter()
    try:
        if mode == "request":
            answer = request_sync(event, message, timeout=timeout)
        else:
            emit_sync(event, message, wait=True)
    except Exception as exc:  # noqa: BLE001 - a WalnatsError mostly; shown: the operator is testing this
        return _failed(event, mode, started, exc)
    elapsed = (time.perf_counter() - started) * 1000
    if mode != "request":
        return Outcome(event.name, mode, elapsed)
    wire = encode(event.answer_serializer, answer, f"answer to event {event.name!r}")
    return Outcome(
        event.name,
        mode,
        elapsed,
        answer=wire.decode(errors="backslashreplace"),
        answer_type=type_label(type(answer)),
    )


def _failed(event: Event[Any, Any], mode: str, started: float, exc: BaseException) -> Outcome:
    elapsed = (time.perf_counter() - started) * 1000
    return Outcome(event.name, mode, elapsed, error_type=type(exc).__name__, error=scrub(str(exc)))
