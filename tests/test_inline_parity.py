"""inline() does not lie: the same calls give the same outcome in process as over a real nats-server
with a real worker (plain, and through `inline(live=True)`), dead letters included."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import nats
import pytest

import walnats_django
from tests.helpers import delete_streams, start_in_process, stop_in_process, unique
from tests.test_inline_support import (
    BAD_ANSWER,
    BIG_ANSWER,
    BROKEN,
    ECHO,
    FLAKY,
    LONELY,
    NOTE,
    NOWHERE,
    PROFILE,
    QUIET,
    REGISTRY,
    SLOW,
    SMALL,
    Profile,
    _forget_calls,  # noqa: F401 - the autouse fixture
    calls,
)
from walnats_django import RemoteError, WalnatsError, deadletters
from walnats_django.jetstream import ensure_stream
from walnats_django.testing import NatsServer, inline
from walnats_django.wire import HEADER_MSG_ID, encoded_size
from walnats_django.worker import Worker

WORKER_ACTORS = ("echo", "greet-profile", "broken", "flaky", "slow", "small", "bad-answer", "big-answer")
Call = Callable[[], Awaitable[Any]]


def uid_header_size(uid: str) -> int:
    return encoded_size({HEADER_MSG_ID: uid})


def scenarios(uid: str) -> list[tuple[str, Call]]:
    """Each call of the comparison; `uid` differs per mode (JetStream remembers uids for 2 minutes)."""
    fits_with_uid = "x" * (200 - 2 - uid_header_size(uid))

    async def duplicate_request() -> Any:
        await walnats_django.request(ECHO, "first", uid=uid)
        return await walnats_django.request(ECHO, "second", uid=uid)

    async def duplicate_emit() -> Any:
        await walnats_django.emit(QUIET, "first", uid=uid, wait=True)
        return await walnats_django.emit(QUIET, "second", uid=uid, wait=True)

    return [
        ("an answer", lambda: walnats_django.request(ECHO, "héllo")),
        ("a pydantic answer", lambda: walnats_django.request(PROFILE, Profile(name="Ada", tags=["x"]))),
        ("out of attempts", lambda: walnats_django.request(BROKEN, "abc")),
        ("a retry after the deadline", lambda: walnats_django.request(FLAKY, 1, timeout=4)),
        ("past job_timeout", lambda: walnats_django.request(SLOW, 5.0)),
        ("an answer that cannot be encoded", lambda: walnats_django.request(BAD_ANSWER, "x")),
        ("an answer over max_payload", lambda: walnats_django.request(BIG_ANSWER, 2 * 1024 * 1024)),
        ("no actors", lambda: walnats_django.request(LONELY, "anyone?")),
        ("no stream", lambda: walnats_django.request(NOWHERE, "x")),
        ("an emit nobody consumes", lambda: walnats_django.emit(QUIET, "x", wait=True)),
        ("a message at the stream's size limit", lambda: walnats_django.emit(SMALL, "x" * 198, wait=True)),
        ("a byte over it", lambda: walnats_django.emit(SMALL, "x" * 199, wait=True)),
        ("at the limit with headers", lambda: walnats_django.emit(SMALL, fits_with_uid, uid=uid, wait=True)),
        (
            "over it with headers",
            lambda: walnats_django.emit(SMALL, fits_with_uid + "x", uid=f"{uid}-2", wait=True),
        ),
        ("over the server's max_payload", lambda: walnats_django.emit(NOTE, "x" * 1024 * 1024)),
        ("a duplicate request", duplicate_request),
        ("a duplicate emit", duplicate_emit),
    ]


async def outcome(call: Call) -> tuple[Any, ...]:
    """What the caller saw, without what legitimately differs (sequence numbers, the hint after ';')."""
    try:
        value = await call()
    except RemoteError as exc:
        return ("RemoteError", exc.type_name, exc.actor, exc.remote_message)
    except WalnatsError as exc:
        what = re.sub(r"seq \d+", "seq N", str(exc)).split(";")[0]
        return (type(exc).__name__, what, getattr(exc, "code", None))
    return ("answer", value)


async def run_all(uid: str) -> dict[str, tuple[Any, ...]]:
    seen = {}
    for name, call in scenarios(uid):
        seen[name] = await outcome(call)
        seen[f"{name}: handler runs"] = (len(calls),)
        calls.clear()
    return seen


@pytest.fixture
async def real_worker(nats_server: NatsServer) -> AsyncIterator[None]:
    """The scenario actors in a real worker on this loop; LONELY and QUIET get streams without
    consumers (as after their last actor went away)."""
    actors = [a for a in REGISTRY.actors if a.name in WORKER_ACTORS]
    nc = await nats.connect(nats_server.url)
    try:
        for event in (LONELY, QUIET):
            await ensure_stream(nc.jetstream(), event)
        worker = Worker(actors)
        task = await start_in_process(worker)
        try:
            yield
        finally:
            await stop_in_process(worker, task)
            for event in REGISTRY.events:
                await deadletters.purge(nc.jetstream(), event=event.name)
    finally:
        await nc.close()
        await delete_streams(nats_server.url, *(e.stream_name for e in REGISTRY.events))


async def dead_letters_over_nats(url: str) -> list[tuple[str, str, int, str]]:
    nc = await nats.connect(url)
    try:
        letters = []
        for event in REGISTRY.events:
            letters += await deadletters.list_all(nc.jetstream(), event=event.name)
    finally:
        await nc.close()
    return sorted((letter.event, letter.actor, letter.attempts, letter.error) for letter in letters)


@pytest.mark.usefixtures("real_worker")
async def test_in_process_outcomes_match_a_real_server_and_worker(nats_server: NatsServer) -> None:
    with inline(registry=REGISTRY) as bus:
        in_process = await run_all(unique("uid"))
    over_nats = await run_all(unique("uid"))
    with inline(live=True) as live_bus:
        live = await run_all(unique("uid"))

    assert in_process == over_nats
    assert live == over_nats
    assert in_process["an answer"] == ("answer", "héllo"), "the comparison compares something"
    assert in_process["a byte over it"][0] == "PublishRejected"

    real_letters = await dead_letters_over_nats(nats_server.url)
    inline_letters = sorted((d.event, d.actor, d.attempts, d.error_text) for d in bus.dead_letters)
    # Every failure happened twice over NATS (plain and live), once in process.
    assert real_letters == sorted(inline_letters * 2)
    assert len(live_bus.messages) == len(bus.messages)
