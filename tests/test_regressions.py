"""Regression tests for bugs found in a review: each names the module and the failure it pins.

Most tests run a `Worker` in-process (it is a plain class) with actors defined here, so each
case has its own event and stream and needs no change to the test app. Streams made here are
deleted at the end of each test.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import nats
import pytest
from django.test import override_settings
from nats.js.errors import NotFoundError
from walnats_django.connection import close_connection, get_connection

import walnats_django
from tests.helpers import ROOT, StartWorker
from tests.testapp.events import ECHO, SLOW_SYNC
from walnats_django import (
    Actor,
    Event,
    NatsUnavailable,
    NoActors,
    RequestTimeout,
    WalnatsError,
)
from walnats_django import deadletters as dl
from walnats_django.jetstream import ensure_consumer, ensure_stream
from walnats_django.sync import run_sync
from walnats_django.testing import NatsServer
from walnats_django.worker import Worker

SMALL_MAX_PAYLOAD = 8192


# ------------------------------------------------------------------------------ helpers


async def _start(worker: Worker) -> asyncio.Task[None]:
    """Run `worker` on this loop; return once every actor has its pull subscription."""
    task = asyncio.ensure_future(worker.run())
    deadline = time.monotonic() + 10
    while not (worker._runners and all(r.puller._sub is not None for r in worker._runners)):
        if task.done():
            task.result()
        assert time.monotonic() < deadline, "the worker did not start"
        await asyncio.sleep(0.01)
    return task


async def _stop(worker: Worker, task: asyncio.Task[None], timeout: float = 20) -> None:
    worker.stop()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(task, timeout)


async def _until(condition: Callable[[], object], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


async def _delete_streams(url: str, *names: str) -> None:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        for name in names:
            with contextlib.suppress(NotFoundError):
                await js.delete_stream(name)
    finally:
        await nc.close()


@pytest.fixture
def small_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A server of this test's own whose max_payload is 8 KiB."""
    config = tmp_path / "nats.conf"
    config.write_text(f"max_payload: {SMALL_MAX_PAYLOAD}\n")
    with NatsServer(store_dir=tmp_path / "store", extra_args=("-c", str(config))) as server:
        yield server


@pytest.fixture
async def on_small_server(small_server: NatsServer) -> AsyncIterator[NatsServer]:
    with override_settings(WALNATS={"SERVERS": [small_server.url], "REQUEST_TIMEOUT": 5.0}):
        yield small_server
        await close_connection()


# ---------------------------------------------------- 1. graceful shutdown stops the pulse


async def test_graceful_shutdown_keeps_pulsing_jobs_it_waits_for(nats_server: NatsServer) -> None:
    """worker.py:139 (`ActorRunner.run` ends with `self.watch.close()`) + worker.py:497-511.

    On SIGTERM the runner leaves its loop and closes its JobWatch, then `_shutdown` waits up to
    `shutdown_timeout` for running jobs: with no sweep, those jobs get no "in progress" pulse,
    so JetStream redelivers them after `ack_wait` and a second worker runs them again while the
    first is still finishing. Here ack_wait is 1 s and the job takes 3 s after the stop.
    """
    event = Event("review.shutdown-pulse", str)
    starts: list[str] = []

    def actor(tag: str) -> Actor[str, None]:
        async def handler(text: str) -> None:
            starts.append(tag)
            await asyncio.sleep(3.0)

        return Actor("review-shutdown-pulse", event, handler, ack_wait=1)

    workers = {
        "w1": Worker([actor("w1")], shutdown_timeout=10),
        "w2": Worker([actor("w2")], shutdown_timeout=10),
    }
    tasks = {tag: await _start(w) for tag, w in workers.items()}
    try:
        await walnats_django.emit(event, "job", sync=True)
        assert await _until(lambda: starts, 5), "the job never started"
        first = starts[0]
        workers[first].stop()
        await asyncio.wait_for(tasks[first], 15)  # the 3 s job finishes within the grace period
        await asyncio.sleep(0.3)
        assert starts == [first], f"the job ran again while the stopping worker finished it: {starts}"
    finally:
        for tag, w in workers.items():
            await _stop(w, tasks[tag])
        await _delete_streams(nats_server.url, event.stream_name)


