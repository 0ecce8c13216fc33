"""Fault suite, part b: real `runactors` processes and a real nats-server, one event per case.

Every wait is on an event (a log line, an answer, a file line, a JetStream number); where a test
proves that something did NOT happen it first awaits a later event that implies it would have.
Measurements are printed (run with `-s`) for the closing note.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
import types
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from django.test import override_settings
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerInfo, StreamConfig
from nats.js.errors import NotFoundError
from walnats_django.connection import close_connection, get_connection

import walnats_django
from tests.helpers import StartWorker, WorkerProcess
from tests.testapp.faults_b_events import (
    FB_BAD,
    FB_BIG,
    FB_DEAD,
    FB_DLFAIL,
    FB_DUP,
    FB_EXPIRE,
    FB_FORGE,
    FB_FULL,
    FB_LOST,
    FB_NOREG,
    FB_RETRY,
    FB_SLOW,
)
from walnats_django import (
    Actor,
    DuplicateRequest,
    InvalidHeader,
    PayloadTooLarge,
    PublishRejected,
    RemoteError,
    RequestTimeout,
    registry,
)
from walnats_django import deadletters as dl
from walnats_django.jetstream import ensure_consumer, ensure_stream
from walnats_django.testing import NatsServer
from walnats_django.wire import (
    HEADER_ACCEPT_ERRORS,
    HEADER_ACTOR,
    HEADER_ERROR,
    HEADER_REPLY,
    HEADER_TRACE,
    encoded_size,
)

DEAD_LETTER_LINE = re.compile(
    r"Dead letter recorded actor=(?P<actor>\S+) stream=(?P<stream>\S+) seq=(?P<seq>\d+) "
    r"attempts=(?P<attempts>\d+) dead_letter=(?P<dl>\d+)"
)


# ---------------------------------------------------------------------------------------- helpers


def _actor(name: str) -> Actor[Any, Any]:
    return next(a for a in registry.actors if a.name == name)


def _lines(record_dir: Path, name: str) -> list[str]:
    path = record_dir / name
    return path.read_text().splitlines() if path.exists() else []


async def _line(worker: WorkerProcess, needle: str, since: int = 0, timeout: float = 15.0) -> str:
    return await asyncio.to_thread(worker.wait_for_line, needle, timeout, since)


async def _until(check: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
    """Await a condition (a file line, a JetStream number): poll it until true or fail."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        await asyncio.sleep(0.02)


async def _settled(js: JetStreamContext, stream: str, consumer: str) -> ConsumerInfo:
    """The consumer's info once nothing is pending or unacked (acks are applied asynchronously)."""
    infos: list[ConsumerInfo] = []

    async def check() -> bool:
        infos.append(await js.consumer_info(stream, consumer))
        return infos[-1].num_ack_pending == 0 and infos[-1].num_pending == 0

    await _until(check, f"consumer {consumer} has nothing pending or unacked", timeout=5)
    return infos[-1]


async def _stream_holds(js: JetStreamContext, stream: str, messages: int) -> None:
    """Await the stream's message count (interest retention removes acked messages asynchronously)."""

    async def check() -> bool:
        return (await js.stream_info(stream)).state.messages == messages

    await _until(check, f"stream {stream} holds {messages} message(s)", timeout=5)


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def fb_worker(start_worker: StartWorker) -> Iterator[WorkerProcess]:
    """One worker for the part-b actors that answer or fail on their own."""
    worker = start_worker(
        "--actor",
        "fb-dead",
        "--actor",
        "fb-bad",
        "--actor",
        "fb-slow",
        "--actor",
        "fb-forge",
        "--actor",
        "fb-dup",
        "--actor",
        "fb-retry",
    )
    yield worker
    worker.stop()


@pytest.fixture
async def raw(nats_server: NatsServer) -> AsyncIterator[nats.NATS]:
    """A plain nats-py connection, as a walnats peer or an attacker would have."""
    nc = await nats.connect(nats_server.url)
    yield nc
    await nc.close()


# ------------------------------------------------------- 5. a handler that always raises: dead letter


