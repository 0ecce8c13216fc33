"""Events and actors of the inline test mode's tests, in a registry of their own (no tests here).

Handlers append to `calls` (the tests run them in process, so no record files are needed).
`inline(registry=REGISTRY)` makes the bus use them; the parity tests host the same actors in a
real worker.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import Iterator
from typing import Any

import pydantic
import pytest

import walnats_django
from walnats_django import Event, Limits, Registry

REGISTRY = Registry()
calls: list[tuple[str, Any]] = []
"""(actor name, payload) per handler run, in order."""
threads: list[int] = []
"""The thread id of each sync handler run."""


@pytest.fixture(autouse=True)
def _forget_calls() -> Iterator[None]:
    calls.clear()
    threads.clear()
    yield
    calls.clear()
    threads.clear()


def ran(actor: str) -> list[Any]:
    """The payloads `actor` was called with."""
    return [payload for name, payload in calls if name == actor]


@dataclasses.dataclass
class Order:
    id: int
    items: list[str]


class Profile(pydantic.BaseModel):
    name: str
    tags: list[str]


ECHO = REGISTRY.add(Event("inline.echo", str).with_response(str))
SHOUT = REGISTRY.add(Event("inline.shout", str).with_response(str))
ORDER = REGISTRY.add(Event("inline.order", Order).with_response(int))
PROFILE = REGISTRY.add(Event("inline.profile", Profile).with_response(Profile))
NOTE = REGISTRY.add(Event("inline.note", str))
FLAKY = REGISTRY.add(Event("inline.flaky", int).with_response(int))
BROKEN = REGISTRY.add(Event("inline.broken", str).with_response(int))
BROKEN_EMIT = REGISTRY.add(Event("inline.broken-emit", str))
FOREVER = REGISTRY.add(Event("inline.forever", str).with_response(str))
CHAIN = REGISTRY.add(Event("inline.chain", str).with_response(str))
CHAIN_SYNC = REGISTRY.add(Event("inline.chain-sync", str).with_response(str))
SLOW = REGISTRY.add(Event("inline.slow", float).with_response(float))
SLOW_SYNC = REGISTRY.add(Event("inline.slow-sync", float).with_response(float))
SMALL = REGISTRY.add(Event("inline.small", str, limits=Limits(message_size=200)).with_response(str))
BAD_ANSWER = REGISTRY.add(Event("inline.bad-answer", str).with_response(Order))
BIG_ANSWER = REGISTRY.add(Event("inline.big-answer", int).with_response(bytes))
LONELY = REGISTRY.add(Event("inline.lonely", str).with_response(str))
"""Registered, no actor."""
QUIET = REGISTRY.add(Event("inline.quiet", str))
"""Registered, no actor."""
NOWHERE = Event("inline.nowhere", str).with_response(str)
"""Not registered: no stream would capture it."""
NOWHERE_EMIT = Event("inline.nowhere-emit", str)


def _ran(name: str, payload: Any) -> None:
    calls.append((name, payload))


@REGISTRY.actor("echo", ECHO)
async def echo(text: str) -> str:
    _ran("echo", text)
    return text


@REGISTRY.actor("shout", SHOUT)
def shout(text: str) -> str:
    _ran("shout", text)
    threads.append(threading.get_ident())
    return text.upper()


@REGISTRY.actor("count-items", ORDER)
def count_items(order: Order) -> int:
    _ran("count-items", order)
    order.items.append("added by the handler")  # must not reach the caller's object
    return len(order.items) - 1


@REGISTRY.actor("greet-profile", PROFILE)
async def greet_profile(profile: Profile) -> Profile:
    _ran("greet-profile", profile)
    return Profile(name=f"Hello {profile.name}", tags=[*profile.tags, "greeted"])


@REGISTRY.actor("note-sync", NOTE)
def note_sync(text: str) -> None:
    _ran("note-sync", text)
    threads.append(threading.get_ident())


@REGISTRY.actor("note-async", NOTE)
async def note_async(text: str) -> None:
    _ran("note-async", text)


@REGISTRY.actor("flaky", FLAKY, max_attempts=4, retry_delay=(30,))
def flaky(failures: int) -> int:
    """Fails its first `failures` runs (per payload), then answers how many runs it took."""
    _ran("flaky", failures)
    runs = len(ran("flaky"))
    if runs <= failures:
        raise ConnectionError(f"flaky run {runs}")
    return runs


@REGISTRY.actor("broken", BROKEN, max_attempts=2, retry_delay=(0,))
def broken(text: str) -> int:
    _ran("broken", text)
    raise ValueError(f"cannot count {text!r}")


@REGISTRY.actor("broken-emit", BROKEN_EMIT, max_attempts=2, retry_delay=(0,))
async def broken_emit(text: str) -> None:
    _ran("broken-emit", text)
    raise KeyError(text)


@REGISTRY.actor("forever", FOREVER, retry_delay=(0,))
def forever(text: str) -> str:
    """max_attempts None: a worker would retry this forever."""
    _ran("forever", text)
    raise RuntimeError("still broken")


@REGISTRY.actor("chain", CHAIN)
async def chain(text: str) -> str:
    await walnats_django.emit(NOTE, f"{text} noted")
    return await walnats_django.request(SHOUT, text)


@REGISTRY.actor("chain-sync", CHAIN_SYNC)
def chain_sync(text: str) -> str:
    threads.append(threading.get_ident())
    walnats_django.emit_sync(NOTE, f"{text} noted")
    return walnats_django.request_sync(SHOUT, text)


@REGISTRY.actor("slow", SLOW, job_timeout=0.2, max_attempts=1)
async def slow(seconds: float) -> float:
    _ran("slow", seconds)
    await asyncio.sleep(seconds)
    return seconds


@REGISTRY.actor("slow-sync", SLOW_SYNC, job_timeout=0.2, max_attempts=1)
def slow_sync(seconds: float) -> float:
    _ran("slow-sync", seconds)
    time.sleep(seconds)
    return seconds


@REGISTRY.actor("small", SMALL)
async def small(text: str) -> str:
    return text


@REGISTRY.actor("bad-answer", BAD_ANSWER)
async def bad_answer(text: str) -> Order:
    return text  # type: ignore[return-value]  # not an Order: the answer cannot be encoded


@REGISTRY.actor("big-answer", BIG_ANSWER)
async def big_answer(size: int) -> bytes:
    return b"x" * size
