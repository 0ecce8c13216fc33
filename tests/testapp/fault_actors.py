"""Actors of the fault suite (tests/faults/); their side effects go to files in WALNATS_TEST_RECORD_DIR.

Grouped by the test module that uses them, as their events in fault_events.py.
"""

import asyncio
import contextlib
import os
import time

from walnats_django import registry

from .fault_events import (
    FA_DURABLE,
    FA_GRACE,
    FA_KILL,
    FA_LOAD,
    FA_LONG,
    FA_LONG_SYNC,
    FA_MANY,
    FA_OUTAGE,
    FA_SHORT,
    FB_AUTH,
    FB_BAD,
    FB_BIG,
    FB_DEAD,
    FB_DL,
    FB_DLFAIL,
    FB_DUP,
    FB_EXPIRE,
    FB_FORGE,
    FB_LOST,
    FB_NOREG,
    FB_RETRY,
    FB_SLOW,
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


# -- test_outages.py ---------------------------------------------------------------------------


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


# -- test_worker_crashes.py --------------------------------------------------------------------


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


@registry.actor("fa-grace", FA_GRACE)
async def fa_grace(text: str) -> str:
    _record("fa-grace-start", text)
    await asyncio.sleep(1.0)
    _record("fa-grace-done", text)
    return text


# -- test_deadlines.py -------------------------------------------------------------------------


@registry.actor("fb-slow", FB_SLOW)
async def fb_slow(seconds: float) -> float:
    _record("fb-slow-start", repr(seconds))
    await asyncio.sleep(seconds)
    _record("fb-slow-done", repr(seconds))
    return seconds


@registry.actor("fb-expire", FB_EXPIRE)
async def fb_expire(text: str) -> str:
    _record("fb-expire", text)
    return text


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


# -- test_dead_letters.py (fb-dead answers with errors in test_reply_security.py, too) ---------


@registry.actor("fb-dead", FB_DEAD, max_attempts=3, retry_delay=(0.05,))
def fb_dead(text: str) -> int:
    _record("fb-dead", text)
    raise ValueError(f"fb-dead always fails: {text}")


@registry.actor("fb-bad", FB_BAD, max_attempts=5, retry_delay=(0.05,))
async def fb_bad(text: str) -> str:
    _record("fb-bad", text)  # never runs: only undecodable payloads are sent
    return text


@registry.actor("fb-retry", FB_RETRY, max_attempts=2, retry_delay=(0.5, 3))
def fb_retry(text: str) -> str:
    _record("fb-retry", f"{text} {time.time()!r}")
    raise RuntimeError(f"fb-retry fails: {text}")


@registry.actor("fb-dlfail", FB_DLFAIL, max_attempts=2, retry_delay=(0.05,))
def fb_dlfail(text: str) -> None:
    _record("fb-dlfail", text)
    raise ValueError(f"fb-dlfail always fails: {text}")


# -- test_deadletters_command.py ---------------------------------------------------------------


@registry.actor("fb-dl-ok", FB_DL)
def fb_dl_ok(text: str) -> None:
    _record("fb-dl-ok", text)


@registry.actor("fb-dl-flaky", FB_DL, max_attempts=2, retry_delay=(0.05,))
def fb_dl_flaky(text: str) -> None:
    folder = _folder()
    if folder is None or not (folder / f"fb-dl-flag-{text}").exists():
        _record("fb-dl-flaky", f"failed {text}")
        raise ValueError(f"fb-dl-flaky: no flag for {text}")
    _record("fb-dl-flaky", f"done {text}")


# -- test_consumers.py -------------------------------------------------------------------------


@registry.actor("fb-lost", FB_LOST)
async def fb_lost(text: str) -> str:
    return text


@registry.actor("fb-noreg", FB_NOREG)
async def fb_noreg(text: str) -> str:
    return text


# -- test_limits.py ----------------------------------------------------------------------------


@registry.actor("fb-big", FB_BIG, max_attempts=1)
async def fb_big(data: bytes) -> int:
    _record("fb-big", str(len(data)))
    if data.startswith(b"fail"):
        raise ValueError(f"fb-big refuses {len(data)} bytes")
    return len(data)


# -- test_reply_security.py --------------------------------------------------------------------


@registry.actor("fb-forge", FB_FORGE)
async def fb_forge(text: str) -> str:
    _record("fb-forge", text)
    return text


# -- test_duplicates.py ------------------------------------------------------------------------


@registry.actor("fb-dup", FB_DUP)
async def fb_dup(text: str) -> str:
    _record("fb-dup", text)
    return text


# -- test_credentials.py, test_tls_nkeys.py ----------------------------------------------------


@registry.actor("fb-auth", FB_AUTH)
async def fb_auth(text: str) -> str:
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
    "fb_auth",
    "fb_bad",
    "fb_big",
    "fb_dead",
    "fb_dl_flaky",
    "fb_dl_ok",
    "fb_dlfail",
    "fb_dup",
    "fb_expire",
    "fb_forge",
    "fb_lost",
    "fb_noreg",
    "fb_retry",
    "fb_slow",
]