async def test_always_failing_handler_gets_max_attempts_then_one_dead_letter(
    fb_worker: WorkerProcess, raw: nats.NATS, record_dir: Path
) -> None:
    text = _unique("dead")
    since = fb_worker.mark()
    started = time.monotonic()
    with pytest.raises(RemoteError) as info:
        await walnats_django.request(FB_DEAD, text, timeout=5)
    answered_in = time.monotonic() - started
    assert info.value.type_name == "ValueError"
    assert info.value.actor == "fb-dead"
    assert text in info.value.remote_message
    assert answered_in < 1.0, "the requester learns about the failure at once, not at its timeout"

    line = await _line(fb_worker, "Dead letter recorded actor=fb-dead", since)
    found = DEAD_LETTER_LINE.search(line)
    assert found is not None, line
    stream_seq, dl_seq = int(found["seq"]), int(found["dl"])
    assert found["stream"] == FB_DEAD.stream_name
    assert int(found["attempts"]) == 3
    dead_at = time.monotonic() - started

    js = raw.jetstream()
    await _settled(js, FB_DEAD.stream_name, "fb-dead")
    deliveries = [x for x in _lines(record_dir, "fb-dead") if x == text]
    assert len(deliveries) == 3, "exactly max_attempts deliveries"
    failed = [x for x in fb_worker.lines[since:] if f"Job failed actor=fb-dead seq={stream_seq} " in x]
    assert len(failed) == 3

    letters = [x for x in await dl.list_all(js, actor="fb-dead") if x.stream_seq == stream_seq]
    assert len(letters) == 1, "exactly one dead letter"
    letter = letters[0]
    assert letter.seq == dl_seq
    assert letter.event == FB_DEAD.name
    assert letter.stream == FB_DEAD.stream_name
    assert letter.attempts == 3
    assert letter.error.startswith("ValueError: fb-dead always fails")
    assert letter.payload == json.dumps(text).encode()
    assert letter.payload_size == len(letter.payload)
    assert letter.failed_at
    assert HEADER_REPLY in letter.headers
    await _stream_holds(js, FB_DEAD.stream_name, 0)  # the terminated message left the interest stream
    print(
        f"\n[5] RemoteError after {answered_in * 1000:.0f} ms; deliveries={len(deliveries)}; "
        f"dead letter #{dl_seq} after {dead_at:.2f}s; stream messages=0"
    )


# ------------------------------------------------- 6. undecodable / wrong-schema payloads: no retries


@pytest.mark.parametrize(
    "payload",
    [b"\xff not json", b"42", b'{"text": "a dict"}', b"", b'"unterminated'],
    ids=["binary", "int", "dict", "empty", "broken"],
)
async def test_undecodable_payload_is_terminated_at_once_with_raw_dead_letter(
    fb_worker: WorkerProcess, raw: nats.NATS, record_dir: Path, payload: bytes
) -> None:
    js = raw.jetstream()
    before = await js.consumer_info(FB_BAD.stream_name, "fb-bad")
    inbox = raw.new_inbox()
    sub = await raw.subscribe(inbox)
    since = fb_worker.mark()
    started = time.monotonic()
    ack = await js.publish(FB_BAD.subject, payload, headers={HEADER_REPLY: inbox, HEADER_ACCEPT_ERRORS: "1"})
    answer = await sub.next_msg(timeout=5)
    answered_in = time.monotonic() - started
    assert (answer.headers or {}).get(HEADER_ERROR) == "SerializationError"
    line = await _line(
        fb_worker,
        f"Dead letter recorded actor=fb-bad stream={FB_BAD.stream_name} seq={ack.seq} attempts=1",
        since,
    )
    found = DEAD_LETTER_LINE.search(line)
    assert found is not None
    terminated = [
        x
        for x in fb_worker.lines[since:]
        if f"Undecodable message terminated actor=fb-bad stream={FB_BAD.stream_name} seq={ack.seq} " in x
    ]
    assert len(terminated) == 1

    after = await _settled(js, FB_BAD.stream_name, "fb-bad")
    assert after.num_redelivered == 0
    assert after.delivered.consumer_seq - before.delivered.consumer_seq == 1, "delivered exactly once"
    letter = await dl.get(js, int(found["dl"]))
    assert letter.payload == payload, "the raw bytes are kept"
    assert letter.payload_size == len(payload)
    assert letter.attempts == 1
    assert letter.error.startswith("SerializationError")
    await _stream_holds(js, FB_BAD.stream_name, 0)
    assert _lines(record_dir, "fb-bad") == [], "the handler never ran"
    print(
        f"\n[6] {payload[:12]!r}: error answer in {answered_in * 1000:.0f} ms, deliveries="
        f"{after.delivered.consumer_seq - before.delivered.consumer_seq}, "
        f"redelivered={after.num_redelivered}, dead letter #{letter.seq}"
    )


