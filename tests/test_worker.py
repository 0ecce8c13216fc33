"""The worker: `runactors` as a real subprocess (signals, retries, delays, deadlines, bad
payloads) and a `Worker` run in-process on the test's event loop."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import nats
import pytest

import walnats_django
from tests.helpers import (
    StartWorker,
    WorkerProcess,
    delete_streams,
    eventually,
    start_in_process,
    stop_in_process,
)
from tests.testapp.events import ECHO, FAIL, SLOW, SLOW_SYNC
from walnats_django import Actor, Event, RemoteError
from walnats_django.testing import NatsServer
from walnats_django.wire import HEADER_ACCEPT_ERRORS, HEADER_DEADLINE, HEADER_ERROR, HEADER_REPLY
from walnats_django.worker import Worker


async def _raw_connection(server: NatsServer) -> nats.NATS:
    return await nats.connect(server.url)


@pytest.mark.parametrize(("event", "actor"), [(SLOW, "slow"), (SLOW_SYNC, "slow-sync")])
async def test_sigterm_lets_the_running_handler_finish_and_exits_0(
    start_worker: StartWorker, event: walnats_django.Event[float, float], actor: str
) -> None:
    worker = start_worker("--actor", actor)
    answer = asyncio.ensure_future(walnats_django.request(event, 1.0, timeout=10))
    await asyncio.to_thread(worker.wait_for_line, f"Job started actor={actor}")
    worker.signal(signal.SIGTERM)
    assert await answer == 1.0
    assert await asyncio.to_thread(worker.wait) == 0
    assert "shutting down gracefully" in worker.log()
    assert "handled=1 failed=0" in worker.log()
    assert "still running" not in worker.log(), "the job's thread had finished: nothing is stuck"


async def test_undecodable_payload_is_terminated_with_error_answer(
    nats_server: NatsServer, worker: WorkerProcess
) -> None:
    nc = await _raw_connection(nats_server)
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    js = nc.jetstream()
    ack = await js.publish(
        ECHO.subject, b"\xff not json", headers={HEADER_REPLY: inbox, HEADER_ACCEPT_ERRORS: "1"}
    )
    answer = await sub.next_msg(timeout=5)
    assert answer.headers is not None
    assert answer.headers[HEADER_ERROR] == "SerializationError"
    line = await asyncio.to_thread(
        worker.wait_for_line, f"Undecodable message terminated actor=echo stream=test-echo seq={ack.seq}"
    )
    assert "ERROR" in line
    info = await js.consumer_info("test-echo", "echo")
    assert info.num_ack_pending == 0
    assert info.num_pending == 0
    await nc.close()


@pytest.mark.parametrize(
    ("asks", "error_answer"),
    [
        ("nothing", False),  # what walnats 1.2.6 sends: just Walnats-Reply
        ("deadline", True),  # what request() sends: the deadline says "walnats-django"
        ("accept-errors", True),  # a hand-made request that asks explicitly
    ],
)
async def test_error_answers_go_only_to_requesters_that_understand_them(
    nats_server: NatsServer, worker: WorkerProcess, asks: str, error_answer: bool
) -> None:
    nc = await _raw_connection(nats_server)
    js = nc.jetstream()
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    headers = {
        HEADER_REPLY: inbox,
        **{
            "nothing": {},
            "deadline": {HEADER_DEADLINE: repr(time.time() + 30)},
            "accept-errors": {HEADER_ACCEPT_ERRORS: "1"},
        }[asks],
    }
    ack = await js.publish(FAIL.subject, b'"x y"', headers=headers)
    if error_answer:
        answer = await sub.next_msg(timeout=5)
        assert answer.headers is not None
        assert answer.headers[HEADER_ERROR] == "ValueError"
    # Let its retries end (so they do not mix with the next test's), then check nothing more came.
    await asyncio.to_thread(worker.wait_for_line, f"Job failed actor=fail seq={ack.seq} attempt=3")
    await js.publish(ECHO.subject, b'"hello"', headers=headers)
    answers = []
    while (answer := await sub.next_msg(timeout=5)).data != b'"hello"':
        answers.append(answer)
    assert answers == [], "one answer, the final one: earlier attempts failed silently"
    await nc.close()


async def test_an_actor_pulls_again_when_another_frees_the_shared_cap(start_worker: StartWorker) -> None:
    # --max-jobs 1 across two actors: slow's job ends while slow-sync's job waits for the only
    # slot (and then holds it), so slow cannot pull then; it must pull once slow-sync frees the
    # slot, not after its pull loop's 5 s alarm. (No other worker runs these two actors.)
    worker = start_worker("--actor", "slow", "--actor", "slow-sync", "--max-jobs", "1")
    try:
        since = worker.mark()
        first = asyncio.ensure_future(walnats_django.request(SLOW, 0.2, timeout=5))
        await asyncio.to_thread(worker.wait_for_line, "Job started actor=slow", since=since)
        assert await walnats_django.request(SLOW_SYNC, 0.3, timeout=5) == 0.3
        assert await first == 0.2
        started = time.monotonic()
        assert await walnats_django.request(SLOW, 0.0, timeout=3) == 0.0
        assert time.monotonic() - started < 1.0
    finally:
        worker.stop()


async def test_failed_handler_is_retried_max_attempts_times(worker: WorkerProcess, record_dir: Path) -> None:
    since = worker.mark()
    with pytest.raises(RemoteError):
        await walnats_django.request(FAIL, "retry me", timeout=5)
    await asyncio.to_thread(worker.wait_for_line, "attempt=3 retry_in=0.05s", since=since)
    attempts = [line for line in (record_dir / "fail").read_text().splitlines() if line == "retry me"]
    assert len(attempts) == 3


async def test_delay_postpones_handling(worker: WorkerProcess) -> None:
    started = time.monotonic()
    assert await walnats_django.request(ECHO, "later", delay=0.5, timeout=5) == "later"
    assert time.monotonic() - started >= 0.5


async def test_request_past_its_deadline_is_dropped_without_running(
    nats_server: NatsServer, worker: WorkerProcess
) -> None:
    nc = await _raw_connection(nats_server)
    js = nc.jetstream()
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    ack = await js.publish(
        ECHO.subject,
        b'"too late"',
        headers={
            HEADER_REPLY: inbox,
            HEADER_ACCEPT_ERRORS: "1",
            HEADER_DEADLINE: repr(time.time() - 1),
        },
    )
    await asyncio.to_thread(worker.wait_for_line, f"Dropped expired request actor=echo seq={ack.seq}")
    await nc.flush()
    with pytest.raises(nats.errors.TimeoutError):
        await sub.next_msg(timeout=0.2)
    info = await js.consumer_info("test-echo", "echo")
    assert info.num_ack_pending == 0
    await nc.close()


async def test_headers_on_the_wire_match_walnats(nats_server: NatsServer, worker: WorkerProcess) -> None:
    nc = await _raw_connection(nats_server)
    sub = await nc.subscribe(ECHO.subject)  # core subscribers see JetStream publishes too
    await nc.flush()
    meta = walnats_django.CloudEvent(id="ce-1", source="tests", type="echo")
    assert await walnats_django.request(ECHO, "wire", trace_id="trace-1", meta=meta, timeout=5) == "wire"
    msg = await sub.next_msg(timeout=2)
    headers = msg.headers or {}
    assert msg.data == b'"wire"'
    assert headers["Walnats-Reply"].startswith("_INBOX.")
    assert headers["Nats-Msg-Id"] == "ce-1"
    assert headers["Walnats-Trace"] == "trace-1"
    assert headers["ce-source"] == "tests"
    assert headers["ce-specversion"] == "1.0"
    assert float(headers["Walnats-Deadline"]) > time.time()
    await nc.close()


async def test_stream_and_consumer_config_match_walnats(
    nats_server: NatsServer, worker: WorkerProcess
) -> None:
    nc = await _raw_connection(nats_server)
    js = nc.jetstream()
    stream = await js.stream_info("test-echo")
    assert stream.config.subjects == ["test.echo"]
    assert stream.config.retention == "interest"
    consumer = await js.consumer_info("test-echo", "echo")
    assert consumer.config.durable_name == "echo"
    assert consumer.config.ack_wait == 16
    assert consumer.config.max_ack_pending == 1000
    assert consumer.config.deliver_subject is None, "a pull consumer"
    failing = await js.consumer_info("test-fail", "fail")
    assert failing.config.max_deliver == 3
    await nc.close()


def test_unknown_actor_is_a_command_error(start_worker: StartWorker) -> None:
    worker = start_worker("--actor", "nope", wait=False)
    assert worker.wait() != 0
    assert "unknown actor(s): nope" in worker.log()


def test_bad_option_is_rejected(start_worker: StartWorker) -> None:
    worker = start_worker("--max-jobs", "0", wait=False)
    assert worker.wait() != 0
    assert "--max-jobs: the value must be a positive number, got 0." in worker.log()


def test_burst_mode_drains_and_exits(start_worker: StartWorker, record_dir: Path) -> None:
    from tests.testapp.events import NOTE

    # Only burst workers run `note`: the first one registers it and finds nothing to do,
    # the five notes then wait in the stream until the second one drains them.
    assert start_worker("--actor", "note", "--burst", wait=False).wait() == 0
    for i in range(5):
        walnats_django.emit_sync(NOTE, f"burst-{i}", wait=True)
    worker = start_worker("--actor", "note", "--burst", wait=False)
    assert worker.wait() == 0
    notes = (record_dir / "note").read_text().splitlines()
    assert {f"burst-{i}" for i in range(5)} <= set(notes)


async def test_job_timeout_counts_as_failure(start_worker: StartWorker) -> None:
    from tests.testapp.events import HANG

    worker = start_worker("--actor", "hang")
    started = time.monotonic()
    with pytest.raises(RemoteError) as info:
        await walnats_django.request(HANG, 5.0, timeout=4)
    assert time.monotonic() - started < 1.0
    assert info.value.type_name == "TimeoutError"
    assert "job_timeout of 0.2s exceeded" in info.value.remote_message
    await asyncio.to_thread(worker.wait_for_line, "Job timed out actor=hang")


async def test_max_jobs_caps_concurrent_jobs_in_the_process(start_worker: StartWorker) -> None:
    worker = start_worker("--actor", "slow", "--max-jobs", "2")
    started = time.monotonic()
    answers = await asyncio.gather(*(walnats_django.request(SLOW, 0.5, timeout=10) for _ in range(4)))
    elapsed = time.monotonic() - started
    assert answers == [0.5] * 4
    assert 1.0 <= elapsed < 2.0, f"4 jobs of 0.5 s, 2 at a time, took {elapsed:.2f} s"
    worker.signal(signal.SIGTERM)
    assert await asyncio.to_thread(worker.wait) == 0


async def test_delayed_event_reaches_an_actor_with_max_attempts_1(nats_server: NatsServer) -> None:
    """worker.py:166-169: the delay is honoured by `nak(delay=...)`, which is a delivery.

    JetStream counts it against `max_deliver` (= `max_attempts`): with `max_attempts=1` the
    delayed event is never delivered again, so the handler never runs and no dead letter is
    written; with `max_attempts=N` the handler gets N-1 attempts (N-2 if the redelivery comes
    a little early and is nak'ed again).
    """
    event = Event("review.delayed-once", str)
    handled: list[str] = []

    async def handler(text: str) -> None:
        handled.append(text)

    worker = Worker([Actor("review-delayed-once", event, handler, max_attempts=1)])
    task = await start_in_process(worker)
    try:
        await walnats_django.emit(event, "later", delay=0.3, wait=True)
        assert await eventually(lambda: handled, 4), "the delayed event was never handled"
    finally:
        await stop_in_process(worker, task)
        await delete_streams(nats_server.url, event.stream_name)