# ----------------------------------- 2. messages arriving during shutdown burn their attempts


async def test_message_arriving_during_shutdown_is_handed_back_not_lost(nats_server: NatsServer) -> None:
    """worker.py:96-99 (`_on_message` naks at once while stopping) with the pull still open.

    After `stop()` the worker keeps its outstanding pull requests (up to 5 s, 15 credits here)
    while it waits for the running job. A message that arrives meanwhile is nak'ed without a
    delay, JetStream redelivers it at once to the same open pull, which naks it again: with
    `max_attempts=3` the message reaches max_deliver in milliseconds and is never handled
    (nor dead-lettered) by the next worker.
    """
    event = Event("review.late-arrival", str)
    handled: list[str] = []

    def actor() -> Actor[str, None]:
        async def handler(text: str) -> None:
            if text == "block":
                await asyncio.sleep(1.5)
            handled.append(text)

        return Actor("review-late-arrival", event, handler, max_attempts=3)

    first = Worker([actor()], shutdown_timeout=10)
    first_task = await _start(first)
    second: Worker | None = None
    second_task: asyncio.Task[None] | None = None
    try:
        await walnats_django.emit(event, "block", sync=True)
        assert await _until(lambda: first._runners[0].jobs, 5), "the blocking job never started"
        first.stop()
        await asyncio.sleep(0.2)
        await walnats_django.emit(event, "late", sync=True)
        await asyncio.wait_for(first_task, 15)
        assert "block" in handled
        second = Worker([actor()])
        second_task = await _start(second)
        assert await _until(lambda: "late" in handled, 5), (
            "the event that arrived during the first worker's shutdown was never handled"
        )
    finally:
        await _stop(first, first_task)
        if second is not None and second_task is not None:
            await _stop(second, second_task)
        await _delete_streams(nats_server.url, event.stream_name)


# ------------------------------------------------ 3. a delay consumes one of max_attempts


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
    task = await _start(worker)
    try:
        await walnats_django.emit(event, "later", delay=0.3, sync=True)
        assert await _until(lambda: handled, 4), "the delayed event was never handled"
    finally:
        await _stop(worker, task)
        await _delete_streams(nats_server.url, event.stream_name)


# ----------------------------------- 4. connect attempts queue on the lock past the timeout


async def test_concurrent_requests_each_fail_within_their_timeout_when_nats_is_silent() -> None:
    """connection.py:460-474: `get_connection` holds the loop's lock while connecting.

    Concurrent callers wait for the lock without any bound, then each makes its own attempt:
    against a server that accepts TCP but never answers (a black-holed port, an overloaded
    server), the k-th caller fails after k x timeout. With 4 requests of timeout=0.5 the
    last one returns after ~2 s; with 100 of them under load, after ~50 s.
    """
    with socket.socket() as silent:  # accepts TCP connections, never says INFO
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        url = f"nats://127.0.0.1:{silent.getsockname()[1]}"

        async def one() -> float:
            started = time.monotonic()
            with contextlib.suppress(NatsUnavailable):
                await walnats_django.request(ECHO, "x", timeout=0.5)
            return time.monotonic() - started

        with override_settings(WALNATS={"SERVERS": [url]}):
            took = await asyncio.gather(*(one() for _ in range(4)))
    assert max(took) < 1.2, f"requests with timeout=0.5 took {[round(t, 2) for t in took]} s"


# --------------------------------- 5. a connection closed for good leaves acked requests waiting