# ----------------------------------------------------------------- 8. timeouts and expired requests


async def test_caller_timeout_then_late_answer_is_harmless(
    fb_worker: WorkerProcess, record_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    loop = asyncio.get_running_loop()
    loop_errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: loop_errors.append(context))
    conn = await get_connection(2)
    late: asyncio.Queue[Msg] = asyncio.Queue()

    async def spy(msg: Msg) -> None:
        if msg.subject.startswith(f"{conn.inbox}.r") and msg.data == b"3.0":
            await late.put(msg)

    # A second subscription on the same connection and inbox sees what the muxed one gets.
    spy_sub = await conn.nc.subscribe(conn.inbox + ".*", cb=spy)
    try:
        started = time.monotonic()
        with pytest.raises(RequestTimeout):
            await walnats_django.request(FB_SLOW, 3.0, timeout=1)
        timed_out_in = time.monotonic() - started
        assert 0.95 <= timed_out_in < 1.5
        answer = await asyncio.wait_for(late.get(), timeout=10)
        late_in = time.monotonic() - started
        assert answer.data == b"3.0"
        # The late answer reached the muxed inbox of this connection; it must change nothing.
        assert await walnats_django.request(FB_SLOW, 0.01, timeout=5) == 0.01
        assert (await get_connection(2)) is conn
        assert conn.usable
    finally:
        await spy_sub.unsubscribe()
        loop.set_exception_handler(None)
    assert loop_errors == []
    assert [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL", "WARNING")] == []
    assert "3.0" in _lines(record_dir, "fb-slow-done")
    print(
        f"\n[8] RequestTimeout after {timed_out_in:.3f}s (timeout 1s); late answer arrived after "
        f"{late_in:.2f}s and was ignored; next request answered"
    )


async def test_request_whose_deadline_passed_before_delivery_never_runs(
    start_worker: StartWorker, raw: nats.NATS, record_dir: Path
) -> None:
    conn = await get_connection(2)
    await ensure_stream(conn.js, FB_EXPIRE)
    await ensure_consumer(conn.js, _actor("fb-expire"))  # the actor exists, no worker runs it yet
    text = _unique("expired")
    started = time.monotonic()
    with pytest.raises(RequestTimeout):
        await walnats_django.request(FB_EXPIRE, text, timeout=0.5)
    timed_out_in = time.monotonic() - started
    js = raw.jetstream()
    state = (await js.stream_info(FB_EXPIRE.stream_name)).state
    assert state.messages == 1, "the request waits in the stream"
    seq = state.last_seq

    worker = start_worker("--actor", "fb-expire")
    await _line(worker, f"Dropped expired request actor=fb-expire seq={seq}")
    # A later request is answered: the worker got past the expired one for good.
    assert await walnats_django.request(FB_EXPIRE, "fresh", timeout=5) == "fresh"
    consumer = await _settled(js, FB_EXPIRE.stream_name, "fb-expire")
    assert consumer.num_redelivered == 0
    assert _lines(record_dir, "fb-expire") == ["fresh"], "the expired request never reached the handler"
    worker.signal()
    assert await asyncio.to_thread(worker.wait) == 0
    assert "expired=1" in worker.log()
    print(
        f"\n[8] expired request: RequestTimeout after {timed_out_in:.2f}s; worker dropped seq={seq} "
        "without running the handler"
    )


# ----------------------------------------------------------------- 10. consumer deleted under a worker


async def test_deleted_consumer_is_noticed_and_recreated(start_worker: StartWorker, raw: nats.NATS) -> None:
    worker = start_worker("--actor", "fb-lost")
    assert await walnats_django.request(FB_LOST, "before", timeout=5) == "before"
    js = raw.jetstream()
    since = worker.mark()
    started = time.monotonic()
    await js.delete_consumer(FB_LOST.stream_name, "fb-lost")
    line = await _line(worker, "Consumer gone actor=fb-lost", since, timeout=10)
    noticed_in = time.monotonic() - started
    assert "re-creating" in line

    async def exists() -> bool:
        try:
            await js.consumer_info(FB_LOST.stream_name, "fb-lost")
        except NotFoundError:
            return False
        return True

    await _until(exists, "the consumer is re-created")
    recreated_in = time.monotonic() - started
    assert await walnats_django.request(FB_LOST, "after", timeout=5) == "after"
    assert worker.process.poll() is None
    assert noticed_in < 5
    print(
        f"\n[10] consumer deletion noticed after {noticed_in:.2f}s, re-created after {recreated_in:.2f}s, "
        "next request answered"
    )
    worker.signal()
    assert await asyncio.to_thread(worker.wait) == 0


async def test_deleted_consumer_with_no_register_exits_with_a_clear_error(
    start_worker: StartWorker, raw: nats.NATS
) -> None:
    conn = await get_connection(2)
    await ensure_stream(conn.js, FB_NOREG)
    await ensure_consumer(conn.js, _actor("fb-noreg"))
    worker = start_worker("--actor", "fb-noreg", "--no-register")
    assert await walnats_django.request(FB_NOREG, "before", timeout=5) == "before"
    started = time.monotonic()
    await raw.jetstream().delete_consumer(FB_NOREG.stream_name, "fb-noreg")
    code = await asyncio.to_thread(worker.wait, 15)
    exited_in = time.monotonic() - started
    assert code != 0
    log = worker.log()
    assert "CommandError: consumer 'fb-noreg' on stream 'faults-b-noreg' is gone" in log
    assert "--no-register" in log
    assert "Traceback" not in log
    print(
        f"\n[10] --no-register worker exited {code} after {exited_in:.2f}s: "
        f"{next(x for x in worker.lines if 'CommandError' in x)}"
    )


async def test_no_register_without_consumer_exits_with_a_clear_error(start_worker: StartWorker) -> None:
    conn = await get_connection(2)
    await ensure_stream(conn.js, FB_NOREG)
    with contextlib.suppress(NotFoundError):
        await conn.js.delete_consumer(FB_NOREG.stream_name, "fb-noreg")
    worker = start_worker("--actor", "fb-noreg", "--no-register", wait=False)
    code = await asyncio.to_thread(worker.wait, 15)
    assert code != 0
    assert "CommandError: consumer 'fb-noreg' on stream 'faults-b-noreg' is gone" in worker.log()


# ------------------------------------------------------------------------ 11. payload at max_payload

SMALL_MAX_PAYLOAD = 8192


@pytest.fixture(scope="module")
def small_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """A server of its own whose max_payload is 8 KiB (set in a config file)."""
    folder = tmp_path_factory.mktemp("small-payload")
    config = folder / "nats.conf"
    config.write_text(f"max_payload: {SMALL_MAX_PAYLOAD}\n")
    with NatsServer(store_dir=folder / "store", extra_args=("-c", str(config))) as server:
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
        token = format(conn._counter + 1, "x") + "0" * 12
        # No Walnats-Accept-Errors: the deadline already says the requester understands errors.
        return {"Walnats-Deadline": repr(now + 5.0), HEADER_REPLY: f"{conn.inbox}.r{token}"}

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
    assert conn.usable
    assert await walnats_django.request(FB_BIG, b"small", timeout=5) == 5
    assert (await get_connection(2)) is conn, "the same connection is still in use"
    print(
        f"\n[11] max_payload={SMALL_MAX_PAYLOAD}: request of {fits} payload bytes (+headers = "
        f"{SMALL_MAX_PAYLOAD}) answered in {fit_ms:.1f} ms; {over} bytes refused in {refused_ms:.2f} ms"
    )


@pytest.mark.usefixtures("on_small_server")
async def test_largest_emit_with_headers_fits_and_one_byte_more_is_refused(record_dir: Path) -> None:
    conn = await get_connection(2)
    uid = _unique("big")
    headers = {"Nats-Msg-Id": uid, HEADER_TRACE: "trace-big"}
    fits = SMALL_MAX_PAYLOAD - encoded_size(headers)
    await walnats_django.emit(FB_BIG, b"y" * fits, uid=uid, trace_id="trace-big", sync=True)
    await _until(lambda: str(fits) in _lines(record_dir, "fb-big"), "the actor handled the largest emit")
    with pytest.raises(PayloadTooLarge):
        await walnats_django.emit(
            FB_BIG, b"y" * (fits + 1), uid=_unique("big"), trace_id="trace-big", sync=True
        )
    with pytest.raises(PayloadTooLarge):
        await walnats_django.emit(FB_BIG, b"y" * (fits + 1), uid=_unique("big"), trace_id="trace-big")
    assert conn.usable
    assert await walnats_django.request(FB_BIG, b"ok", timeout=5) == 2
    print(f"\n[11] emit with headers: {fits} payload bytes stored and handled; {fits + 1} refused")


@pytest.mark.usefixtures("on_small_server")
async def test_largest_emit_without_headers_fits(record_dir: Path) -> None:
    """Found by this suite: emit(sync=True) with no uid/trace/meta sent an empty header block.

    `Connection.publish_and_wait` passed `headers={}` to nats-py, which then sends HPUB with
    `NATS/1.0\\r\\n\\r\\n` (12 bytes), but `wire.encoded_size({})` counts 0 bytes: a payload of
    exactly max_payload passed the check and the server killed the connection ("maximum payload
    exceeded: 8204 vs 8192"); the caller got NatsUnavailable instead of success.
    """
    conn = await get_connection(2)
    await walnats_django.emit(FB_BIG, b"z" * SMALL_MAX_PAYLOAD, sync=True)
    await _until(lambda: str(SMALL_MAX_PAYLOAD) in _lines(record_dir, "fb-big"), "handled")
    assert conn.usable


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
    line = await _line(big_worker, "Dead letter recorded actor=fb-big", since, timeout=5)
    found = DEAD_LETTER_LINE.search(line)
    assert found is not None
    conn = await get_connection(2)
    letter = await dl.get(conn.js, int(found["dl"]))
    assert letter.payload_size == len(payload)


# ---------------------------------------------------------------------- 12. forged reply subjects

VICTIM_STREAM = "faults-b-victim"
VICTIM_SUBJECT = "faults-b.victim"
FORGED = [
    f"$JS.API.STREAM.PURGE.{VICTIM_STREAM}",
    VICTIM_SUBJECT,
    FB_DUP.subject,
    "_INBOX.has space",
    "_INBOX.cr\r\nPUB faults-b.victim 2",  # nats-py turns CR/LF into spaces on the wire
    "_INBOX.*",
    "_INBOX.>",
    "_INBOX",
    "_INBOXX.abc",
    "_INBOX..empty-token",
    "_INBOX.a.$JS",
]


def _expected_copy(msg: Msg) -> bool:
    """Where a forged message's payload may legitimately show up."""
    return (
        msg.subject in (FB_FORGE.subject, FB_DEAD.subject)  # the publish itself
        or (msg.reply or "").startswith("$JS.ACK.")  # its delivery to the worker
        or msg.subject.startswith(f"{dl.SUBJECT_PREFIX}.")
    )  # its dead letter (fb-dead)


async def test_forged_reply_subjects_are_refused_and_nothing_is_published_there(
    fb_worker: WorkerProcess, raw: nats.NATS, record_dir: Path, nats_server: NatsServer
) -> None:
    js = raw.jetstream()
    with contextlib.suppress(NotFoundError):
        await js.delete_stream(VICTIM_STREAM)
    await js.add_stream(StreamConfig(name=VICTIM_STREAM, subjects=[VICTIM_SUBJECT]))
    await js.publish(VICTIM_SUBJECT, b"keep-1")
    await js.publish(VICTIM_SUBJECT, b"keep-2")

    # Everything on the server: a leak would show up here, whatever its subject.
    seen: list[Msg] = []

    async def monitor_cb(msg: Msg) -> None:
        seen.append(msg)

    monitor = await nats.connect(nats_server.url)
    await monitor.subscribe(">", cb=monitor_cb)
    await monitor.flush()

    since = fb_worker.mark()
    markers: dict[str, str] = {}
    for i, forged in enumerate(FORGED):
        marker = _unique(f"forge{i}")
        markers[marker] = forged
        ack = await js.publish(
            FB_FORGE.subject,
            json.dumps(marker).encode(),
            headers={
                HEADER_REPLY: forged,
                HEADER_ACCEPT_ERRORS: "1",
                "X-Custom": "secret-header-value",
            },
        )
        await _line(fb_worker, f"Refused unsafe reply subject actor=fb-forge seq={ack.seq} ", since)
    # And on an error answer (the handler raises): refused at every attempt, too.
    dead_marker = _unique("forge-dead")
    markers[dead_marker] = FORGED[0]
    ack = await js.publish(
        FB_DEAD.subject,
        json.dumps(dead_marker).encode(),
        headers={HEADER_REPLY: FORGED[0], HEADER_ACCEPT_ERRORS: "1"},
    )
    await _line(
        fb_worker, f"Dead letter recorded actor=fb-dead stream={FB_DEAD.stream_name} seq={ack.seq} ", since
    )
    # The error answer follows the dead letter: await its refusal on the third attempt, too.
    await _until(
        lambda: (
            len(
                [
                    x
                    for x in fb_worker.lines[since:]
                    if f"Refused unsafe reply subject actor=fb-dead seq={ack.seq} " in x
                ]
            )
            == 3
        ),
        "three refused error answers (one per attempt)",
    )

    # Barrier: a legitimate request answered after all of the above. The worker publishes in
    # order on one connection, so the monitor has seen anything it published before.
    barrier = _unique("barrier")
    assert await walnats_django.request(FB_FORGE, barrier, timeout=5) == barrier
    await _until(
        lambda: any(
            m.data == json.dumps(barrier).encode()
            and m.subject.startswith("_INBOX.")
            and not (m.reply or "").startswith("$JS.ACK")
            for m in seen
        ),
        "the monitor saw the barrier answer",
    )
    await monitor.close()

    handled = _lines(record_dir, "fb-forge")
    for marker, forged in markers.items():
        leaks = [m for m in seen if marker.encode() in m.data and not _expected_copy(m)]
        assert leaks == [], f"published for forged reply {forged!r}: {[(m.subject, m.data) for m in leaks]}"
        if marker != dead_marker:
            assert marker in handled, f"the message with reply {forged!r} was not handled"
    assert not [m for m in seen if m.subject == f"$JS.API.STREAM.PURGE.{VICTIM_STREAM}"]
    assert (await js.stream_info(VICTIM_STREAM)).state.messages == 2, "the purge did not happen"
    await _settled(js, FB_FORGE.stream_name, "fb-forge")  # every forged message was acked
    warnings = [x for x in fb_worker.lines[since:] if "Refused unsafe reply subject" in x]
    assert all("WARNING" in x for x in warnings)
    await js.delete_stream(VICTIM_STREAM)
    print(
        f"\n[12] {len(FORGED)} forged reply subjects refused ({len(warnings)} warnings), all handled, "
        f"{len(seen)} messages monitored, none on a forged subject; victim stream kept 2 messages"
    )


async def test_answers_echo_no_request_headers(fb_worker: WorkerProcess, raw: nats.NATS) -> None:
    js = raw.jetstream()
    inbox = raw.new_inbox()
    sub = await raw.subscribe(inbox)
    custom = {
        "X-Custom": "secret-header-value",
        HEADER_TRACE: "trace-echo",
        "ce-id": "ce-echo",
        "Authorization": "Bearer abc",
    }
    await js.publish(
        FB_FORGE.subject, b'"echo me"', headers={HEADER_REPLY: inbox, HEADER_ACCEPT_ERRORS: "1", **custom}
    )
    answer = await sub.next_msg(timeout=5)
    assert answer.data == b'"echo me"'
    assert not answer.headers, f"a success answer carries no headers, got {answer.headers}"
    await js.publish(
        FB_DEAD.subject, b'"echo error"', headers={HEADER_REPLY: inbox, HEADER_ACCEPT_ERRORS: "1", **custom}
    )
    error = await sub.next_msg(timeout=5)
    assert error.headers == {HEADER_ERROR: "ValueError", HEADER_ACTOR: "fb-dead"}
    print(f"\n[12] answer headers: success={answer.headers}, error={error.headers}")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"trace_id": "a\r\nNats-Msg-Id: x"},
        {"trace_id": "a\nb"},
        {"trace_id": "nul\0byte"},
        {"uid": "u\r\nWalnats-Reply: _INBOX.x"},
        {"meta": {"X-Note": "a\r\nNats-Msg-Id: x"}},
        {"meta": {"Nats-Msg-Id": "forced"}},
        {"meta": {"nats-expected-stream": "other"}},
        {"meta": {"Walnats-Reply": "_INBOX.forged"}},
        {"meta": {"walnats-delay": "0"}},
        {"meta": {"Bad Name": "x"}},
        {"meta": {"Bad:Name": "x"}},
        {"meta": {"X-Note\r\nNats-Msg-Id": "x"}},
    ],
    ids=lambda kw: repr(kw)[:40],
)
async def test_header_injection_is_refused_before_sending(
    fb_worker: WorkerProcess, raw: nats.NATS, kwargs: dict[str, Any]
) -> None:
    sub = await raw.subscribe(FB_FORGE.subject)  # core subscribers see every publish to it
    await raw.flush()
    with pytest.raises(InvalidHeader):
        await walnats_django.request(FB_FORGE, "injected", timeout=5, **kwargs)
    with pytest.raises(InvalidHeader):
        await walnats_django.emit(FB_FORGE, "injected", sync=True, **kwargs)
    with pytest.raises(InvalidHeader):
        await walnats_django.emit(FB_FORGE, "injected", **kwargs)
    assert await walnats_django.request(FB_FORGE, "clean", timeout=5) == "clean"
    first = await sub.next_msg(timeout=2)
    assert first.data == b'"clean"', "nothing was sent before the clean request"


