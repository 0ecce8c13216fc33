"""Size and count limits.

Payloads at and one byte over the server's max_payload: the largest request and emit that fit
succeed, one byte more is refused before sending; answers and dead letters of such messages
fail or are recorded, never killing the connection. Backpressure: a full stream (`discard=new`)
refuses requests and emits with PublishRejected. Measurements are printed: run with `pytest -s` to see them.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
import types
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
from django.test import override_settings
from nats.js.errors import NotFoundError

import walnats_django
from tests.helpers import (
    DEAD_LETTER_LINE,
    StartWorker,
    WorkerProcess,
    await_line,
    record_lines,
    start_in_process,
    stop_in_process,
    unique,
    until,
)
from tests.testapp.fault_events import FB_BIG, FB_FULL
from walnats_django import (
    Actor,
    Event,
    PayloadTooLarge,
    PublishRejected,
    RemoteError,
    RequestTimeout,
    WalnatsError,
)
from walnats_django import deadletters as dl
from walnats_django.client import close_connection, get_connection
from walnats_django.jetstream import ensure_consumer, ensure_stream
from walnats_django.testing import NatsServer
from walnats_django.wire import HEADER_REPLY, HEADER_TRACE, encoded_size
from walnats_django.worker import Worker

# -- max_payload: a server of its own with 8 KiB -----------------------------------------------


SMALL_MAX_PAYLOAD = 8192


def _small_nats_server(folder: Path) -> NatsServer:
    """A nats-server whose max_payload is 8 KiB (set in a config file)."""
    config = folder / "nats.conf"
    config.write_text(f"max_payload: {SMALL_MAX_PAYLOAD}\n")
    return NatsServer(store_dir=folder / "store", extra_args=("-c", str(config)))


@pytest.fixture(scope="module")
def small_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """A server of this module's own whose max_payload is 8 KiB, for `big_worker`."""
    with _small_nats_server(tmp_path_factory.mktemp("small-payload")) as server:
        yield server


@pytest.fixture(scope="module")
def big_worker(small_server: NatsServer, start_worker: StartWorker) -> Iterator[WorkerProcess]:
    worker = start_worker("--actor", "fb-big", extra_env={"NATS_URL": small_server.url})
    yield worker
    worker.stop()


@pytest.fixture
async def on_small_server(small_server: NatsServer, big_worker: WorkerProcess) -> AsyncIterator[None]:
    with override_settings(WALNATS={"SERVERS": [small_server.url], "REQUEST_TIMEOUT": 5.0}):
        await close_connection()
        yield
        await close_connection()


@pytest.mark.usefixtures("on_small_server")
async def test_largest_request_that_fits_succeeds_and_one_byte_more_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    conn = await get_connection(2)
    assert conn.nc.max_payload == SMALL_MAX_PAYLOAD
    # The Walnats-Deadline header depends on the clock: pin it so the headers' size is known.
    now = float(int(time.time()))
    monkeypatch.setattr(
        walnats_django.publisher, "time", types.SimpleNamespace(time=lambda: now, monotonic=time.monotonic)
    )

    def request_headers() -> dict[str, str]:
        # The next request's token: its counter in hex plus 12 random hex digits.
        token = format(conn.mux._tokens._counter + 1, "x") + "0" * 12
        # No Walnats-Accept-Errors: the deadline already says the requester understands errors.
        return {"Walnats-Deadline": repr(now + 5.0), HEADER_REPLY: f"{conn.mux.inbox}.r{token}"}

    fits = SMALL_MAX_PAYLOAD - encoded_size(request_headers())
    started = time.monotonic()
    assert await walnats_django.request(FB_BIG, b"x" * fits, timeout=5) == fits
    fit_ms = (time.monotonic() - started) * 1000
    over = SMALL_MAX_PAYLOAD - encoded_size(request_headers()) + 1
    started = time.monotonic()
    with pytest.raises(PayloadTooLarge, match="max_payload"):
        await walnats_django.request(FB_BIG, b"x" * over, timeout=5)
    refused_ms = (time.monotonic() - started) * 1000
    assert refused_ms < 50, "refused before sending, not by the server"
    assert conn.nc.is_connected
    assert await walnats_django.request(FB_BIG, b"small", timeout=5) == 5
    assert (await get_connection(2)) is conn, "the same connection is still in use"
    print(
        f"\n[11] max_payload={SMALL_MAX_PAYLOAD}: request of {fits} payload bytes (+headers = "
        f"{SMALL_MAX_PAYLOAD}) answered in {fit_ms:.1f} ms; {over} bytes refused in {refused_ms:.2f} ms"
    )