async def test_acked_request_fails_at_once_when_the_connection_closes_for_good(tmp_path: Path) -> None:
    """connection.py:206-218: `Connection.open` passes no `closed_cb`.

    `disconnected_cb` fails only unacked requests; acked ones wait for an answer that can
    only come after a reconnect. When a configured `max_reconnect_attempts` closes the
    connection for good, nothing fails them: the caller waits out its whole timeout although
    the outcome (no answer can ever arrive on this connection) is known.
    """
    event = Event("review.closed-for-good", str).with_response(str)

    async def nobody(text: str) -> str:
        return text

    with NatsServer(store_dir=tmp_path / "store") as server:
        nc = await nats.connect(server.url)
        js = nc.jetstream()
        # A stream and a consumer but no worker: the request is stored and acked, and the
        # no-actor probe sees a consumer, so only the answer is outstanding.
        await ensure_stream(js, event)
        await ensure_consumer(js, Actor("review-closed-for-good", event, nobody))
        await nc.close()
        options = {"max_reconnect_attempts": 1, "reconnect_time_wait": 0.2}
        with override_settings(WALNATS={"SERVERS": [server.url], "CONNECT_OPTIONS": options}):
            pending = asyncio.ensure_future(walnats_django.request(event, "x", timeout=8))
            await asyncio.sleep(0.5)
            assert not pending.done()
            server.stop()
            stopped = time.monotonic()
            outcome: BaseException | None = None
            try:
                await pending
            except WalnatsError as exc:
                outcome = exc
            took = time.monotonic() - stopped
    shown = f"got {type(outcome).__name__} after {took:.1f}s (connection closed for good after ~0.5 s)"
    assert isinstance(outcome, NatsUnavailable), shown
    assert took < 4, shown


# ---------------------------------- 6. the dead letter's Nats-Msg-Id is not in the size budget


@pytest.mark.usefixtures("on_small_server")
async def test_dead_letter_of_a_max_payload_message_is_recorded(small_server: NatsServer) -> None:
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
    task = await _start(worker)
    nc = await nats.connect(small_server.url)
    try:
        await walnats_django.emit(event, b"x" * SMALL_MAX_PAYLOAD, sync=True)
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
        await _stop(worker, task)


# ---------------------------------------- 7. an answer over max_payload: the caller waits


@pytest.mark.usefixtures("on_small_server")
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
    task = await _start(worker)
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
        await _stop(worker, task)


# ---------------------------- 8. sync handlers past job_timeout keep their thread and run twice


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
    task = await _start(worker)
    try:
        await walnats_django.emit(hang, "stuck", sync=True)
        await asyncio.sleep(1.0)  # attempt 1 times out at ~0.35 s, attempt 2 at ~0.75 s
        got: str | None = None
        with contextlib.suppress(RequestTimeout):
            got = await walnats_django.request(quick, "hi", timeout=2)
        assert (peak[0], got) == (1, "hi"), (
            f"{peak[0]} runs of the timed-out handler at once; the other actor answered {got!r}"
        )
    finally:
        release.set()
        await _stop(worker, task)
        await _delete_streams(nats_server.url, hang.stream_name, quick.stream_name)


# --------------------------------------------- 9. a cached consumer count of 0 outlives it


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
        task = await _start(worker)
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
            await _stop(worker, task)
        await _delete_streams(nats_server.url, event.stream_name)


# ------------------------------------------- 10. the sync twins hang in a forked process


def test_sync_twins_work_in_a_forked_child(nats_server: NatsServer) -> None:
    """sync.py:24-36: the background loop's thread does not survive `fork()`.

    A pre-forking server (gunicorn --preload, uWSGI without lazy-apps) whose master used a
    sync twin once (or the admin page, or a ready() hook) hands each worker a `_loop` that
    is not closed but has no thread: `run_coroutine_threadsafe(...).result()` waits forever.
    """
    script = textwrap.dedent("""
        import os, signal
        import django
        django.setup()
        import walnats_django
        from walnats_django import Event
        EVENT = Event("review.fork", str)
        walnats_django.emit_sync(EVENT, "parent")
        pid = os.fork()
        if pid == 0:
            signal.alarm(5)  # the default action kills the child if it hangs
            walnats_django.emit_sync(EVENT, "child")
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        print("child exit", os.waitstatus_to_exitcode(status), flush=True)
    """)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "NATS_URL": nats_server.url}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30
    )
    assert "child exit 0" in done.stdout, done.stdout + done.stderr


