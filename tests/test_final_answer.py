"""The caller's answer is final, and it is the best one.

While a retry can still answer before the caller's deadline, a failure stays silent; the
caller hears `RemoteError` only when the actor gives up, and then the message is
dead-lettered, never run again. With several actors on one request event, one actor's
failure does not pre-empt another's success.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import nats
import pytest

import walnats_django
from tests.helpers import delete_streams, settled, start_in_process, stop_in_process
from walnats_django import Actor, Event, RemoteError
from walnats_django.deadletters import list_all, purge
from walnats_django.testing import NatsServer
from walnats_django.worker import Worker

Handler = Callable[[str], Awaitable[str]]


def failing(calls: list[str], failures: int, *, answer: str = "ok", pause: float = 0.0) -> Handler:
    """A handler that fails its first `failures` calls, then answers."""

    async def handler(text: str) -> str:
        calls.append(text)
        if pause:
            await asyncio.sleep(pause)
        if len(calls) <= failures:
            raise ValueError(f"failure {len(calls)}")
        return answer

    return handler


@pytest.fixture
async def running(nats_server: NatsServer) -> AsyncIterator[Callable[..., Awaitable[Worker]]]:
    """Start in-process workers for ad-hoc actors; stop them and drop their streams after."""
    started: list[tuple[Worker, asyncio.Task[None]]] = []
    streams: set[str] = set()

    async def run(*actors: Actor[str, str]) -> Worker:
        worker = Worker(list(actors), shutdown_timeout=2)
        started.append((worker, await start_in_process(worker)))
        streams.update(a.event.stream_name for a in actors)
        return worker

    yield run
    for worker, task in started:
        await stop_in_process(worker, task)
    nc = await nats.connect(nats_server.url)
    for stream in streams:
        await purge(nc.jetstream(), event=stream.replace("-", "."))
    await nc.close()
    await delete_streams(nats_server.url, *streams)


async def test_failures_with_time_left_are_retried_silently(
    running: Callable[..., Awaitable[Worker]],
) -> None:
    event = Event("final.retried", str).with_response(str)
    calls: list[str] = []
    await running(Actor("final-retried", event, failing(calls, 2), max_attempts=5, retry_delay=(0.05,)))
    assert await walnats_django.request(event, "x", timeout=4) == "ok", (
        "no RemoteError for a failure retried in time"
    )
    assert calls == ["x", "x", "x"]


async def test_the_last_attempt_answers_and_the_message_is_never_run_again(
    running: Callable[..., Awaitable[Worker]], nats_server: NatsServer
) -> None:
    event = Event("final.exhausted", str).with_response(str)
    calls: list[str] = []
    await running(Actor("final-exhausted", event, failing(calls, 99), max_attempts=3, retry_delay=(0.05,)))
    with pytest.raises(RemoteError, match="failure 3"):
        await walnats_django.request(event, "x", timeout=4)
    assert calls == ["x", "x", "x"], "the caller hears of the last attempt only"
    nc = await nats.connect(nats_server.url)
    await settled(nc.jetstream(), event.stream_name, "final-exhausted")
    letters = await list_all(nc.jetstream(), event=event.name)
    await nc.close()
    assert [letter.attempts for letter in letters] == [3]
    assert calls == ["x", "x", "x"]


async def test_a_retry_that_would_come_after_the_deadline_gives_up_at_once(
    running: Callable[..., Awaitable[Worker]], nats_server: NatsServer
) -> None:
    event = Event("final.late", str).with_response(str)
    calls: list[str] = []
    await running(Actor("final-late", event, failing(calls, 99), max_attempts=5, retry_delay=(2.0,)))
    started = time.monotonic()
    with pytest.raises(RemoteError, match="failure 1"):
        await walnats_django.request(event, "x", timeout=1)
    assert time.monotonic() - started < 0.5, "known at once: the retry could not answer within 1 s"
    nc = await nats.connect(nats_server.url)
    info = await settled(nc.jetstream(), event.stream_name, "final-late")
    letters = await list_all(nc.jetstream(), event=event.name)
    await nc.close()
    assert info.num_redelivered == 0
    assert [letter.attempts for letter in letters] == [1], (
        "dead-lettered: it will not run after the caller heard"
    )
    assert calls == ["x"]


async def test_one_actors_failure_does_not_preempt_anothers_success(
    running: Callable[..., Awaitable[Worker]],
) -> None:
    event = Event("final.two", str).with_response(str)
    failed: list[str] = []
    answered: list[str] = []
    await running(
        Actor("final-two-fails", event, failing(failed, 99), max_attempts=1),
        Actor("final-two-answers", event, failing(answered, 0, answer="ok", pause=0.05)),
    )
    started = time.monotonic()
    assert await walnats_django.request(event, "x", timeout=4) == "ok"
    assert time.monotonic() - started >= 0.05, "the slower success, not the quick failure"
    assert failed == ["x"]


async def test_remote_error_only_when_every_actor_gave_up(running: Callable[..., Awaitable[Worker]]) -> None:
    event = Event("final.both", str).with_response(str)
    first: list[str] = []
    second: list[str] = []
    await running(
        Actor("final-both-a", event, failing(first, 99), max_attempts=1),
        Actor("final-both-b", event, failing(second, 99, pause=0.1), max_attempts=1),
    )
    started = time.monotonic()
    with pytest.raises(RemoteError):
        await walnats_django.request(event, "x", timeout=4)
    assert time.monotonic() - started >= 0.1, "waited for the second actor to give up as well"
    assert (first, second) == (["x"], ["x"])


async def test_emits_keep_retrying_up_to_max_attempts(
    running: Callable[..., Awaitable[Worker]], nats_server: NatsServer
) -> None:
    event = Event("final.emitted", str)
    calls: list[str] = []

    async def handler(text: str) -> None:
        calls.append(text)
        raise ValueError("always")

    await running(Actor("final-emitted", event, handler, max_attempts=3, retry_delay=(0.05,)))
    await walnats_django.emit(event, "x", wait=True)
    nc = await nats.connect(nats_server.url)
    await settled(nc.jetstream(), event.stream_name, "final-emitted")
    await nc.close()
    assert calls == ["x", "x", "x"], "no caller waits: every attempt runs, as in walnats 1.2.6"
