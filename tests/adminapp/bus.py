"""The admin tests' events and actors, declared but not registered (events.py and actors.py do that)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.testapp.records import record, record_folder
from walnats_django import Actor, Event, Limits

BROKEN = "admin-job-broken"
"""While this file exists in the record folder, the `admin-job` actor fails."""


def greet(name: str) -> str:
    if name == "boom":
        raise ValueError(f"cannot greet {name!r}")
    return f"Hello, {name}!"


def job(text: str) -> None:
    folder = record_folder()
    if folder is not None and (folder / BROKEN).exists():
        raise RuntimeError(f"switched off, cannot handle {text!r}")
    record("admin-job", text)


def keep(number: int) -> None:
    """Acknowledges everything: the live actor beside an orphan consumer."""


GREET: Event[str, str] = Event("test.admin-greet", str, description="Admin tests: greets.").with_response(str)
JOB: Event[str, None] = Event("test.admin-job", str, description="Admin tests: fails while switched off.")
LIMITED: Event[int, None] = Event("test.admin-limited", int, limits=Limits(messages=20))

GREET_ACTOR = Actor("admin-greet", GREET, greet, description="Answers Hello.", max_attempts=1)
JOB_ACTOR = Actor("admin-job", JOB, job, max_attempts=1)
KEEP_ACTOR = Actor("admin-keep", LIMITED, keep)

EVENTS: tuple[Event[Any, Any], ...] = (GREET, JOB, LIMITED)
ACTORS: tuple[Actor[Any, Any], ...] = (GREET_ACTOR, JOB_ACTOR, KEEP_ACTOR)
ITEMS: tuple[Event[Any, Any] | Actor[Any, Any], ...] = (*EVENTS, *ACTORS)
WORKER_ARGS = ("--actor", "admin-greet", "--actor", "admin-job", "--actor", "admin-keep")
SETTINGS = "tests.adminapp.settings"


def broken_switch(folder: Path) -> Path:
    return folder / BROKEN
