"""Actors of fault suite part a; their side effects go to files in WALNATS_TEST_RECORD_DIR."""

import asyncio
import contextlib
import os
import time

from walnats_django import registry

from .faults_a_events import (
    FA_DURABLE,
    FA_GRACE,
    FA_KILL,
    FA_LOAD,
    FA_LONG,
    FA_LONG_SYNC,
    FA_MANY,
    FA_OUTAGE,
    FA_SHORT,
)
from .records import record as _record
from .records import record_folder as _folder


def _recorded(name: str) -> list[str]:
    folder = _folder()
    try:
        return (folder / name).read_text().splitlines() if folder is not None else []
    except FileNotFoundError:
        return []


def _effect_once(name: str, key: str) -> None:
    """An idempotent side effect: create `<name>/<key>` exclusively; a second time is a no-op."""
    folder = _folder()
    if folder is None:
        return
    (folder / name).mkdir(exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(folder / name / key, os.O_CREAT | os.O_EXCL | os.O_WRONLY))


@registry.actor("fa-kill", FA_KILL, ack_wait=1)
async def fa_kill(text: str) -> str:
    """Blocks for 30 s the first time it sees `text` (so a test can kill it), then answers in 0.5 s."""
    first = not any(line.split(" ")[0] == text for line in _recorded("fa-kill-start"))
    _record("fa-kill-start", f"{text} {os.getpid()}")
    await asyncio.sleep(30 if first else 0.5)
    return text


@registry.actor("fa-many", FA_MANY, ack_wait=1)
async def fa_many(text: str) -> None:
    _record("fa-many-seen", text)
    _effect_once("fa-many-effects", text)
    await asyncio.sleep(0.01)  # a window between the side effect and the ack for kill -9 to hit


@registry.actor("fa-load", FA_LOAD)
async def fa_load(text: str) -> str:
    return text


@registry.actor("fa-durable", FA_DURABLE, ack_wait=1)
async def fa_durable(text: str) -> None:
    _record("fa-durable", text)


@registry.actor("fa-short", FA_SHORT)
async def fa_short(text: str) -> str:
    return text


@registry.actor("fa-outage", FA_OUTAGE, ack_wait=2)
async def fa_outage(seconds: float) -> float:
    _record("fa-outage-start", str(seconds))
    await asyncio.sleep(seconds)
    _record("fa-outage-done", str(seconds))
    return seconds


@registry.actor("fa-long", FA_LONG, ack_wait=1)
async def fa_long(seconds: float) -> float:
    _record("fa-long-start", str(seconds))
    await asyncio.sleep(seconds)
    _record("fa-long-done", str(seconds))
    return seconds


@registry.actor("fa-long-sync", FA_LONG_SYNC, ack_wait=1)
def fa_long_sync(seconds: float) -> float:
    """Sleeps for the first third, then busy-loops on the CPU (holding the GIL most of the time)."""
    _record("fa-long-sync-start", str(seconds))
    started = time.monotonic()
    time.sleep(seconds / 3)
    spins = 0
    while time.monotonic() - started < seconds:
        spins += sum(range(1000)) > 0
    _record("fa-long-sync-done", f"{seconds} spins={spins}")
    return seconds


@registry.actor("fa-grace", FA_GRACE)
async def fa_grace(text: str) -> str:
    _record("fa-grace-start", text)
    await asyncio.sleep(1.0)
    _record("fa-grace-done", text)
    return text


__all__ = [
    "fa_durable",
    "fa_grace",
    "fa_kill",
    "fa_load",
    "fa_long",
    "fa_long_sync",
    "fa_many",
    "fa_outage",
    "fa_short",
]
