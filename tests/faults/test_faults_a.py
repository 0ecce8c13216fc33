"""Fault suite, part a: real nats-server processes, real `runactors` workers, kill -9, restarts.

Each test runs its own nats-server (`own_server`) and its own events and actors
(tests/testapp/faults_a_*.py), so stopping or killing things disturbs no other test.
Measurements are printed: run with `pytest -s` to see them.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from django.test import override_settings
from nats.js import JetStreamContext
from nats.js.api import ConsumerInfo
from walnats_django.connection import close_connection

import walnats_django
from tests.helpers import StartWorker, WorkerProcess
from tests.testapp.faults_a_events import (
    FA_DURABLE,
    FA_GRACE,
    FA_KILL,
    FA_LOAD,
    FA_LONG,
    FA_LONG_SYNC,
    FA_MANY,
    FA_OUTAGE,
    FA_SHORT,
)
from walnats_django import DuplicateRequest, NatsUnavailable, RequestTimeout
from walnats_django.testing import NatsServer

T = TypeVar("T")


# -- helpers ---------------------------------------------------------------------------------


def _lines(path: Path) -> list[str]:
    """The complete lines of a record file (a line still being written is left out)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    return text.split("\n")[:-1]


async def _until(check: Callable[[], T | None], what: str, timeout: float = 10.0, every: float = 0.02) -> T:
    """Poll `check` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        await asyncio.sleep(every)


async def _wait_lines(
    path: Path, count: int, timeout: float = 10.0, keep: Callable[[str], bool] = lambda line: True
) -> list[str]:
    """Wait until the record file has at least `count` lines that `keep` accepts; return them."""

    def enough() -> list[str] | None:
        lines = [line for line in _lines(path) if keep(line)]
        return lines if len(lines) >= count else None

    return await _until(enough, f"{count} line(s) in {path.name}", timeout)


async def _start_workers(
    start_worker: StartWorker, count: int, *args: str, server: NatsServer, env: dict[str, str] | None = None
) -> list[WorkerProcess]:
    """Start `count` workers at once on `server` and wait until each has started."""
    extra_env = {"NATS_URL": server.url, **(env or {})}
    workers = [start_worker(*args, wait=False, extra_env=extra_env) for _ in range(count)]
    await asyncio.gather(*(asyncio.to_thread(w.wait_for_line, "Worker started") for w in workers))
    return workers


async def _line(worker: WorkerProcess, needle: str, since: int = 0, timeout: float = 15.0) -> str:
    return await asyncio.to_thread(worker.wait_for_line, needle, timeout, since)


async def _settled(js: JetStreamContext, stream: str, consumer: str, timeout: float = 10.0) -> ConsumerInfo:
    """Wait until the consumer has nothing pending and nothing waiting for an ack."""
    deadline = time.monotonic() + timeout
    while True:
        info: ConsumerInfo = await js.consumer_info(stream, consumer)
        if info.num_ack_pending == 0 and info.num_pending == 0:
            return info
        if time.monotonic() > deadline:
            raise AssertionError(f"consumer {consumer} not settled within {timeout}s: {info}")
        await asyncio.sleep(0.05)


def _deliveries(info: ConsumerInfo) -> int:
    return info.delivered.consumer_seq if info.delivered and info.delivered.consumer_seq else 0


def _using(server: NatsServer, **extra: Any) -> override_settings:
    """Point the requester (this process) at `server`."""
    return override_settings(WALNATS={"SERVERS": [server.url], **extra})


# -- 1. kill -9 mid-handler -------------------------------------------------------------------


async def test_kill_9_mid_handler_is_answered_after_ack_wait_or_times_out(
    own_server: NatsServer, start_worker: StartWorker, record_dir: Path
) -> None:
    """fa-kill (ack_wait=1) blocks 30 s on a first delivery and answers in 0.5 s on a redelivery."""
    workers = await _start_workers(start_worker, 2, "--actor", "fa-kill", server=own_server)
    starts = record_dir / "fa-kill-start"

    def starts_of(text: str) -> Callable[[str], bool]:
        return lambda line: line.split(" ")[0] == text

    def run_by(line: str) -> WorkerProcess:
        pid = int(line.split(" ")[1])
        return next(w for w in workers if w.process.pid == pid)

    with _using(own_server):
        # The timeout allows a redelivery: the other worker answers after ack_wait.
        sent = time.monotonic()
        answer = asyncio.ensure_future(walnats_django.request(FA_KILL, "answered", timeout=8))
        first = (await _wait_lines(starts, 1, keep=starts_of("answered")))[0]
        victim = run_by(first)
        victim.process.kill()
        killed = time.monotonic()
        await asyncio.to_thread(victim.process.wait)
        assert await answer == "answered"
        answered = time.monotonic()
        runs = _lines(starts)
        second = [line for line in runs if starts_of("answered")(line)][1]
        survivor = run_by(second)
        assert survivor is not victim
        print(
            f"\n[fa1] kill -9 {killed - sent:.3f}s after the request; answered by the other worker "
            f"{answered - killed:.3f}s after the kill ({answered - sent:.3f}s after the request; "
            f"ack_wait 1s + handler 0.5s)"
        )
        # Redelivered no sooner than ack_wait after the delivery, then 0.5 s of handler.
        assert answered - sent >= 1.4
        assert answered - killed < 4.0

        # The timeout is shorter than ack_wait: RequestTimeout; the redelivery is dropped unrun.
        workers.extend(await _start_workers(start_worker, 1, "--actor", "fa-kill", server=own_server))
        alive = [w for w in workers if w.process.poll() is None]
        marks = {id(w): w.mark() for w in alive}
        sent = time.monotonic()
        answer = asyncio.ensure_future(walnats_django.request(FA_KILL, "too-late", timeout=0.5))
        victim = run_by((await _wait_lines(starts, 1, keep=starts_of("too-late")))[0])
        victim.process.kill()
        killed = time.monotonic()
        try:
            await answer
        except RequestTimeout:
            gave_up = time.monotonic() - sent
        else:
            raise AssertionError("expected RequestTimeout")
        survivor = next(w for w in alive if w is not victim)
        await _line(survivor, "Dropped expired request actor=fa-kill", since=marks[id(survivor)])
        dropped = time.monotonic()
        print(
            f"[fa1] timeout 0.5s < ack_wait 1s: RequestTimeout after {gave_up:.3f}s; the redelivery "
            f"was dropped as expired by the other worker {dropped - killed:.3f}s after the kill"
        )
        assert 0.45 <= gave_up < 0.9
        assert len([line for line in _lines(starts) if starts_of("too-late")(line)]) == 1


# -- 2. 1,000 emits while the only worker is killed and restarted ------------------------------


async def test_emits_survive_worker_kills_at_least_once_and_idempotent_exactly_once(
    own_server: NatsServer, own_js: JetStreamContext, start_worker: StartWorker, record_dir: Path
) -> None:
    """fa-many (ack_wait=1) appends each payload to a file and creates `<payload>` with O_EXCL."""
    total = 1000
    seen = record_dir / "fa-many-seen"
    effects = record_dir / "fa-many-effects"
    args = ("--actor", "fa-many")
    (worker,) = await _start_workers(start_worker, 1, *args, server=own_server)
    began = time.monotonic()

    with _using(own_server):

        async def emit_all() -> float:
            for i in range(total):
                await walnats_django.emit(FA_MANY, f"m{i}", uid=f"fa-many-{i}", sync=True)
                if i % 20 == 19:
                    await asyncio.sleep(0.02)
            return time.monotonic() - began

        emitting = asyncio.ensure_future(emit_all())
        for kill_at in (300, 650):
            await _until(lambda: len(set(_lines(seen))) >= kill_at, f"{kill_at} handled", 20)  # noqa: B023
            worker.process.kill()
            at_kill = len(set(_lines(seen)))
            stored = (await own_js.stream_info(FA_MANY.stream_name)).state.last_seq
            restart = time.monotonic()
            (worker,) = await _start_workers(start_worker, 1, *args, server=own_server)
            print(
                f"\n[fa2] kill -9 {restart - began:.2f}s in, with {at_kill} handled and {stored} "
                f"emitted; restarted in {time.monotonic() - restart:.2f}s"
            )
        emitted_in = await emitting
        await _until(lambda: len(set(_lines(seen))) >= total, "every event handled", 30)
        all_handled = time.monotonic() - began
        info = await _settled(own_js, FA_MANY.stream_name, "fa-many")
        runs = _lines(seen)
        made = sorted(p.name for p in effects.iterdir())
        print(
            f"[fa2] {total} emits PubAck'd in {emitted_in:.2f}s; all handled after {all_handled:.2f}s; "
            f"{len(runs)} executions ({len(runs) - total} duplicates from the kills), "
            f"{len(made)} side effects; {_deliveries(info)} deliveries in all"
        )
        assert set(runs) == {f"m{i}" for i in range(total)}
        assert made == sorted(f"m{i}" for i in range(total))

        # Re-emitting uids within the de-duplication window stores nothing and runs nothing.
        last_seq = (await own_js.stream_info(FA_MANY.stream_name)).state.last_seq
        duplicates = 0
        for i in range(0, total, 10):
            try:
                await walnats_django.emit(FA_MANY, f"m{i}", uid=f"fa-many-{i}", sync=True)
            except DuplicateRequest:
                duplicates += 1
        assert (await own_js.stream_info(FA_MANY.stream_name)).state.last_seq == last_seq
        await walnats_django.emit(FA_MANY, "sentinel", uid="fa-many-sentinel", sync=True)
        await _wait_lines(seen, 1, keep=lambda line: line == "sentinel")
        await _settled(own_js, FA_MANY.stream_name, "fa-many")
        print(
            f"[fa2] {total // 10} re-emits of handled uids: {duplicates} raised DuplicateRequest, "
            f"stream last_seq unchanged at {last_seq}"
        )
        assert len(_lines(seen)) == len(runs) + 1
        assert len(list(effects.iterdir())) == total + 1


# -- 3. nats-server restarts (SIGTERM, then kill -9) under load ------------------------------


class _Load:
    """Outcomes of a request loop and a durable-emit loop."""

    def __init__(self) -> None:
        self.stopping = False
        self.ok = 0
        self.last_ok = 0.0
        self.unavailable: list[float] = []
        self.timeouts: list[float] = []
        self.other: list[str] = []
        self.acked: list[str] = []
        self.last_acked = 0.0
        self.emit_failed: dict[str, int] = {}

    async def requests(self) -> None:
        i = 0
        while not self.stopping:
            i += 1
            started = time.monotonic()
            try:
                answer = await walnats_django.request(FA_LOAD, f"r{i}", timeout=1)
            except NatsUnavailable:
                self.unavailable.append(time.monotonic() - started)
                await asyncio.sleep(0.01)
            except RequestTimeout:
                self.timeouts.append(time.monotonic() - started)
            except Exception as exc:  # noqa: BLE001 - counted and asserted on
                self.other.append(repr(exc))
                await asyncio.sleep(0.01)
            else:
                assert answer == f"r{i}"
                self.ok += 1
                self.last_ok = time.monotonic()
            await asyncio.sleep(0.002)

    async def emits(self) -> None:
        i = 0
        while not self.stopping:
            i += 1
            try:
                await walnats_django.emit(FA_DURABLE, f"d{i}", uid=f"fa-durable-{i}", sync=True)
            except Exception as exc:  # noqa: BLE001 - only PubAck'd events must be handled
                name = type(exc).__name__
                self.emit_failed[name] = self.emit_failed.get(name, 0) + 1
                await asyncio.sleep(0.01)
            else:
                self.acked.append(f"d{i}")
                self.last_acked = time.monotonic()
            await asyncio.sleep(0.002)


async def test_nats_restarts_under_load_lose_no_acked_event_and_everyone_recovers(
    own_server: NatsServer, start_worker: StartWorker, record_dir: Path
) -> None:
    (worker,) = await _start_workers(
        start_worker, 1, "--actor", "fa-load", "--actor", "fa-durable", server=own_server
    )
    handled = record_dir / "fa-durable"
    load = _Load()
    with _using(own_server):
        tasks = [asyncio.ensure_future(load.requests()), asyncio.ensure_future(load.emits())]
        try:
            for how, stop in (("SIGTERM", own_server.stop), ("kill -9", own_server.kill)):
                ok, emitted, unavailable = load.ok, len(load.acked), len(load.unavailable)
                timeouts = len(load.timeouts)
                await _until(
                    lambda: load.ok >= ok + 50 and len(load.acked) >= emitted + 50,  # noqa: B023
                    "a steady load",
                    10,
                )
                since = worker.mark()
                await asyncio.to_thread(stop)
                down = time.monotonic()
                await _until(
                    lambda: len(load.unavailable) >= unavailable + 20,  # noqa: B023
                    "requests failing fast",
                    5,
                )
                await asyncio.to_thread(own_server.start)
                up = time.monotonic()
                await _until(
                    lambda: load.last_ok > up and load.last_acked > up,  # noqa: B023
                    f"requests and emits succeeding after the {how} restart",
                    15,
                )
                back = time.monotonic()
                await _line(worker, "Reconnected to NATS", since)
                failed_fast = load.unavailable[unavailable:]
                print(
                    f"\n[fa3] {how}: down {up - down:.2f}s; {len(failed_fast)} requests failed with "
                    f"NatsUnavailable in max {max(failed_fast) * 1000:.1f}ms (timeout 1s); "
                    f"{len(load.timeouts) - timeouts} RequestTimeout; first answer and PubAck "
                    f"{back - up:.2f}s after the server was back"
                )
        finally:
            load.stopping = True
            await asyncio.gather(*tasks)
    acked = set(load.acked)

    def all_acked_handled() -> list[str] | None:
        lines = _lines(handled)
        return lines if acked <= set(lines) else None

    runs = await _until(all_acked_handled, "every PubAck'd event handled", 20)
    missing = acked - set(runs)
    print(
        f"[fa3] totals: {load.ok} answers, {len(load.unavailable)} NatsUnavailable (max "
        f"{max(load.unavailable) * 1000:.1f}ms), {len(load.timeouts)} RequestTimeout, other={load.other}; "
        f"{len(acked)} emits PubAck'd, failed {load.emit_failed}, {len(runs)} executions, "
        f"{len(set(runs) - acked)} handled without a PubAck, missing {len(missing)}"
    )
    assert not missing
    assert load.other == []
    assert max(load.unavailable) < 0.3, "requests fail fast while NATS is down"
    assert worker.process.poll() is None, "the worker recovered by itself"


# -- 4. NATS down for longer than the reconnect window --------------------------------------


async def test_nats_down_longer_than_the_reconnect_window_both_sides_recover(
    own_server: NatsServer, start_worker: StartWorker
) -> None:
    (worker,) = await _start_workers(
        start_worker,
        1,
        "--actor",
        "fa-short",
        server=own_server,
        env={"DJANGO_SETTINGS_MODULE": "tests.faults.settings_short_reconnect"},
    )
    short = {"max_reconnect_attempts": 2, "reconnect_time_wait": 0.2}
    with _using(own_server, CONNECT_OPTIONS=short):
        assert await walnats_django.request(FA_SHORT, "before", timeout=2) == "before"
        since = worker.mark()
        await asyncio.to_thread(own_server.stop)
        down = time.monotonic()
        # The requester: "reconnecting" until the window is over, then "cannot connect" (a new
        # connection is tried per request); either way at once.
        slowest = 0.0
        while True:
            started = time.monotonic()
            try:
                await walnats_django.request(FA_SHORT, "during", timeout=2)
            except NatsUnavailable as exc:
                slowest = max(slowest, time.monotonic() - started)
                if "cannot connect" in str(exc):
                    break
            assert time.monotonic() - down < 10, "the requester's connection never closed for good"
            await asyncio.sleep(0.02)
        requester_closed = time.monotonic() - down
        await _line(worker, "The NATS connection closed for good; connecting again", since)
        worker_closed = time.monotonic() - down
        await _line(worker, "Waiting for NATS", since)
        await asyncio.to_thread(own_server.start)
        up = time.monotonic()
        await _line(worker, "Worker started", since)
        worker_back = time.monotonic() - up
        while True:
            try:
                assert await walnats_django.request(FA_SHORT, "after", timeout=1) == "after"
                break
            except (NatsUnavailable, RequestTimeout):
                assert time.monotonic() - up < 15, "requests did not recover"
                await asyncio.sleep(0.05)
        answered = time.monotonic() - up
    print(
        f"\n[fa4] window 2 x 0.2s: requester closed for good {requester_closed:.2f}s and worker "
        f"{worker_closed:.2f}s after the server stopped (slowest failed request {slowest * 1000:.1f}ms); "
        f"down {up - down:.2f}s; worker started again {worker_back:.2f}s and first answer "
        f"{answered:.2f}s after the server was back"
    )
    assert slowest < 0.5
    assert worker.process.poll() is None, "the worker recovered without a restart"


async def test_a_job_running_when_the_connection_closes_for_good_does_not_delay_recovery(
    own_server: NatsServer, start_worker: StartWorker, record_dir: Path
) -> None:
    """BUG (walnats_django/worker.py, Worker._serve -> _shutdown): when the connection closes for
    good, the worker first waits for its running jobs (up to the shutdown timeout, 30 s by
    default) before it connects again, although those jobs can no longer be acked or answered
    (their Msg is bound to the closed connection; they are redelivered after ack_wait anyway).
    A worker with a long job in flight stays off NATS for as long as that job runs.
    """
    (worker,) = await _start_workers(
        start_worker,
        1,
        "--actor",
        "fa-outage",
        server=own_server,
        env={"DJANGO_SETTINGS_MODULE": "tests.faults.settings_short_reconnect"},
    )
    with _using(own_server):
        pending = asyncio.ensure_future(walnats_django.request(FA_OUTAGE, 8.0, timeout=20))
        await _wait_lines(record_dir / "fa-outage-start", 1)
        since = worker.mark()
        await asyncio.to_thread(own_server.stop)
        down = time.monotonic()
        # The connection closed for good: today the worker logs that it waits for the job; it
        # logs "closed for good" only once the job is over.
        closed_for_good = ("Shutting down: waiting for 1 running job", "The NATS connection closed for good")
        await _until(
            lambda: any(n in line for line in worker.lines[since:] for n in closed_for_good),
            "the worker's connection closed for good",
            10,
        )
        closed = time.monotonic() - down
        await asyncio.to_thread(own_server.start)
        up = time.monotonic()
        await _line(worker, "Worker started", since, timeout=30)
        back = time.monotonic() - up
        pending.cancel()
    print(
        f"\n[fa4b] an 8 s job in flight: the worker's connection closed for good {closed:.2f}s after the "
        f"server stopped; the server was back at once; the worker started again {back:.2f}s later"
    )
    assert back < 4.0, (
        f"the worker stayed off NATS for {back:.1f}s waiting for a job it cannot ack; log:\n"
        + "\n".join(line for line in worker.lines[since:] if "DEBUG" not in line)
    )


# -- 7. handlers that take 3x ack_wait ------------------------------------------------------


async def test_handlers_running_3x_ack_wait_run_once_and_answer(
    own_server: NatsServer, own_js: JetStreamContext, start_worker: StartWorker, record_dir: Path
) -> None:
    """ack_wait=1, handlers of 3 s: async (sleeps) and sync (sleeps 1 s, then burns CPU 2 s)."""
    (worker,) = await _start_workers(
        start_worker, 1, "--actor", "fa-long", "--actor", "fa-long-sync", server=own_server
    )
    with _using(own_server):
        sent = time.monotonic()
        answers = await asyncio.gather(
            walnats_django.request(FA_LONG, 3.0, timeout=8),
            walnats_django.request(FA_LONG_SYNC, 3.0, timeout=8),
        )
        took = time.monotonic() - sent
    assert list(answers) == [3.0, 3.0]
    for actor, event in (("fa-long", FA_LONG), ("fa-long-sync", FA_LONG_SYNC)):
        info = await _settled(own_js, event.stream_name, actor)
        started = _lines(record_dir / f"{actor}-start")
        done = _lines(record_dir / f"{actor}-done")
        print(
            f"\n[fa7] {actor}: {len(started)} execution(s), done={done}, "
            f"redelivered={info.num_redelivered}, deliveries={_deliveries(info)}"
        )
        assert len(started) == 1
        assert len(done) == 1
        assert info.num_redelivered == 0
        assert worker.log().count(f"Job started actor={actor} ") == 1
    print(f"[fa7] both answered after {took:.2f}s")
    assert 3.0 <= took < 5.0


# -- 9. SIGTERM with 10 handlers in flight --------------------------------------------------


async def test_sigterm_with_10_jobs_in_flight_finishes_acks_and_answers_them(
    own_server: NatsServer, own_js: JetStreamContext, start_worker: StartWorker, record_dir: Path
) -> None:
    """fa-grace handlers take 1 s; max_jobs 16; the grace period is 5 s."""
    (worker,) = await _start_workers(
        start_worker, 1, "--actor", "fa-grace", "--shutdown-timeout", "5", server=own_server
    )
    started = record_dir / "fa-grace-start"
    with _using(own_server):
        texts = [f"g{i}" for i in range(10)]
        answers = asyncio.gather(*(walnats_django.request(FA_GRACE, t, timeout=10) for t in texts))
        await _wait_lines(started, 10)
        worker.signal(signal.SIGTERM)
        term = time.monotonic()
        assert await answers == texts
        answered = time.monotonic() - term
    assert await asyncio.to_thread(worker.wait) == 0
    exited = time.monotonic() - term
    info = await _settled(own_js, FA_GRACE.stream_name, "fa-grace", timeout=2)
    print(
        f"\n[fa9] SIGTERM with 10 jobs running: all answered {answered:.2f}s and the worker exited 0 "
        f"{exited:.2f}s after it; ack_pending={info.num_ack_pending} redelivered={info.num_redelivered}"
    )
    assert "handled=10 failed=0" in worker.log()
    assert exited < 5.0
    assert info.num_ack_pending == 0
    assert info.num_redelivered == 0
    assert sorted(_lines(record_dir / "fa-grace-done")) == sorted(texts)


# -- closing the connection right after NATS went away (a bug found by this suite) ----------


def _reconnect_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if "_attempt_reconnect" in repr(t.get_coro())]


async def _reconnect_tasks_left(timeout: float) -> int:
    """How many nats-py reconnect tasks still run `timeout` seconds after the close."""
    deadline = time.monotonic() + timeout
    while True:
        tasks = _reconnect_tasks()
        if not tasks or time.monotonic() > deadline:
            return len(tasks)
        await asyncio.sleep(0.05)


async def _cancel_reconnect_tasks() -> None:
    """Cancel leaked reconnect tasks until they end (a cancel can be swallowed, see below)."""
    for _ in range(100):
        tasks = _reconnect_tasks()
        if not tasks:
            return
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks, timeout=0.1)


async def _answered(server: NatsServer) -> str:
    deadline = time.monotonic() + 15
    while True:
        try:
            return await walnats_django.request(FA_SHORT, "x", timeout=1)
        except (NatsUnavailable, RequestTimeout):
            assert time.monotonic() < deadline, "no answer"
            await asyncio.sleep(0.05)


def test_closing_right_after_nats_went_away_leaves_no_reconnect_task(
    tmp_path: Path, start_worker: StartWorker
) -> None:
    """BUG (walnats_django/connection.py, close_nats): after a request, the server stops while the
    loop is idle (an ASGI lifespan shutdown or a SIGTERMed worker racing a NATS restart, or a sync
    test fixture); then `close_connection()` drains: the drain fails at once (ConnectionResetError),
    but meanwhile nats-py saw the EOF and, the client being "connected" while draining, started
    its reconnect task. `nc.close()` cancels that task while its first connect attempt is being
    refused, and Python 3.11's `asyncio.wait_for` swallows the cancellation when the inner
    future is already done: the task keeps reconnecting forever on a closed client, and
    `asyncio.run()` (or pytest-asyncio's runner) then hangs in `_cancel_all_tasks`.
    """
    server = NatsServer(store_dir=tmp_path / "store").start()
    start_worker("--actor", "fa-short", extra_env={"NATS_URL": server.url})
    rounds = leaked = 0
    try:
        while rounds < 5 and not leaked:
            rounds += 1
            if server.process is None:
                server.start()
            loop = asyncio.new_event_loop()
            try:
                with _using(server):
                    assert loop.run_until_complete(_answered(server)) == "x"
                server.stop()  # the loop is idle meanwhile, as during a sync fixture's teardown
                loop.run_until_complete(close_connection())
                leaked = loop.run_until_complete(_reconnect_tasks_left(timeout=1.0))
            finally:
                loop.run_until_complete(_cancel_reconnect_tasks())
                loop.close()
    finally:
        server.cleanup()
    print(
        f"\n[fa-close] reconnect task left running after close_connection() in round {rounds}"
        if leaked
        else f"\n[fa-close] no reconnect task left in {rounds} rounds"
    )
    assert not leaked, "close_connection() left nats-py's reconnect task running on a closed client"