@pytest.mark.usefixtures("on_small_server")
async def test_largest_emit_with_headers_fits_and_one_byte_more_is_refused(record_dir: Path) -> None:
    conn = await get_connection(2)
    uid = unique("big")
    headers = {"Nats-Msg-Id": uid, HEADER_TRACE: "trace-big"}
    fits = SMALL_MAX_PAYLOAD - encoded_size(headers)
    await walnats_django.emit(FB_BIG, b"y" * fits, uid=uid, trace_id="trace-big", wait=True)
    await until(
        lambda: str(fits) in record_lines(record_dir / "fb-big"), "the actor handled the largest emit"
    )
    with pytest.raises(PayloadTooLarge):
        await walnats_django.emit(
            FB_BIG, b"y" * (fits + 1), uid=unique("big"), trace_id="trace-big", wait=True
        )
    with pytest.raises(PayloadTooLarge):
        await walnats_django.emit(FB_BIG, b"y" * (fits + 1), uid=unique("big"), trace_id="trace-big")
    assert conn.nc.is_connected
    assert await walnats_django.request(FB_BIG, b"ok", timeout=5) == 2
    print(f"\n[11] emit with headers: {fits} payload bytes stored and handled; {fits + 1} refused")


@pytest.mark.usefixtures("on_small_server")
async def test_largest_emit_without_headers_fits(record_dir: Path) -> None:
    """Found by this suite: emit(wait=True) with no uid/trace/meta sent an empty header block.

    `Connection.publish_and_wait` passed `headers={}` to nats-py, which then sends HPUB with
    `NATS/1.0\\r\\n\\r\\n` (12 bytes), but `wire.encoded_size({})` counts 0 bytes: a payload of
    exactly max_payload passed the check and the server killed the connection ("maximum payload
    exceeded: 8204 vs 8192"); the caller got NatsUnavailable instead of success.
    """
    conn = await get_connection(2)
    await walnats_django.emit(FB_BIG, b"z" * SMALL_MAX_PAYLOAD, wait=True)
    await until(lambda: str(SMALL_MAX_PAYLOAD) in record_lines(record_dir / "fb-big"), "handled")
    assert conn.nc.is_connected


@pytest.mark.usefixtures("on_small_server")
async def test_failed_message_near_max_payload_still_becomes_a_dead_letter(
    big_worker: WorkerProcess,
    small_server: NatsServer,
) -> None:
    """Found by this suite: the dead letter of a large failed message exceeded max_payload.

    The dead letter held the payload base64-encoded inside JSON, so any payload over ~3/4 of the
    server's max_payload could not be recorded: `deadletters.record` failed with MaxPayloadError,
    `_give_up` nak'ed, and as the consumer's max_deliver is max_attempts the message was never
    delivered again: no dead letter, no retry, and the message sat in the stream.
    """
    since = big_worker.mark()
    payload = b"fail" + b"f" * 7000  # fits (with the request headers); base64 of it does not
    with pytest.raises(RemoteError):
        await walnats_django.request(FB_BIG, payload, timeout=5)
    line = await await_line(big_worker, "Dead letter recorded actor=fb-big", since, timeout=5)
    found = DEAD_LETTER_LINE.search(line)
    assert found is not None
    conn = await get_connection(2)
    letter = await dl.get(conn.js, int(found["dl"]))
    assert letter.payload_size == len(payload)


# -- max_payload: in-process workers on a server of the test's own -----------------------------


@pytest.fixture
def own_small_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A server of this test's own whose max_payload is 8 KiB."""
    with _small_nats_server(tmp_path) as server:
        yield server


@pytest.fixture
async def on_own_small_server(own_small_server: NatsServer) -> AsyncIterator[NatsServer]:
    """The requester (this process) on `own_small_server`."""
    with override_settings(WALNATS={"SERVERS": [own_small_server.url], "REQUEST_TIMEOUT": 5.0}):
        yield own_small_server
        await close_connection()


