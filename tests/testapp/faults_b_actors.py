"""Actors of fault suite part b; their side effects go to files in WALNATS_TEST_RECORD_DIR."""

import asyncio
import time

from walnats_django import registry

from .faults_b_events import (
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


@registry.actor("fb-dead", FB_DEAD, max_attempts=3, retry_delay=(0.05,))
def fb_dead(text: str) -> int:
    _record("fb-dead", text)
    raise ValueError(f"fb-dead always fails: {text}")


@registry.actor("fb-bad", FB_BAD, max_attempts=5, retry_delay=(0.05,))
async def fb_bad(text: str) -> str:
    _record("fb-bad", text)  # never runs: only undecodable payloads are sent
    return text


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


@registry.actor("fb-lost", FB_LOST)
async def fb_lost(text: str) -> str:
    return text


@registry.actor("fb-noreg", FB_NOREG)
async def fb_noreg(text: str) -> str:
    return text


@registry.actor("fb-big", FB_BIG, max_attempts=1)
async def fb_big(data: bytes) -> int:
    _record("fb-big", str(len(data)))
    if data.startswith(b"fail"):
        raise ValueError(f"fb-big refuses {len(data)} bytes")
    return len(data)


@registry.actor("fb-forge", FB_FORGE)
async def fb_forge(text: str) -> str:
    _record("fb-forge", text)
    return text


@registry.actor("fb-dup", FB_DUP)
async def fb_dup(text: str) -> str:
    _record("fb-dup", text)
    return text


@registry.actor("fb-retry", FB_RETRY, max_attempts=2, retry_delay=(0.5, 3))
def fb_retry(text: str) -> str:
    _record("fb-retry", f"{text} {time.time()!r}")
    raise RuntimeError(f"fb-retry fails: {text}")


@registry.actor("fb-auth", FB_AUTH)
async def fb_auth(text: str) -> str:
    return text


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


@registry.actor("fb-dlfail", FB_DLFAIL, max_attempts=2, retry_delay=(0.05,))
def fb_dlfail(text: str) -> None:
    _record("fb-dlfail", text)
    raise ValueError(f"fb-dlfail always fails: {text}")
