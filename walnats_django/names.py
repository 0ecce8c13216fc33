"""Validation of event and actor names against NATS subject and consumer rules."""

from __future__ import annotations

import re

from .errors import InvalidName

_TOKEN = r"[A-Za-z0-9_-]+"
_EVENT_NAME = re.compile(rf"{_TOKEN}(\.{_TOKEN})*")
_ACTOR_NAME = re.compile(_TOKEN)
MAX_NAME_LENGTH = 255


def event_name_problem(name: object) -> str | None:
    """Why `name` cannot be an event name (a NATS subject and stream name), or None."""
    if not isinstance(name, str) or not name:
        return f"event name must be a non-empty str, got {name!r}"
    if len(name) > MAX_NAME_LENGTH:
        return f"event name {name[:40]!r}... is longer than {MAX_NAME_LENGTH} characters"
    if not _EVENT_NAME.fullmatch(name):
        return (
            f"event name {name!r} is not a safe NATS subject: use letters, digits, '-' and '_', "
            "with '.' only between tokens (no spaces, '*', '>' or '$')"
        )
    if name.startswith("_INBOX") or name.startswith("walnats-"):
        return f"event name {name!r} is reserved (it starts with '_INBOX' or 'walnats-')"
    return None


def actor_name_problem(name: object) -> str | None:
    """Why `name` cannot be an actor (durable consumer) name, or None."""
    if not isinstance(name, str) or not name:
        return f"actor name must be a non-empty str, got {name!r}"
    if len(name) > MAX_NAME_LENGTH:
        return f"actor name {name[:40]!r}... is longer than {MAX_NAME_LENGTH} characters"
    if not _ACTOR_NAME.fullmatch(name):
        return (
            f"actor name {name!r} is not a safe durable consumer name: use letters, digits, '-' and '_' only"
        )
    return None


def is_subject(value: str) -> bool:
    """Whether `value` is a literal NATS subject (no wildcards, spaces or control chars)."""
    return len(value) <= MAX_NAME_LENGTH and _EVENT_NAME.fullmatch(value) is not None


def require_valid(problem: str | None) -> None:
    """Raise `InvalidName` when a name check found a problem."""
    if problem is not None:
        raise InvalidName(problem)
