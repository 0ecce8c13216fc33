"""Workers that die or stop mid-job.

`kill -9`: another worker answers after ack_wait (or the request times out and the redelivery
is dropped), 1,000 emits survive repeated kills at least once with idempotent side effects
exactly once. Shutdown (SIGTERM, `Worker.stop()`): jobs in flight finish, are acked and
answered, and keep their "in progress" pulse meanwhile; messages that arrive during a shutdown
are handed back, not lost; a sync handler stuck past the grace period does not keep the process
alive. Measurements are printed: run with `pytest -s` to see them.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from django.test import override_settings
from nats.js import JetStreamContext

import walnats_django
from tests.helpers import (
    StartWorker,
    WorkerProcess,
    await_line,
    delete_streams,
    deliveries,
    eventually,
    record_lines,
    settled,
    start_in_process,
    start_workers,
    stop_in_process,
    until,
    using,
    wait_lines,
)
from tests.testapp.events import SLOW_SYNC
from tests.testapp.fault_events import FA_GRACE, FA_KILL, FA_MANY
from walnats_django import Actor, DuplicateRequest, Event, RequestTimeout
from walnats_django.client import close_connection
from walnats_django.sync import run_sync
from walnats_django.testing import NatsServer
from walnats_django.worker import Worker

# -- kill -9 -----------------------------------------------------------------------------------


async def test_kill_9_mid_handler_is_answered_after_ack_wait_or_times_out(
    own_server: NatsServer, start_worker: StartWorker, record_dir: Path
) -> None:
    """fa-kill (ack_wait=1) blocks 30 s on a first delivery and answers in 0.5 s on a redelivery."""
    workers = await start_workers(start_worker, 2, "--actor", "fa-kill", server=own_server)
    starts = record_dir / "fa-kill-start"

    def starts_of(text: str) -> Callable[[str], bool]:
        return lambda line: line.split(" ")[0] == text

    def run_by(line: str) -> WorkerProcess:
        pid = int(line.split(" ")[1])
        return next(w for w in workers if w.process.pid == pid)

    with using(own_server):
        # The timeout allows a redelivery: the other worker answers after ack_wait.
        sent = time.monotonic()
        answer = asyncio.ensure_future(walnats_django.request(FA_KILL, "answered", timeout=8))
        first = (await wait_lines(starts, 1, keep=starts_of("answered")))[0]
        victim = run_by(first)
        victim.process.kill()
        killed = time.monotonic()
        await asyncio.to_thread(victim.process.wait)
        assert await answer == "answered"
        answered = time.monotonic()
        runs = record_lines(starts)
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
        workers.extend(await start_workers(start_worker, 1, "--actor", "fa-kill", server=own_server))
        alive = [w for w in workers if w.process.poll() is None]
        marks = {id(w): w.mark() for w in alive}
        sent = time.monotonic()
        answer = asyncio.ensure_future(walnats_django.request(FA_KILL, "too-late", timeout=0.5))
        victim = run_by((await wait_lines(starts, 1, keep=starts_of("too-late")))[0])
        victim.process.kill()
        killed = time.monotonic()
        try:
            await answer
        except RequestTimeout:
            gave_up = time.monotonic() - sent
        else:
            raise AssertionError("expected RequestTimeout")
        survivor = next(w for w in alive if w is not victim)
        await await_line(survivor, "Dropped expired request actor=fa-kill", since=marks[id(survivor)])
        dropped = time.monotonic()
        print(
            f"[fa1] timeout 0.5s < ack_wait 1s: RequestTimeout after {gave_up:.3f}s; the redelivery "
            f"was dropped as expired by the other worker {dropped - killed:.3f}s after the kill"
        )
        assert 0.45 <= gave_up < 0.9
        assert len([line for line in record_lines(starts) if starts_of("too-late")(line)]) == 1


async def test_emits_survive_worker_kills_at_least_once_and_idempotent_exactly_once(
    own_server: NatsServer, own_js: JetStreamContext, start_worker: StartWorker, record_dir: Path
) -> None:
    """fa-many (ack_wait=1) appends each payload to a file and creates `<payload>` with O_EXCL."""
    total = 1000
    seen = record_dir / "fa-many-seen"
    effects = record_dir / "fa-many-effects"
    args = ("--actor", "fa-many")
    (worker,) = await start_workers(start_worker, 1, *args, server=own_server)
    began = time.monotonic()

    with using(own_server):

        async def emit_all() -> float:
            for i in range(total):
                await walnats_django.emit(FA_MANY, f"m{i}", uid=f"fa-many-{i}", wait=True)
                if i % 20 == 19:
                    await asyncio.sleep(0.02)
            return time.monotonic() - began

        emitting = asyncio.ensure_future(emit_all())
        for kill_at in (300, 650):
            await until(lambda: len(set(record_lines(seen))) >= kill_at, f"{kill_at} handled", 20)  # noqa: B023
            worker.process.kill()
            at_kill = len(set(record_lines(seen)))
            stored = (await own_js.stream_info(FA_MANY.stream_name)).state.last_seq
            restart = time.monotonic()
            (worker,) = await start_workers(start_worker, 1, *args, server=own_server)
            print(
                f"\n[fa2] kill -9 {restart - began:.2f}s in, with {at_kill} handled and {stored} "
                f"emitted; restarted in {time.monotonic() - restart:.2f}s"
            )
        emitted_in = await emitting
        await until(lambda: len(set(record_lines(seen))) >= total, "every event handled", 30)
        all_handled = time.monotonic() - began
        info = await settled(own_js, FA_MANY.stream_name, "fa-many")
        runs = record_lines(seen)
        made = sorted(p.name for p in effects.iterdir())
        print(
            f"[fa2] {total} emits PubAck'd in {emitted_in:.2f}s; all handled after {all_handled:.2f}s; "
            f"{len(runs)} executions ({len(runs) - total} duplicates from the kills), "
            f"{len(made)} side effects; {deliveries(info)} deliveries in all"
        )
        assert set(runs) == {f"m{i}" for i in range(total)}
        assert made == sorted(f"m{i}" for i in range(total))

        # Re-emitting uids within the de-duplication window stores nothing and runs nothing.
        last_seq = (await own_js.stream_info(FA_MANY.stream_name)).state.last_seq
        duplicates = 0
        for i in range(0, total, 10):
            try:
                await walnats_django.emit(FA_MANY, f"m{i}", uid=f"fa-many-{i}", wait=True)
            except DuplicateRequest:
                duplicates += 1
        assert (await own_js.stream_info(FA_MANY.stream_name)).state.last_seq == last_seq
        await walnats_django.emit(FA_MANY, "sentinel", uid="fa-many-sentinel", wait=True)
        await wait_lines(seen, 1, keep=lambda line: line == "sentinel")
        await settled(own_js, FA_MANY.stream_name, "fa-many")
        print(
            f"[fa2] {total // 10} re-emits of handled uids: {duplicates} raised DuplicateRequest, "
            f"stream last_seq unchanged at {last_seq}"
        )
        assert len(record_lines(seen)) == len(runs) + 1
        assert len(list(effects.iterdir())) == total + 1


# -- shutdown with jobs in flight --------------------------------------------------------------


async def test_sigterm_with_10_jobs_in_flight_finishes_acks_and_answers_them(
    own_server: NatsServer, own_js: JetStreamContext, start_worker: StartWorker, record_dir: Path
) -> None:
    """fa-grace handlers take 1 s; max_jobs 16; the grace period is 5 s."""
    (worker,) = await start_workers(
        start_worker, 1, "--actor", "fa-grace", "--shutdown-timeout", "5", server=own_server
    )
    started = record_dir / "fa-grace-start"
    with using(own_server):
        texts = [f"g{i}" for i in range(10)]
        answers = asyncio.gather(*(walnats_django.request(FA_GRACE, t, timeout=10) for t in texts))
        await wait_lines(started, 10)
        worker.signal(signal.SIGTERM)
        term = time.monotonic()
        assert await answers == texts
        answered = time.monotonic() - term
    assert await asyncio.to_thread(worker.wait) == 0
    exited = time.monotonic() - term
    info = await settled(own_js, FA_GRACE.stream_name, "fa-grace", timeout=2)
    print(
        f"\n[fa9] SIGTERM with 10 jobs running: all answered {answered:.2f}s and the worker exited 0 "
        f"{exited:.2f}s after it; ack_pending={info.num_ack_pending} redelivered={info.num_redelivered}"
    )
    assert "handled=10 failed=0" in worker.log()
    assert exited < 5.0
    assert info.num_ack_pending == 0
    assert info.num_redelivered == 0
    assert sorted(record_lines(record_dir / "fa-grace-done")) == sorted(texts)


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
    tasks = {tag: await start_in_process(w) for tag, w in workers.items()}
    try:
        await walnats_django.emit(event, "job", wait=True)
        assert await eventually(lambda: starts, 5), "the job never started"
        first = starts[0]
        workers[first].stop()
        await asyncio.wait_for(tasks[first], 15)  # the 3 s job finishes within the grace period
        await asyncio.sleep(0.3)
        assert starts == [first], f"the job ran again while the stopping worker finished it: {starts}"
    finally:
        for tag, w in workers.items():
            await stop_in_process(w, tasks[tag])
        await delete_streams(nats_server.url, event.stream_name)


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
    first_task = await start_in_process(first)
    second: Worker | None = None
    second_task: asyncio.Task[None] | None = None
    try:
        await walnats_django.emit(event, "block", wait=True)
        assert await eventually(lambda: first._loops[0].jobs, 5), "the blocking job never started"
        first.stop()
        await asyncio.sleep(0.2)
        await walnats_django.emit(event, "late", wait=True)
        await asyncio.wait_for(first_task, 15)
        assert "block" in handled
        second = Worker([actor()])
        second_task = await start_in_process(second)
        assert await eventually(lambda: "late" in handled, 5), (
            "the event that arrived during the first worker's shutdown was never handled"
        )
    finally:
        await stop_in_process(first, first_task)
        if second is not None and second_task is not None:
            await stop_in_process(second, second_task)
        await delete_streams(nats_server.url, event.stream_name)


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
                walnats_django.emit_sync(SLOW_SYNC, seconds, wait=True)
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
