"""One validator for the positive numbers that settings, declarations and options take."""

from __future__ import annotations

import math


def positive_number_problem(
    value: object, *, integer: bool = False, none_ok: bool = False, what: str = "value"
) -> str | None:
    """Why `value` is not a finite number > 0 (an int with `integer`; None with `none_ok`), or None."""
    if value is None and none_ok:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
        return f"{what} must be a positive number{' or None' if none_ok else ''}, got {value!r}."
    if integer and not isinstance(value, int):
        return f"{what} must be an int, got {value!r}."
    return None
