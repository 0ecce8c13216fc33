"""Time limits: the requester's timeout and deadline, ack_wait and job_timeout.

A late answer after a RequestTimeout is harmless; a request whose deadline passed before
delivery never runs; handlers that run for 3x ack_wait run once and answer (the pulse keeps
them from being redelivered); a sync handler past job_timeout neither runs twice at once nor
starves other actors. Measurements are printed: run with `pytest -s` to see them.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.msg import Msg
from nats.js import JetStreamContext

import walnats_django
from tests.helpers import (
    StartWorker,
    WorkerProcess,
    await_line,
    delete_streams,
    deliveries,
    record_lines,
    registered_actor,
    settled,
    start_in_process,
    start_workers,
    stop_in_process,
    unique,
    using,
)
from tests.testapp.fault_events import FA_LONG, FA_LONG_SYNC, FB_EXPIRE, FB_SLOW
from walnats_django import Actor, Event, RequestTimeout
from walnats_django.client import get_connection
from walnats_django.jetstream import ensure_consumer, ensure_stream
from walnats_django.testing import NatsServer
from walnats_django.worker import Worker

# -- the requester's timeout and deadline ------------------------------------------------------


async def test_caller_timeout_then_late_answer_is_harmless(
    fb_worker: WorkerProcess, record_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    loop = asyncio.get_running_loop()
    loop_errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: loop_errors.append(context))
    conn = await get_connection(2)
    late: asyncio.Queue[Msg] = asyncio.Queue()

    async def spy(msg: Msg) -> None:
        if msg.subject.startswith(f"{conn.mux.inbox}.r") and msg.data == b"3.0":
            await late.put(msg)

    # A second subscription on the same connection and inbox sees what the muxed one gets.
    spy_sub = await conn.nc.subscribe(conn.mux.inbox + ".*", cb=spy)
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
        assert conn.nc.is_connected
    finally:
        await spy_sub.unsubscribe()
        loop.set_exception_handler(None)
    assert loop_errors == []
    assert [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL", "WARNING")] == []
    assert "3.0" in record_lines(record_dir / "fb-slow-done")
    print(
        f"\n[8] RequestTimeout after {timed_out_in:.3f}s (timeout 1s); late answer arrived after "
        f"{late_in:.2f}s and was ignored; next request answered"
    )


async def test_request_whose_deadline_passed_before_delivery_never_runs(
    start_worker: StartWorker, raw: nats.NATS, record_dir: Path
) -> None:
    conn = await get_connection(2)
    await ensure_stream(conn.js, FB_EXPIRE)
    await ensure_consumer(conn.js, registered_actor("fb-expire"))  # the actor exists, no worker runs it yet
    text = unique("expired")
    started = time.monotonic()
    with pytest.raises(RequestTimeout):
        await walnats_django.request(FB_EXPIRE, text, timeout=0.5)
    timed_out_in = time.monotonic() - started
    js = raw.jetstream()
    state = (await js.stream_info(FB_EXPIRE.stream_name)).state
    assert state.messages == 1, "the request waits in the stream"
    seq = state.last_seq

    worker = start_worker("--actor", "fb-expire")
    await await_line(worker, f"Dropped expired request actor=fb-expire seq={seq}")
    # A later request is answered: the worker got past the expired one for good.
    assert await walnats_django.request(FB_EXPIRE, "fresh", timeout=5) == "fresh"
    consumer = await settled(js, FB_EXPIRE.stream_name, "fb-expire", timeout=5)
    assert consumer.num_redelivered == 0
    assert record_lines(record_dir / "fb-expire") == ["fresh"], (
        "the expired request never reached the handler"
    )
    worker.signal()
    assert await asyncio.to_thread(worker.wait) == 0
    assert "expired=1" in worker.log()
    print(
        f"\n[8] expired request: RequestTimeout after {timed_out_in:.2f}s; worker dropped seq={seq} "
        "without running the handler"
    )


# -- ack_wait and job_timeout ------------------------------------------------------------------


async def test_handlers_running_3x_ack_wait_run_once_and_answer(
    own_server: NatsServer, own_js: JetStreamContext, start_worker: StartWorker, record_dir: Path
) -> None:
    """ack_wait=1, handlers of 3 s: async (sleeps) and sync (sleeps 1 s, then burns CPU 2 s)."""
    (worker,) = await start_workers(
        start_worker, 1, "--actor", "fa-long", "--actor", "fa-long-sync", server=own_server
    )
    with using(own_server):
        sent = time.monotonic()
        answers = await asyncio.gather(
            walnats_django.request(FA_LONG, 3.0, timeout=8),
            walnats_django.request(FA_LONG_SYNC, 3.0, timeout=8),
        )
        took = time.monotonic() - sent
    assert list(answers) == [3.0, 3.0]
    for actor, event in (("fa-long", FA_LONG), ("fa-long-sync", FA_LONG_SYNC)):
        info = await settled(own_js, event.stream_name, actor)
        started = record_lines(record_dir / f"{actor}-start")
        done = record_lines(record_dir / f"{actor}-done")
        print(
            f"\n[fa7] {actor}: {len(started)} execution(s), done={done}, "
            f"redelivered={info.num_redelivered}, deliveries={deliveries(info)}"
        )
        assert len(started) == 1
        assert len(done) == 1
        assert info.num_redelivered == 0
        assert worker.log().count(f"Job started actor={actor} ") == 1
    print(f"[fa7] both answered after {took:.2f}s")
    assert 3.0 <= took < 5.0


async def test_timed_out_sync_handler_neither_runs_twice_at_once_nor_starves_other_actors(
    nats_server: NatsServer,
) -> None:
    """worker.py:299-305 and 390-392: `job_timeout` cancels the await, not the thread.

    The timed-out handler keeps running in the shared executor while its message is retried:
    attempt 2 runs concurrently with attempt 1 (double handling), and both keep a thread of
    the one pool that every sync actor of the process shares (sum of their max_jobs), so a
    quick, unrelated sync actor gets no thread and its requests time out.
    """
    hang = Event("review.sync-hang", str)
    quick = Event("review.sync-quick", str).with_response(str)
    release = threading.Event()
    lock = threading.Lock()
    running = [0]
    peak = [0]

    def hanging(text: str) -> None:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        try:
            release.wait(6)
        finally:
            with lock:
                running[0] -= 1

    def answer(text: str) -> str:
        return text

    worker = Worker(
        [
            Actor(
                "review-sync-hang",
                hang,
                hanging,
                max_jobs=1,
                job_timeout=0.3,
                max_attempts=2,
                retry_delay=(0,),
            ),
            Actor("review-sync-quick", quick, answer, max_jobs=1),
        ],
        shutdown_timeout=1,
    )
    task = await start_in_process(worker)
    try:
        await walnats_django.emit(hang, "stuck", wait=True)
        await asyncio.sleep(1.0)  # attempt 1 times out at ~0.35 s, attempt 2 at ~0.75 s
        got: str | None = None
        with contextlib.suppress(RequestTimeout):
            got = await walnats_django.request(quick, "hi", timeout=2)
        assert (peak[0], got) == (1, "hi"), (
            f"{peak[0]} runs of the timed-out handler at once; the other actor answered {got!r}"
        )
    finally:
        release.set()
        await stop_in_process(worker, task)
        await delete_streams(nats_server.url, hang.stream_name, quick.stream_name)
