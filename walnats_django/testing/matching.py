"""Matching recorded payloads (`where=`) and the wording of failed bus assertions."""

from __future__ import annotations

import collections
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .records import Emitted

Where = Callable[[Any], bool] | Mapping[str, Any] | None
"""A predicate on the payload, or attribute (or, for dict payloads, key) values it must have."""

_MISSING = object()


def check_where(where: object) -> None:
    """Raise `TypeError` for a `where=` that is neither a callable nor a mapping."""
    if where is not None and not callable(where) and not isinstance(where, Mapping):
        raise TypeError(
            f"where= takes a callable(payload) -> bool or a dict of attribute values, got {where!r:.80}."
        )


def matches(where: Where, payload: Any) -> bool:
    """Whether `payload` satisfies `where` (None matches everything)."""
    if where is None:
        return True
    if isinstance(where, Mapping):
        return all(_field(payload, name) == value for name, value in where.items())
    return bool(where(payload))


def _field(payload: Any, name: str) -> Any:
    if isinstance(payload, Mapping):
        return payload.get(name, _MISSING)
    return getattr(payload, name, _MISSING)


def describe_where(where: Where) -> str:
    if where is None:
        return ""
    if isinstance(where, Mapping):
        return " where " + ", ".join(f"{name}={value!r}" for name, value in where.items())
    return f" where {getattr(where, '__qualname__', repr(where))}(payload)"


def times_text(times: int | None) -> str:
    if times is None:
        return "at least once"
    return {0: "never", 1: "once"}.get(times, f"{times} times")


def what_was_emitted(
    name: str, found: Sequence[Emitted], matching: int, everything: Sequence[Emitted]
) -> str:
    """The second half of an assertion message: the messages of the event, or what else was sent."""
    if found:
        listed = "\n".join(f"  {i}. {message!r}" for i, message in enumerate(found, 1))
        return f"it was emitted {times_text(len(found))} ({matching} matching):\n{listed}"
    counts = collections.Counter(m.event.name for m in everything if m.stored)
    if not counts:
        return "nothing was emitted at all."
    others = ", ".join(f"{other!r} {times_text(n)}" for other, n in counts.items())
    return f"it was not emitted; the bus saw {others}."
