"""nats-server stopped, killed and restarted under real workers and requesters.

Nothing PubAck'd is lost, requests fail fast while NATS is away, and both sides recover by
themselves: after a restart under load, and after NATS was down for longer than the reconnect
window (the connection closed for good). Each test runs a nats-server of its own, so stopping
it disturbs no other test. Measurements are printed: run with `pytest -s` to see them.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import nats
from django.test import override_settings

import walnats_django
from tests.helpers import StartWorker, await_line, record_lines, start_workers, until, using, wait_lines
from tests.testapp.fault_events import FA_DURABLE, FA_LOAD, FA_OUTAGE, FA_SHORT
from walnats_django import Actor, Event, NatsUnavailable, RequestTimeout, WalnatsError
from walnats_django.client import close_connection
from walnats_django.jetstream import ensure_consumer, ensure_stream
from walnats_django.testing import NatsServer

# -- restarts (SIGTERM, then kill -9) under load -----------------------------------------------


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
                await walnats_django.emit(FA_DURABLE, f"d{i}", uid=f"fa-durable-{i}", wait=True)
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
    (worker,) = await start_workers(
        start_worker, 1, "--actor", "fa-load", "--actor", "fa-durable", server=own_server
    )
    handled = record_dir / "fa-durable"
    load = _Load()
    with using(own_server):
        tasks = [asyncio.ensure_future(load.requests()), asyncio.ensure_future(load.emits())]
        try:
            for how, stop in (("SIGTERM", own_server.stop), ("kill -9", own_server.kill)):
                ok, emitted, unavailable = load.ok, len(load.acked), len(load.unavailable)
                timeouts = len(load.timeouts)
                await until(
                    lambda: load.ok >= ok + 50 and len(load.acked) >= emitted + 50,  # noqa: B023
                    "a steady load",
                    10,
                )
                since = worker.mark()
                await asyncio.to_thread(stop)
                down = time.monotonic()
                await until(
                    lambda: len(load.unavailable) >= unavailable + 20,  # noqa: B023
                    "requests failing fast",
                    5,
                )
                await asyncio.to_thread(own_server.start)
                up = time.monotonic()
                await until(
                    lambda: load.last_ok > up and load.last_acked > up,  # noqa: B023
                    f"requests and emits succeeding after the {how} restart",
                    15,
                )
                back = time.monotonic()
                await await_line(worker, "Reconnected to NATS", since)
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
        lines = record_lines(handled)
        return lines if acked <= set(lines) else None

    runs = await until(all_acked_handled, "every PubAck'd event handled", 20)
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


# -- NATS down for longer than the reconnect window --------------------------------------------


async def test_nats_down_longer_than_the_reconnect_window_both_sides_recover(
    own_server: NatsServer, start_worker: StartWorker
) -> None:
    (worker,) = await start_workers(
        start_worker,
        1,
        "--actor",
        "fa-short",
        server=own_server,
        env={"DJANGO_SETTINGS_MODULE": "tests.faults.settings_short_reconnect"},
    )
    short = {"max_reconnect_attempts": 2, "reconnect_time_wait": 0.2}
    with using(own_server, CONNECT_OPTIONS=short):
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
        await await_line(worker, "The NATS connection closed for good; connecting again", since)
        worker_closed = time.monotonic() - down
        await await_line(worker, "Waiting for NATS", since)
        await asyncio.to_thread(own_server.start)
        up = time.monotonic()
        await await_line(worker, "Worker started", since)
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
    (worker,) = await start_workers(
        start_worker,
        1,
        "--actor",
        "fa-outage",
        server=own_server,
        env={"DJANGO_SETTINGS_MODULE": "tests.faults.settings_short_reconnect"},
    )
    with using(own_server):
        pending = asyncio.ensure_future(walnats_django.request(FA_OUTAGE, 8.0, timeout=20))
        await wait_lines(record_dir / "fa-outage-start", 1)
        since = worker.mark()
        await asyncio.to_thread(own_server.stop)
        down = time.monotonic()
        # The connection closed for good: today the worker logs that it waits for the job; it
        # logs "closed for good" only once the job is over.
        closed_for_good = ("Shutting down: waiting for 1 running job", "The NATS connection closed for good")
        await until(
            lambda: any(n in line for line in worker.lines[since:] for n in closed_for_good),
            "the worker's connection closed for good",
            10,
        )
        closed = time.monotonic() - down
        await asyncio.to_thread(own_server.start)
        up = time.monotonic()
        await await_line(worker, "Worker started", since, timeout=30)
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


# -- closing the connection right after NATS went away -----------------------------------------


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
                with using(server):
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
