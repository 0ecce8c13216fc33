"""An event's stream and its actors' consumers as the code declares them beside the server's, with drift.

A difference in a field the code declares is drift: `runactors` applies the code's value when it
starts (storage excepted: JetStream cannot change it in place). A field the code leaves unset
keeps whatever the server has, so a value there is shown, not flagged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from nats.js.api import ConsumerConfig, StreamConfig

from ..actors import Actor
from ..events import Event
from ..jetstream import consumer_config, declared_fields, stream_config
from .formatting import duration, number

APPLIED_AT_START = "differs: runactors applies the code's value when it starts"
STORAGE_FIXED = "differs: JetStream cannot change storage in place (see `manage.py check` to migrate)"
SERVER_ONLY = "set on the server only: the code names none, so the server's value stays"


@dataclasses.dataclass(frozen=True)
class Setting:
    """One configuration field: the code's value, the server's, and what a difference means."""

    label: str
    code: str
    server: str | None
    """None when there is no live configuration (NATS down, stream not created)."""
    note: str | None = None
    """Why the values differ, or None when they agree."""
    drift: bool = False
    """The values differ in a field the code declares."""


def _unlimited(value: Any) -> Any:
    # JetStream spells "no limit" -1 (and 0 for max_age); nats-py keeps that.
    return None if value is None or (isinstance(value, int | float) and value <= 0) else value


def _text(value: Any) -> Any:
    value = getattr(value, "value", value)
    return value or None


@dataclasses.dataclass(frozen=True)
class _Field:
    label: str
    key: str
    """The StreamConfig/ConsumerConfig attribute (and the JetStream JSON key)."""
    normalize: Callable[[Any], Any]
    show: Callable[[Any], str]


def _show_limit(unit: str = "") -> Callable[[Any], str]:
    return lambda value: "unlimited" if value is None else f"{number(value)}{unit}"


def _show_text(value: Any) -> str:
    return "none" if value is None else str(value)


_STREAM_FIELDS = (
    _Field("Subjects", "subjects", lambda v: tuple(v or ()) or None, lambda v: ", ".join(v or ()) or "none"),
    _Field("Retention", "retention", _text, _show_text),
    _Field("Discard when full", "discard", _text, _show_text),
    _Field("Storage", "storage", _text, _show_text),
    _Field("Replicas", "num_replicas", lambda v: v or 1, str),
    _Field("Max age", "max_age", _unlimited, lambda v: "unlimited" if v is None else duration(v)),
    _Field("Max messages", "max_msgs", _unlimited, _show_limit()),
    _Field("Max bytes", "max_bytes", _unlimited, _show_limit(" bytes")),
    _Field("Max message size", "max_msg_size", _unlimited, _show_limit(" bytes")),
    _Field("Max consumers", "max_consumers", _unlimited, _show_limit()),
    _Field("Description", "description", _text, _show_text),
)

_UNSET = {
    "storage": "not set (file for a new stream)",
    "num_replicas": "not set (WALNATS REPLICAS for a new stream)",
}


def stream_settings(event: Event[Any, Any], server: StreamConfig | None) -> list[Setting]:
    """The event's stream fields: the code's (what `runactors` creates and updates) beside `server`'s."""
    code = stream_config(event)
    declared = declared_fields(event)
    rows = []
    for field in _STREAM_FIELDS:
        mine = field.normalize(getattr(code, field.key))
        named = field.key in declared
        shown = field.show(mine) if named or field.key not in _UNSET else _UNSET[field.key]
        if server is None:
            rows.append(Setting(field.label, shown, None))
            continue
        theirs = field.normalize(getattr(server, field.key))
        if mine == theirs or (not named and field.key in _UNSET):
            rows.append(Setting(field.label, shown, field.show(theirs)))
        elif named:
            note = STORAGE_FIXED if field.key == "storage" else APPLIED_AT_START
            rows.append(Setting(field.label, shown, field.show(theirs), note, drift=True))
        else:
            rows.append(Setting(field.label, shown, field.show(theirs), SERVER_ONLY))
    return rows


_CONSUMER_FIELDS = (
    _Field("ack_wait", "ack_wait", lambda v: float(v) if v else None, lambda v: f"{number(v)} s"),
    _Field("max_attempts", "max_deliver", _unlimited, _show_limit()),
    _Field("max_ack_pending", "max_ack_pending", _unlimited, _show_limit()),
    _Field("description", "description", _text, _show_text),
)


def consumer_settings(actor: Actor[Any, Any], server: ConsumerConfig | None) -> dict[str, Setting]:
    """The actor's consumer fields (all declared: `runactors` applies them at start) beside `server`'s."""
    code = consumer_config(actor)
    found = {}
    for field in _CONSUMER_FIELDS:
        mine = field.normalize(getattr(code, field.key))
        if server is None:
            found[field.label] = Setting(field.label, field.show(mine), None)
            continue
        theirs = field.normalize(getattr(server, field.key))
        differs = mine != theirs
        found[field.label] = Setting(
            field.label,
            field.show(mine),
            field.show(theirs),
            APPLIED_AT_START if differs else None,
            drift=differs,
        )
    return found
