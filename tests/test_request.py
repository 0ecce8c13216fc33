"""request()/emit() against a real nats-server and a real runactors subprocess."""

from __future__ import annotations

import asyncio
import time

import nats
import pytest
from django.test import override_settings

import walnats_django
from project.example.events import COUNT_WORDS
from tests.helpers import StartWorker, WorkerProcess, delete_streams, start_in_process, stop_in_process
from tests.testapp.events import ECHO, FAIL, INBOX_ECHO, LONELY
from walnats_django import (
    Actor,
    Event,
    EventNotRegistered,
    NoActors,
    NotARequestEvent,
    PayloadTooLarge,
    PayloadTypeError,
    RemoteError,
    RequestTimeout,
    publisher,
)
from walnats_django.client import close_connection, get_connection
from walnats_django.client.connection import Connection
from walnats_django.jetstream import ensure_stream
from walnats_django.testing import NatsServer
from walnats_django.worker import Worker

pytestmark = pytest.mark.usefixtures("worker")


async def test_seed_example_counts_words() -> None:
    assert await walnats_django.request(COUNT_WORDS, "some random text", timeout=2) == 3


async def test_concurrent_requests_share_one_connection() -> None:
    texts = [f"word {i} " * (i % 7) for i in range(200)]
    counts = await asyncio.gather(*(walnats_django.request(COUNT_WORDS, t) for t in texts))
    assert counts == [len(t.split()) for t in texts]
    conn = await get_connection(1)
    assert len(conn.nc._subs) == 1, "one muxed inbox, no subscription per request"
    assert await get_connection(1) is conn


def test_request_sync_from_plain_thread() -> None:
    assert walnats_django.request_sync(ECHO, "hello") == "hello"
    assert walnats_django.request_sync(ECHO, "again") == "again"


async def test_request_sync_inside_event_loop_is_refused() -> None:
    from django.core.exceptions import SynchronousOnlyOperation

    with pytest.raises(SynchronousOnlyOperation, match="await request"):
        walnats_django.request_sync(ECHO, "x")


async def test_handler_error_is_remote_error_at_once() -> None:
    started = time.monotonic()
    with pytest.raises(RemoteError) as info:
        await walnats_django.request(FAIL, "abc", timeout=4)
    assert time.monotonic() - started < 1.0
    assert info.value.type_name == "ValueError"
    assert "cannot count 'abc'" in info.value.remote_message
    assert info.value.actor == "fail"


async def test_no_stream_is_event_not_registered_at_once() -> None:
    ghost = Event("test.ghost", str).with_response(str)
    started = time.monotonic()
    with pytest.raises(EventNotRegistered):
        await walnats_django.request(ghost, "x", timeout=4)
    assert time.monotonic() - started < 0.5


async def test_stream_without_actor_is_no_actors_fast() -> None:
    conn = await get_connection(1)
    await ensure_stream(conn.js, LONELY)
    started = time.monotonic()
    with pytest.raises(NoActors):
        await walnats_django.request(LONELY, "x", timeout=4)
    assert time.monotonic() - started < 0.1


async def test_wrong_payload_type_fails_before_sending() -> None:
    with pytest.raises(PayloadTypeError, match="must be str, got int"):
        await walnats_django.request(COUNT_WORDS, 42)  # type: ignore[arg-type]


async def test_request_needs_event_with_response() -> None:
    plain = Event("test.note", str)
    with pytest.raises(NotARequestEvent):
        await walnats_django.request(plain, "x")  # type: ignore[arg-type]


async def test_payload_over_max_payload_is_refused_and_connection_stays_usable() -> None:
    conn = await get_connection(1)
    with pytest.raises(PayloadTooLarge, match="max_payload"):
        await walnats_django.request(ECHO, "x" * conn.nc.max_payload)
    assert await walnats_django.request(ECHO, "still fine") == "still fine"


