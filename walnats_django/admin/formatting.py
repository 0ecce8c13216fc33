"""How the admin pages word numbers, durations, sizes and types ("1 consumer", "86,400 s (1 day)")."""

from __future__ import annotations

import datetime

from django.template.defaultfilters import filesizeformat, pluralize
from django.utils import timezone
from django.utils.timesince import timesince


def type_label(schema: object) -> str:
    """`module.Name` for classes (just `Name` for builtins), the repr for anything else."""
    if isinstance(schema, type):
        if schema.__module__ == "builtins":
            return schema.__qualname__
        return f"{schema.__module__}.{schema.__qualname__}"
    return repr(schema)


def short_type(schema: object) -> str:
    """The class name alone (`SignUp`), for narrow columns; the full label goes in a tooltip."""
    if isinstance(schema, type):
        return schema.__qualname__
    return repr(schema)


def number(value: float) -> str:
    """`86400` -> "86,400", `0.5` -> "0.5"."""
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,g}"


def count(value: int, noun: str, plural: str | None = None) -> str:
    """`count(1, "consumer")` -> "1 consumer", `count(1000, "message")` -> "1,000 messages"."""
    word = noun if value == 1 else (plural or noun + pluralize(value))
    return f"{number(value)} {word}"


_UNITS = ((86400, "day"), (3600, "hour"), (60, "minute"))


def duration(seconds: float) -> str:
    """Seconds, and from a minute on the largest unit too: "90 s (1.5 minutes)", "86,400 s (1 day)"."""
    shown = f"{number(seconds)} s"
    for size, unit in _UNITS:
        if seconds >= size:
            amount = round(seconds / size, 2)
            return f"{shown} ({number(amount)} {unit}{pluralize(amount)})"
    return shown


def size(value: int) -> str:
    """Bytes as "1.5 MB" (filesizeformat), exact below 1 KB."""
    return str(filesizeformat(value))


def ago(when: datetime.datetime | None, now: datetime.datetime | None = None) -> str:
    """ "never", "12 s ago", "3 minutes ago"."""
    if when is None:
        return "never"
    seconds = ((now or timezone.now()) - when).total_seconds()
    if seconds < 60:
        return f"{max(int(seconds), 0)} s ago"
    return f"{timesince(when, now)} ago"
