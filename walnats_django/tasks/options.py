"""A WalnatsBackend's `OPTIONS`, read and validated once; problems become system checks."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from ..validation import positive_number_problem

DEFAULTS: dict[str, Any] = {
    "RETRIES": 0,  # runs after a failed (raised, timed out or lost) attempt; Django's backends make none
    "RETRY_DELAY": (1.0, 5.0, 30.0),  # seconds before retry N; the last value repeats
    "JOB_TIMEOUT": 600.0,  # seconds an attempt may run
    "RESULT_TTL": 7 * 24 * 3600.0,  # seconds a result is kept after its last change (None: for ever)
    "ACK_WAIT": 16.0,  # seconds of worker silence before JetStream hands a task to another worker
    "MAX_JOBS": 16,  # tasks of one queue at once in one worker process
}


@dataclasses.dataclass(frozen=True)
class TaskOptions:
    """The OPTIONS of one WalnatsBackend, with the defaults filled in."""

    retries: int = DEFAULTS["RETRIES"]
    retry_delay: tuple[float, ...] = DEFAULTS["RETRY_DELAY"]
    job_timeout: float = DEFAULTS["JOB_TIMEOUT"]
    result_ttl: float | None = DEFAULTS["RESULT_TTL"]
    ack_wait: float = DEFAULTS["ACK_WAIT"]
    max_jobs: int = DEFAULTS["MAX_JOBS"]

    def retry_delay_for(self, failures: int) -> float:
        """Seconds before the retry that follows failure number `failures` (1-based)."""
        if not self.retry_delay:
            return 0.0
        return self.retry_delay[min(max(failures, 1), len(self.retry_delay)) - 1]


def parse_options(alias: str, raw: object) -> tuple[TaskOptions, list[str]]:
    """The options `raw` describes and what is wrong with it (wrong values keep their default)."""
    where = f"TASKS[{alias!r}]['OPTIONS']"
    if not isinstance(raw, Mapping):
        return TaskOptions(), [f"{where} must be a dict, got {type(raw).__name__}."]
    problems: list[str] = []
    unknown = sorted(map(str, set(raw) - set(DEFAULTS)))
    if unknown:
        problems.append(f"Unknown {where} key(s): {', '.join(unknown)} (known: {', '.join(DEFAULTS)}).")
    values: dict[str, Any] = {}

    def take(key: str, problem: str | None, value: Any) -> None:
        if problem is None:
            values[key.lower()] = value
        else:
            problems.append(problem)

    if "RETRIES" in raw:
        retries = raw["RETRIES"]
        ok = isinstance(retries, int) and not isinstance(retries, bool) and retries >= 0
        take("RETRIES", None if ok else f"{where}['RETRIES'] must be an int >= 0, got {retries!r}.", retries)
    if "RETRY_DELAY" in raw:
        delays, problem = _delays(raw["RETRY_DELAY"], f"{where}['RETRY_DELAY']")
        take("RETRY_DELAY", problem, delays)
    for key in ("JOB_TIMEOUT", "ACK_WAIT"):
        if key in raw:
            take(key, positive_number_problem(raw[key], what=f"{where}[{key!r}]"), float(_number(raw[key])))
    if "RESULT_TTL" in raw:
        ttl = raw["RESULT_TTL"]
        problem = positive_number_problem(ttl, none_ok=True, what=f"{where}['RESULT_TTL']")
        take("RESULT_TTL", problem, None if ttl is None else float(_number(ttl)))
    if "MAX_JOBS" in raw:
        jobs = raw["MAX_JOBS"]
        take("MAX_JOBS", positive_number_problem(jobs, integer=True, what=f"{where}['MAX_JOBS']"), jobs)
    return TaskOptions(**values), problems


def _number(value: object) -> float:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _delays(value: object, what: str) -> tuple[tuple[float, ...], str | None]:
    items = [value] if isinstance(value, int | float) else value
    if isinstance(items, str | bytes) or not isinstance(items, list | tuple):
        return (), f"{what} must be seconds or a list of seconds, got {value!r}."
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int | float) or not 0 <= item < math.inf:
            return (), f"{what} values must be numbers >= 0, got {item!r}."
    return tuple(float(item) for item in items), None