@pytest.mark.usefixtures("on_own_small_server")
async def test_dead_letter_of_a_max_payload_message_is_recorded(own_small_server: NatsServer) -> None:
    """deadletters.py:309-313 and 353-358: `to_message` keeps 64 bytes of slack, then `record`
    adds `Nats-Msg-Id: dl:<stream>:<seq>:<actor>` (20 bytes + the three) after the budget.

    With a stream and actor name of 25 + 30 characters that header takes 76 bytes, so the dead
    letter of a payload that filled max_payload is 12 bytes too large. nats-py checks only the
    body, the server rejects the HPUB and closes the worker's connection ("maximum payload
    exceeded"); `_give_up` retries forever (on the last attempt), killing the worker's
    connection - and every other actor's acks and answers - each time, and no dead letter is
    ever written.
    """
    event = Event("review.orders-created-big", bytes)

    async def refuse(data: bytes) -> None:
        raise ValueError("refused")

    actor = Actor("review-send-confirmation-email", event, refuse, max_attempts=1)
    worker = Worker([actor], shutdown_timeout=1)
    task = await start_in_process(worker)
    nc = await nats.connect(own_small_server.url)
    try:
        await walnats_django.emit(event, b"x" * SMALL_MAX_PAYLOAD, wait=True)
        js = nc.jetstream()
        letters: list[dl.DeadLetter] = []

        async def recorded() -> bool:
            letters[:] = await dl.list_all(js, actor=actor.name)
            return bool(letters)

        deadline = time.monotonic() + 6
        while not await recorded() and time.monotonic() < deadline:  # noqa: ASYNC110 - polls NATS
            await asyncio.sleep(0.2)
        assert letters, "no dead letter was recorded for the failed max_payload message"
    finally:
        await nc.close()
        await stop_in_process(worker, task)


@pytest.mark.usefixtures("on_own_small_server")
async def test_answer_over_max_payload_fails_the_request_at_once() -> None:
    """worker.py:317-328: `_answer` publishes without a size check or error handling.

    nats-py raises MaxPayloadError inside the job task (an exception nobody retrieves: it only
    surfaces as "Task exception was never retrieved" at garbage collection), the message is
    already acked, and the requester waits out its timeout for an outcome the worker knew.
    """
    event = Event("review.big-answer", str).with_response(bytes)

    async def big(text: str) -> bytes:
        return b"a" * (SMALL_MAX_PAYLOAD + 1)

    worker = Worker([Actor("review-big-answer", event, big)], shutdown_timeout=1)
    task = await start_in_process(worker)
    try:
        started = time.monotonic()
        outcome: BaseException | None = None
        try:
            await walnats_django.request(event, "x", timeout=3)
        except WalnatsError as exc:
            outcome = exc
        took = time.monotonic() - started
        # The job task's MaxPayloadError is never retrieved: collect it now, or its finalizer
        # ("Task exception was never retrieved") can run inside pytest's traceback rendering and
        # trip CPython 3.11's "AST constructor recursion depth mismatch" (an INTERNALERROR).
        gc.collect()
        shown = f"got {type(outcome).__name__} after {took:.1f}s instead of an error answer"
        assert not isinstance(outcome, RequestTimeout), shown
        assert took < 1.5, shown
    finally:
        await stop_in_process(worker, task)


# -- backpressure: a full stream ---------------------------------------------------------------


async def test_full_stream_rejects_requests_and_sync_emits(raw: nats.NATS) -> None:
    conn = await get_connection(2)
    with contextlib.suppress(NotFoundError):
        await conn.js.delete_stream(FB_FULL.stream_name)
    await ensure_stream(conn.js, FB_FULL)
    await ensure_consumer(conn.js, Actor("fb-full", FB_FULL, lambda text: text))  # no worker runs it
    await walnats_django.emit(FB_FULL, "one", wait=True)
    await walnats_django.emit(FB_FULL, "two", wait=True)
    started = time.monotonic()
    with pytest.raises(PublishRejected) as rejected:
        await walnats_django.request(FB_FULL, "three", timeout=5)
    request_ms = (time.monotonic() - started) * 1000
    with pytest.raises(PublishRejected) as rejected_emit:
        await walnats_django.emit(FB_FULL, "three", wait=True)
    message = str(rejected.value)
    assert FB_FULL.stream_name in message
    assert "maximum messages" in message.lower()
    assert "Limits" in message
    assert rejected.value.code is not None
    assert str(rejected_emit.value) == message
    assert request_ms < 500
    state = (await raw.jetstream().stream_info(FB_FULL.stream_name)).state
    assert state.messages == 2, "discard=new: the accepted messages were kept"
    await conn.js.delete_stream(FB_FULL.stream_name)
    print(f"\n[backpressure] PublishRejected in {request_ms:.1f} ms: {message}")
