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
import time
from collections.abc import Callable
from pathlib import Path

from nats.js import JetStreamContext

import walnats_django
from tests.helpers import (
    StartWorker,
    WorkerProcess,
    await_line,
    deliveries,
    record_lines,
    settled,
    start_workers,
    until,
    using,
    wait_lines,
)
from tests.testapp.fault_events import FA_GRACE, FA_KILL, FA_MANY
from walnats_django import DuplicateRequest, RequestTimeout
from walnats_django.testing import NatsServer

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
                await walnats_django.emit(FA_MANY, f"m{i}", uid=f"fa-many-{i}", sync=True)
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
                await walnats_django.emit(FA_MANY, f"m{i}", uid=f"fa-many-{i}", sync=True)
            except DuplicateRequest:
                duplicates += 1
        assert (await own_js.stream_info(FA_MANY.stream_name)).state.last_seq == last_seq
        await walnats_django.emit(FA_MANY, "sentinel", uid="fa-many-sentinel", sync=True)
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