# ---------------------------------------------------------------------------- 13. duplicate uid


async def test_duplicate_uid_raises_duplicate_request_at_once(
    fb_worker: WorkerProcess, record_dir: Path
) -> None:
    uid = _unique("uid")
    first, second, third = _unique("first"), _unique("second"), _unique("third")
    assert await walnats_django.request(FB_DUP, first, uid=uid, timeout=5) == first
    started = time.monotonic()
    with pytest.raises(DuplicateRequest, match="uid"):
        await walnats_django.request(FB_DUP, second, uid=uid, timeout=5)
    duplicate_ms = (time.monotonic() - started) * 1000
    assert duplicate_ms < 500, "the PubAck says duplicate: no waiting for the timeout"
    # A duplicate *emit* is success: the uid exists to make re-emits safe. It is still not handled.
    await walnats_django.emit(FB_DUP, second, uid=uid, sync=True)
    assert await walnats_django.request(FB_DUP, third, uid=_unique("uid"), timeout=5) == third
    handled = _lines(record_dir, "fb-dup")
    assert handled.count(first) == 1
    assert second not in handled
    print(f"\n[13] duplicate uid: DuplicateRequest after {duplicate_ms:.1f} ms")


async def test_concurrent_requests_with_one_uid_one_answer_one_duplicate(fb_worker: WorkerProcess) -> None:
    uid = _unique("uid")
    results = await asyncio.gather(
        *(walnats_django.request(FB_DUP, f"c{i}", uid=uid, timeout=5) for i in range(2)),
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in results) == ["DuplicateRequest", "str"], results


