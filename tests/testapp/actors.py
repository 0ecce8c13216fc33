"""Actors used by the tests; their side effects go to files the tests read."""

import asyncio
import time

from walnats_django import registry

from .events import ECHO, FAIL, HANG, INBOX_ECHO, NOTE, SLOW, SLOW_SYNC
from .records import record as _record


@registry.actor("echo", ECHO)
async def echo(text: str) -> str:
    return text


@registry.actor("fail", FAIL, max_attempts=3, retry_delay=(0.05,))
def fail(text: str) -> int:
    _record("fail", text)
    raise ValueError(f"cannot count {text!r}")


@registry.actor("slow", SLOW, ack_wait=2)
async def slow(seconds: float) -> float:
    _record("slow-start", str(seconds))
    await asyncio.sleep(seconds)
    _record("slow-done", str(seconds))
    return seconds


@registry.actor("slow-sync", SLOW_SYNC, ack_wait=2)
def slow_sync(seconds: float) -> float:
    _record("slow-sync-start", str(seconds))
    time.sleep(seconds)
    _record("slow-sync-done", str(seconds))
    return seconds


@registry.actor("hang", HANG, job_timeout=0.2, max_attempts=1)
async def hang(seconds: float) -> float:
    await asyncio.sleep(seconds)
    return seconds


@registry.actor("note", NOTE)
def note(text: str) -> None:
    _record("note", text)


# Actors of the fault suite (tests/faults/) live in a module of their own.
from .fault_actors import *  # noqa: E402, F403


@registry.actor("inbox-echo", INBOX_ECHO)
async def inbox_echo(text: str) -> str:
    """Echo, for a worker started with its own INBOX_PREFIX."""
    return text


from .events import SKEWED_ECHO  # noqa: E402


@registry.actor("skewed-echo", SKEWED_ECHO)
async def skewed_echo(text: str) -> str:
    """Echo, for the worker of tests/test_clock_skew.py whose clock runs ahead (it should never run)."""
    _record("skewed-echo", text)
    return text


# Actors of the cluster fault suite (tests/cluster/).
from .cluster_actors import *  # noqa: E402, F403