async def test_timeout_is_request_timeout(worker: WorkerProcess) -> None:
    from tests.testapp.events import SLOW

    conn = await get_connection(1)
    await ensure_stream(conn.js, SLOW)
    # The stream has the `slow` consumer only when a worker registered it; no worker runs it
    # here, so the message waits: the request must end with RequestTimeout after ~timeout.
    from tests.testapp.actors import slow  # noqa: F401
    from walnats_django import registry
    from walnats_django.jetstream import ensure_consumer

    actor = next(a for a in registry.actors if a.name == "slow")
    await ensure_consumer(conn.js, actor)
    started = time.monotonic()
    with pytest.raises(RequestTimeout) as info:
        await walnats_django.request(SLOW, 0.0, timeout=0.3)
    assert 0.3 <= time.monotonic() - started < 1.0
    assert isinstance(info.value, TimeoutError)
    await conn.js.purge_stream(SLOW.stream_name)


async def test_a_custom_inbox_prefix_end_to_end(start_worker: StartWorker) -> None:
    prefix = "walnats-test-inbox"  # outside _INBOX: a worker with the default would refuse it
    custom = start_worker("--actor", "inbox-echo", extra_env={"WALNATS_TEST_INBOX_PREFIX": prefix})
    try:
        with override_settings(WALNATS={"REQUEST_TIMEOUT": 4.0, "INBOX_PREFIX": prefix}):
            await close_connection()
            conn = await get_connection(2)
            assert conn.mux.inbox.startswith(f"{prefix}.")
            assert await walnats_django.request(INBOX_ECHO, "hello", timeout=4) == "hello"
            await close_connection()
        # A requester on the default prefix is refused by that worker (unsafe reply subject).
        since = custom.mark()
        with pytest.raises(RequestTimeout):
            await walnats_django.request(INBOX_ECHO, "refused", timeout=0.5)
        custom.wait_for_line("Refused unsafe reply subject actor=inbox-echo", since=since)
    finally:
        custom.stop()


async def test_no_actors_is_not_raised_once_an_actor_consumes_the_stream(nats_server: NatsServer) -> None:
    """connection.py:362-370: the consumer count is cached for 1 s, including a count of 0.

    A request that found no actor caches 0; an actor that comes up within that second (a
    deploy where web starts before workers) is ignored: every request whose answer takes
    more than 20 ms fails with NoActors although an actor will answer it.
    """
    event = Event("review.fresh-actor", str).with_response(str)

    async def slow_echo(text: str) -> str:
        await asyncio.sleep(0.2)
        return text

    conn = await get_connection(2)
    await ensure_stream(conn.js, event)
    worker: Worker | None = None
    task: asyncio.Task[None] | None = None
    try:
        with pytest.raises(NoActors):
            await walnats_django.request(event, "nobody", timeout=2)
        noticed = time.monotonic()
        worker = Worker([Actor("review-fresh-actor", event, slow_echo)])
        task = await start_in_process(worker)
        if time.monotonic() - noticed > 0.8:
            pytest.skip("the worker took too long to start to show the stale cache")
        outcome: object
        try:
            outcome = await walnats_django.request(event, "somebody", timeout=3)
        except NoActors as exc:
            outcome = exc
        assert outcome == "somebody", f"an actor is consuming the stream, yet: {outcome!r}"
    finally:
        if worker is not None and task is not None:
            await stop_in_process(worker, task)
        await delete_streams(nats_server.url, event.stream_name)


async def test_emit_wait_counts_the_time_spent_connecting(
    monkeypatch: pytest.MonkeyPatch, nats_server: NatsServer
) -> None:
    """BUG (publisher.emit): emit(wait=True) waited REQUEST_TIMEOUT for its PubAck after getting
    a connection, however long that took (a new connection after a node left): up to twice
    REQUEST_TIMEOUT in all, where request() keeps to its timeout."""
    silent = Event("test.silent-emit", str)
    nc = await nats.connect(nats_server.url)
    try:
        # Something takes the publish (so no "no responders") and never sends a PubAck.
        await nc.subscribe(silent.subject)
        connect = publisher.get_connection

        async def slow_connection(timeout: float) -> Connection:
            await asyncio.sleep(0.5)
            return await connect(timeout)

        monkeypatch.setattr(publisher, "get_connection", slow_connection)
        with override_settings(WALNATS={"REQUEST_TIMEOUT": 1.0}):
            started = time.monotonic()
            with pytest.raises(RequestTimeout):
                await walnats_django.emit(silent, "x", wait=True)
            waited = time.monotonic() - started
    finally:
        await nc.close()
    assert waited < 1.2, f"emit(wait=True) with REQUEST_TIMEOUT 1 s waited {waited:.2f}s"