# ---------------------------- 11. runactors waits for a stuck sync handler at interpreter exit


def test_runactors_exits_after_the_grace_period_with_a_stuck_sync_handler(
    tmp_path: Path, start_worker: StartWorker, record_dir: Path
) -> None:
    """worker.py:455 (`executor.shutdown(wait=False, ...)`) does not stop running threads.

    After the grace period the job is cancelled and nak'ed, `Worker.run` returns and the
    command ends, but the interpreter joins ThreadPoolExecutor threads at exit: the process
    stays up until the stuck handler returns (here 30 s; a handler blocked on a socket without
    a timeout: forever), so the orchestrator's SIGKILL is what ends it, not "exit 0".
    """
    seconds = 30.25
    with NatsServer(store_dir=tmp_path / "store") as server:
        worker = start_worker(
            "--actor", "slow-sync", "--shutdown-timeout", "1", extra_env={"NATS_URL": server.url}
        )
        try:
            with override_settings(WALNATS={"SERVERS": [server.url]}):
                walnats_django.emit_sync(SLOW_SYNC, seconds, sync=True)
                run_sync(close_connection())
            worker.wait_for_line("Job started actor=slow-sync")
            deadline = time.monotonic() + 10
            started = record_dir / "slow-sync-start"
            while str(seconds) not in (started.read_text() if started.exists() else ""):
                assert time.monotonic() < deadline, "the stuck handler never started"
                time.sleep(0.05)
            worker.signal(signal.SIGTERM)
            stopped = time.monotonic()
            code: int | None
            try:
                code = worker.wait(timeout=8)
            except subprocess.TimeoutExpired:
                code = None
            took = time.monotonic() - stopped
            assert code == 0, (
                f"runactors had not exited {took:.1f}s after SIGTERM (grace period 1 s); "
                f"its log ends:\n" + "\n".join(worker.lines[-4:])
            )
        finally:
            worker.stop()


# ------------------------------------------- 12. a user header named "Status" poisons a message


async def test_event_with_a_status_meta_header_is_handled(nats_server: NatsServer) -> None:
    """puller.py:98-131: any message with a `Status` header is taken for a JetStream status.

    `meta` may set `Status` (only `Walnats-*`/`Nats-*` are reserved; a walnats 1.2.6 peer may
    set anything), and nats-py parses a `Status: ...` header line into the same dict key as
    the inline status of `NATS/1.0 404`. The puller then treats the event as "pull request
    ended", never calls the handler and never acks: JetStream redelivers it every `ack_wait`,
    forever (or until max_attempts, silently). `Status: 409` + `Description: Consumer
    Deleted` even makes the worker re-create its consumer. A real message has a `$JS.ACK.`
    reply subject; a status message has none.
    """
    event = Event("review.status-meta", str)
    handled: list[str] = []

    async def handler(text: str) -> None:
        handled.append(text)

    worker = Worker([Actor("review-status-meta", event, handler)])
    task = await _start(worker)
    try:
        # walnats-django refuses such meta; a walnats 1.2.6 peer may still send it.
        with pytest.raises(walnats_django.InvalidHeader, match="reserved"):
            await walnats_django.emit(event, "refused", meta={"Status": "draft"}, sync=True)
        raw = await nats.connect(nats_server.url)
        try:
            await raw.jetstream().publish(event.subject, b'"draft order"', headers={"Status": "draft"})
        finally:
            await raw.close()
        assert await _until(lambda: handled, 3), "an event with a Status header was never handled"
        assert handled == ["draft order"]
    finally:
        await _stop(worker, task)
        await _delete_streams(nats_server.url, event.stream_name)
