"""Messages that cannot be handled end as exactly one dead letter.

A handler that always raises gets max_attempts deliveries (the first retry after
retry_delay[0]) and the requester a RemoteError at once; undecodable and wrong-schema payloads
are terminated without retries, their raw bytes kept; a dead letter whose recording failed is
recorded once the dead-letter stream works again. The `deadletters` command is tested in
test_deadletters_command.py. Measurements are printed: run with `pytest -s` to see them.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import nats
import pytest
from nats.js import JetStreamContext

import walnats_django
from tests.helpers import (
    DEAD_LETTER_LINE,
    StartWorker,
    WorkerProcess,
    await_line,
    record_lines,
    settled,
    unique,
    until,
)
from tests.testapp.fault_events import FB_BAD, FB_DEAD, FB_DLFAIL, FB_RETRY
from walnats_django import RemoteError
from walnats_django import deadletters as dl
from walnats_django.wire import HEADER_ACCEPT_ERRORS, HEADER_ERROR, HEADER_REPLY


async def _stream_holds(js: JetStreamContext, stream: str, messages: int) -> None:
    """Await the stream's message count (interest retention removes acked messages asynchronously)."""

    async def check() -> bool:
        return (await js.stream_info(stream)).state.messages == messages

    await until(check, f"stream {stream} holds {messages} message(s)", timeout=5)


# -- a handler that always raises --------------------------------------------------------------


async def test_always_failing_handler_gets_max_attempts_then_one_dead_letter(
    fb_worker: WorkerProcess, raw: nats.NATS, record_dir: Path
) -> None:
    text = unique("dead")
    since = fb_worker.mark()
    started = time.monotonic()
    with pytest.raises(RemoteError) as info:
        await walnats_django.request(FB_DEAD, text, timeout=5)
    answered_in = time.monotonic() - started
    assert info.value.type_name == "ValueError"
    assert info.value.actor == "fb-dead"
    assert text in info.value.remote_message
    assert answered_in < 1.0, "the requester learns about the failure at once, not at its timeout"

    line = await await_line(fb_worker, "Dead letter recorded actor=fb-dead", since)
    found = DEAD_LETTER_LINE.search(line)
    assert found is not None, line
    stream_seq, dl_seq = int(found["seq"]), int(found["dl"])
    assert found["stream"] == FB_DEAD.stream_name
    assert int(found["attempts"]) == 3
    dead_at = time.monotonic() - started

    js = raw.jetstream()
    await settled(js, FB_DEAD.stream_name, "fb-dead", timeout=5)
    deliveries = [x for x in record_lines(record_dir / "fb-dead") if x == text]
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


async def test_first_retry_waits_retry_delay_0(fb_worker: WorkerProcess, record_dir: Path) -> None:
    text = unique("retry")
    since = fb_worker.mark()
    started = time.monotonic()
    with pytest.raises(RemoteError):
        await walnats_django.request(FB_RETRY, text, timeout=5)
    first_error_ms = (time.monotonic() - started) * 1000
    await await_line(fb_worker, "Dead letter recorded actor=fb-retry", since)
    times = [float(x.split()[1]) for x in record_lines(record_dir / "fb-retry") if x.startswith(text + " ")]
    assert len(times) == 2, "max_attempts=2"
    gap = times[1] - times[0]
    assert 0.5 <= gap < 1.5, f"retry_delay=(0.5, 3): the first retry waits 0.5 s, not {gap:.2f}s"
    assert "retry_in=0.5s" in await await_line(fb_worker, "Job failed actor=fb-retry", since)
    print(
        f"\n[retry] RemoteError after {first_error_ms:.0f} ms; gap between deliveries 1 and 2: "
        f"{gap:.3f}s (retry_delay[0]=0.5)"
    )


# -- undecodable and wrong-schema payloads: no retries -----------------------------------------


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
    line = await await_line(
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

    after = await settled(js, FB_BAD.stream_name, "fb-bad", timeout=5)
    assert after.num_redelivered == 0
    assert after.delivered.consumer_seq - before.delivered.consumer_seq == 1, "delivered exactly once"
    letter = await dl.get(js, int(found["dl"]))
    assert letter.payload == payload, "the raw bytes are kept"
    assert letter.payload_size == len(payload)
    assert letter.attempts == 1
    assert letter.error.startswith("SerializationError")
    await _stream_holds(js, FB_BAD.stream_name, 0)
    assert record_lines(record_dir / "fb-bad") == [], "the handler never ran"
    print(
        f"\n[6] {payload[:12]!r}: error answer in {answered_in * 1000:.0f} ms, deliveries="
        f"{after.delivered.consumer_seq - before.delivered.consumer_seq}, "
        f"redelivered={after.num_redelivered}, dead letter #{letter.seq}"
    )


# -- recording the dead letter fails: retried, not lost ----------------------------------------


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
        text = unique("dlfail")
        await walnats_django.emit(FB_DLFAIL, text, wait=True)
        await await_line(worker, "Cannot record dead letter actor=fb-dlfail", since)
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
        await await_line(worker, "Dead letter recorded actor=fb-dlfail", since, timeout=5)
        await _stream_holds(js, FB_DLFAIL.stream_name, 0)
    finally:
        worker.stop()