# ------------------------------------------------------------------ backpressure: a full stream


async def test_full_stream_rejects_requests_and_sync_emits(raw: nats.NATS) -> None:
    conn = await get_connection(2)
    with contextlib.suppress(NotFoundError):
        await conn.js.delete_stream(FB_FULL.stream_name)
    await ensure_stream(conn.js, FB_FULL)
    await ensure_consumer(conn.js, Actor("fb-full", FB_FULL, lambda text: text))  # no worker runs it
    await walnats_django.emit(FB_FULL, "one", sync=True)
    await walnats_django.emit(FB_FULL, "two", sync=True)
    started = time.monotonic()
    with pytest.raises(PublishRejected) as rejected:
        await walnats_django.request(FB_FULL, "three", timeout=5)
    request_ms = (time.monotonic() - started) * 1000
    with pytest.raises(PublishRejected) as rejected_emit:
        await walnats_django.emit(FB_FULL, "three", sync=True)
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


# ------------------------------------------------------------------- retry delay indexing


async def test_first_retry_waits_retry_delay_0(fb_worker: WorkerProcess, record_dir: Path) -> None:
    text = _unique("retry")
    since = fb_worker.mark()
    started = time.monotonic()
    with pytest.raises(RemoteError):
        await walnats_django.request(FB_RETRY, text, timeout=5)
    first_error_ms = (time.monotonic() - started) * 1000
    await _line(fb_worker, "Dead letter recorded actor=fb-retry", since)
    times = [float(x.split()[1]) for x in _lines(record_dir, "fb-retry") if x.startswith(text + " ")]
    assert len(times) == 2, "max_attempts=2"
    gap = times[1] - times[0]
    assert 0.5 <= gap < 1.5, f"retry_delay=(0.5, 3): the first retry waits 0.5 s, not {gap:.2f}s"
    assert "retry_in=0.5s" in await _line(fb_worker, "Job failed actor=fb-retry", since)
    print(
        f"\n[retry] RemoteError after {first_error_ms:.0f} ms; gap between deliveries 1 and 2: "
        f"{gap:.3f}s (retry_delay[0]=0.5)"
    )


# ------------------------------------------------- dead-letter recording fails: retried, not lost


async def test_dead_letter_recorded_after_the_dead_letter_stream_recovers(
    start_worker: StartWorker, raw: nats.NATS, record_dir: Path
) -> None:
    """Found by this suite: when recording a dead letter failed, the message was stuck in the stream.

    `_give_up` nak'ed the message "to retry later", but the consumer's max_deliver equals
    max_attempts and this was the last attempt: JetStream never delivered it again, so it was
    neither retried nor dead-lettered once the dead-letter stream worked again.
    """
    js = raw.jetstream()
    worker = start_worker("--actor", "fb-dlfail")
    refusing = dl.stream_config()
    refusing.max_msg_size = 16  # the dead-letter stream refuses every dead letter for a while
    await js.update_stream(refusing)
    try:
        since = worker.mark()
        text = _unique("dlfail")
        await walnats_django.emit(FB_DLFAIL, text, sync=True)
        await _line(worker, "Cannot record dead letter actor=fb-dlfail", since)
    finally:
        await js.update_stream(dl.stream_config())
    try:
        info = await js.consumer_info(FB_DLFAIL.stream_name, "fb-dlfail")
        stream_msgs = (await js.stream_info(FB_DLFAIL.stream_name)).state.messages
        print(
            f"\n[dead letter retry] after a failed recording: consumer ack_pending={info.num_ack_pending} "
            f"redelivered={info.num_redelivered} pending={info.num_pending}; stream messages={stream_msgs}"
        )
        # The nak asked for a redelivery after retry_delay (0.05 s): 5 s is plenty.
        await _line(worker, "Dead letter recorded actor=fb-dlfail", since, timeout=5)
        await _stream_holds(js, FB_DLFAIL.stream_name, 0)
    finally:
        worker.stop()
