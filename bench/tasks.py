"""Django's Tasks API: WalnatsBackend on `runactors` vs django-tasks-db's DatabaseBackend on `db_worker`.

One task, `len(text.split())`, declared once per backend (bench/benchapp/tasks.py, settings
bench/tasks_settings.py). Every call enqueues from this process and ends when this process sees
the result SUCCESSFUL (with the right return value) through `get_result`:

- walnats wait: `await task.aenqueue(text)`, `await walnats_django.tasks.wait(result)` (watches
  the result's key), then `await task.aget_result(result.id)`;
- walnats poll: `await task.aenqueue(text)`, then `await task.aget_result(id)` every POLL seconds;
- db, interval 1 s (`db_worker`'s default) and interval 0 (its fastest: no sleep between empty
  polls): `await task.aenqueue(text)`, then `await task.aget_result(id)` every POLL seconds.

The workers are real subprocesses, one at a time: `runactors --queue bench` (runs throughout; it
idles on a pull request) and `db_worker --backend db --interval N --no-startup-delay --no-reload`
(started for its phase, stopped after), on a SQLite file in a temp dir (WAL; see the settings).
Phases run in A B B A order (walnats, db 1 s, db 0, db 0, db 1 s, walnats), each with half the
calls, so drift on a shared machine hits every client alike. Measured per client:

- sequential: p50/p99 of one call at a time; before each call to the 1 s worker a pause drawn
  uniformly from [0, 1 s), so calls arrive at random points of its sleep (back to back, every call
  would wait a whole interval: the worker's re-check right after a task always finds nothing);
- throughput: 100 lanes for a few seconds, each awaiting one call at a time (closed loop),
  counting the calls done and the CPU of this process, the worker and nats-server.

    python bench/tasks.py [--quick] [--nats-url URL] [--json FILE]
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    # Run as a file: make the repository importable as the `bench` package's parent.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench._common import (
    PYTHON,
    LatencyStats,
    Proc,
    Result,
    Table,
    Target,
    arun,
    base_parser,
    child_env,
    cpu_seconds,
    find_nats_pid,
    finish,
    ms,
    nats_server,
    rate,
    ratio,
    setup_django,
    start_runactors,
)

SETTINGS = "bench.tasks_settings"
DB_ENV = "WALNATS_BENCH_TASKS_DB"
QUEUE = "bench"
TEXT = "the quick brown fox jumps over the lazy dog and keeps running across the field " * 2
POLL = 0.001
"""Seconds between two `aget_result` calls of a polling client."""
INFLIGHT = 100
CALL_TIMEOUT = 60.0
DEFAULT_INTERVAL = 1.0
"""db_worker's default `--interval` (seconds it sleeps after finding no task)."""
FASTEST_INTERVAL = 0.0

WAIT = "walnats wait"
POLLED = "walnats poll"
DB_DEFAULT = "db, interval 1 s"
DB_FASTEST = "db, interval 0"
INTERVALS = {DB_DEFAULT: DEFAULT_INTERVAL, DB_FASTEST: FASTEST_INTERVAL}
PHASES = ((WAIT, POLLED), (DB_DEFAULT,), (DB_FASTEST,), (DB_FASTEST,), (DB_DEFAULT,), (WAIT, POLLED))
"""A B B A: each phase runs half of its clients' calls; a db phase has its own db_worker."""
CLIENTS = (WAIT, POLLED, DB_DEFAULT, DB_FASTEST)
SHOWN = {
    WAIT: ("WalnatsBackend: aenqueue, wait(), aget_result", "runactors --queue bench"),
    POLLED: (f"WalnatsBackend: aenqueue, aget_result every {POLL * 1000:g} ms", "runactors --queue bench"),
    DB_DEFAULT: (
        f"DatabaseBackend: aenqueue, aget_result every {POLL * 1000:g} ms",
        "db_worker --interval 1 (its default)",
    ),
    DB_FASTEST: (
        f"DatabaseBackend: aenqueue, aget_result every {POLL * 1000:g} ms",
        "db_worker --interval 0 (its fastest)",
    ),
}
"""client: what it does, which worker runs its tasks"""
PROCESSES = ("client", "worker", "nats-server")

Call = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Plan:
    sequential: int
    """Sequential calls per client, split over its two phases."""
    warm_calls: int
    duration: float
    """Seconds of one throughput half (each client has two)."""
    warm_duration: float

    @classmethod
    def of(cls, quick: bool) -> Plan:
        if quick:
            return cls(sequential=16, warm_calls=5, duration=1.0, warm_duration=0.3)
        return cls(sequential=300, warm_calls=30, duration=5.0, warm_duration=1.0)


# --------------------------------------------------------------------------- calls


def expected_words() -> int:
    return len(TEXT.split())


def check(result: Any, expected: int) -> None:
    from walnats_django.tasks.compat import TaskResultStatus

    if result.status != TaskResultStatus.SUCCESSFUL:
        errors = "\n".join(e.traceback for e in result.errors)
        raise RuntimeError(f"task {result.id} is {result.status}, not SUCCESSFUL; errors:\n{errors}")
    if result.return_value != expected:
        raise RuntimeError(f"task {result.id} returned {result.return_value!r}, not {expected}")


def waiting_call(task: Any) -> Call:
    """aenqueue, wait() for the outcome (a watch), then read it with aget_result."""
    from walnats_django.tasks import wait

    expected = expected_words()

    async def call() -> None:
        result = await task.aenqueue(TEXT)
        await wait(result, timeout=CALL_TIMEOUT)
        check(await task.aget_result(result.id), expected)

    return call


def polling_call(task: Any) -> Call:
    """aenqueue, then aget_result every POLL seconds until the result is finished."""
    expected = expected_words()

    async def call() -> None:
        enqueued = await task.aenqueue(TEXT)
        deadline = time.monotonic() + CALL_TIMEOUT
        while True:
            result = await task.aget_result(enqueued.id)
            if result.is_finished:
                check(result, expected)
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"task {enqueued.id} still {result.status} after {CALL_TIMEOUT:g}s")
            await asyncio.sleep(POLL)

    return call


# --------------------------------------------------------------------------- measurements


@dataclass
class Cpu:
    """CPU seconds of the processes of a measurement, summed over its parts."""

    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PROCESSES, 0.0))

    def measure(self, pids: dict[str, int]) -> Callable[[], None]:
        """Start counting `pids`; call the returned function to add what they used since."""
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}

        def stop() -> None:
            for name, pid in pids.items():
                self.seconds[name] += cpu_seconds(pid) - before[name]

        return stop

    def per_call_us(self, calls: int) -> str:
        return ", ".join(f"{name} {self.seconds[name] / max(calls, 1) * 1e6:,.0f}" for name in PROCESSES)

    def percent(self, wall: float) -> str:
        return ", ".join(f"{name} {100 * self.seconds[name] / max(wall, 1e-9):.0f}%" for name in PROCESSES)


@dataclass
class Measured:
    """One client's numbers, gathered over its two phases."""

    sequential: list[float] = field(default_factory=list)
    sequential_cpu: Cpu = field(default_factory=Cpu)
    done: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    cpu: Cpu = field(default_factory=Cpu)

    @property
    def rate(self) -> float:
        return self.done / self.seconds if self.seconds else float("nan")


async def sequential(call: Call, count: int, pause: float) -> list[float]:
    """`count` calls one at a time; before each, a random pause in [0, `pause`) (none when 0)."""
    latencies = []
    for _ in range(count):
        if pause:
            await asyncio.sleep(random.uniform(0, pause))
        started = time.perf_counter()
        await call()
        latencies.append(time.perf_counter() - started)
    return latencies


async def closed_loop(call: Call, duration: float, into: Measured | None = None) -> None:
    """INFLIGHT lanes, each calling back to back until `duration` passed; adds to `into`."""
    latencies: list[float] = []
    errors: list[BaseException] = []
    stop_at = time.perf_counter() + duration

    async def lane() -> None:
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            try:
                await call()
            except Exception as exc:  # noqa: BLE001 - counted and reported
                errors.append(exc)
                continue
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(INFLIGHT)))
    seconds = time.perf_counter() - started
    if errors:
        print(f"  {len(errors)} error(s) at {INFLIGHT} in flight, first: {errors[0]!r}", file=sys.stderr)
    if into is not None:
        into.done += len(latencies)
        into.errors += len(errors)
        into.seconds += seconds
        into.latencies += latencies


class DbWorker:
    """`manage.py db_worker --backend db --interval N` as a subprocess (quiet: -v 0)."""

    def __init__(self, url: str, interval: float) -> None:
        args = [PYTHON, "manage.py", "db_worker", "--backend", "db", "--interval", f"{interval:g}"]
        args += ["--no-startup-delay", "--no-reload", "-v", "0"]
        self.proc = Proc(args, env=child_env(url, SETTINGS), name=f"db_worker --interval {interval:g}")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        code = self.proc.stop()
        if code not in (0, -15):
            raise RuntimeError(f"{self.proc.name} exited with {code}:\n{self.proc.log()}")


async def measure(url: str, runactors_pid: int, plan: Plan) -> dict[str, Measured]:
    from bench.benchapp.tasks import count_words_db, count_words_walnats
    from walnats_django.client import close_connection

    calls = {
        WAIT: waiting_call(count_words_walnats),
        POLLED: polling_call(count_words_walnats),
        DB_DEFAULT: polling_call(count_words_db),
        DB_FASTEST: polling_call(count_words_db),
    }
    nats_pid = find_nats_pid(url) or 0
    measured = {name: Measured() for name in CLIENTS}
    half = plan.sequential // 2
    for number, clients in enumerate(PHASES, 1):
        interval = INTERVALS.get(clients[0])
        worker = None if interval is None else DbWorker(url, interval)
        try:
            worker_pid = runactors_pid if worker is None else worker.pid
            pids = {"client": os.getpid(), "worker": worker_pid, "nats-server": nats_pid}
            for name in clients:
                # The first call also waits for a fresh db_worker to start.
                await calls[name]()
                await sequential(calls[name], plan.warm_calls, 0.0)
            for name in clients:
                stop = measured[name].sequential_cpu.measure(pids)
                measured[name].sequential += await sequential(calls[name], half, interval or 0.0)
                stop()
            for name in clients:
                await closed_loop(calls[name], plan.warm_duration)
                stop = measured[name].cpu.measure(pids)
                await closed_loop(calls[name], plan.duration, measured[name])
                stop()
                part = measured[name]
                print(f"  phase {number}, {name}: {part.rate:,.0f} tasks/s so far", flush=True)
        finally:
            if worker is not None:
                worker.stop()
    await close_connection()
    return measured


# --------------------------------------------------------------------------- report


def report(measured: dict[str, Measured], plan: Plan) -> Result:
    seq = {name: LatencyStats.of(m.sequential) for name, m in measured.items()}
    base = seq[DB_DEFAULT]
    lat = Table(
        f"enqueue -> SUCCESSFUL through get_result, sequential ({plan.sequential} calls per client in "
        f"two A B B A phases, after {plan.warm_calls} warm-up calls each), ms",
        [
            "client",
            "worker",
            "p50",
            "p90",
            "p99",
            "mean",
            "max",
            "p50 vs db 1 s",
            "p50 vs db 0",
            "CPU us per call",
        ],
    )
    for name in CLIENTS:
        s = seq[name]
        lat.add(
            SHOWN[name][0],
            SHOWN[name][1],
            ms(s.p50),
            ms(s.p90),
            ms(s.p99),
            ms(s.mean),
            ms(s.max),
            ratio(s.p50, base.p50),
            ratio(s.p50, seq[DB_FASTEST].p50),
            measured[name].sequential_cpu.per_call_us(len(measured[name].sequential)),
        )
    lat.notes.append(
        "Before each call to `db_worker --interval 1` a pause drawn uniformly from [0, 1 s), so that "
        "calls arrive at random points of the worker's sleep; the other clients call back to back."
    )
    lat.notes.append(
        "CPU us per call: this process (client), the worker process and nats-server over the measured "
        "calls, pauses included; the db clients do not use NATS (nats-server only serves the idle "
        "runactors then), and their client CPU is mostly polling."
    )
    lat.notes.append(
        "The db: django-tasks-db 0.13.0 on SQLite, a file in a temp dir with journal_mode=WAL, "
        "synchronous=NORMAL and transaction_mode IMMEDIATE (bench/tasks_settings.py); the task is "
        "`len(text.split())`, a sync function, on both backends."
    )
    thr = Table(
        f"throughput with {INFLIGHT} in flight (closed loop: {INFLIGHT} lanes, each awaiting one call "
        f"at a time; {2 * plan.duration:g} s per client in two phases)",
        [
            "client",
            "worker",
            "tasks/s",
            "vs db 1 s",
            "vs db 0",
            "p50 ms",
            "p99 ms",
            "errors",
            "CPU % of a core",
            "CPU us per task",
        ],
    )
    for name in CLIENTS:
        m = measured[name]
        load = LatencyStats.of(m.latencies)
        thr.add(
            SHOWN[name][0],
            SHOWN[name][1],
            rate(m.rate),
            ratio(m.rate, measured[DB_DEFAULT].rate),
            ratio(m.rate, measured[DB_FASTEST].rate),
            ms(load.p50),
            ms(load.p99),
            m.errors,
            m.cpu.percent(m.seconds),
            m.cpu.per_call_us(m.done),
        )
    thr.notes.append(
        "Each phase's count includes its ramp-down: the lanes stop starting calls after the duration "
        "and the measurement ends when the last running call is done."
    )
    thr.notes.append(
        "db_worker sleeps its interval whenever it finds no task ready. The lanes enqueue again only "
        "once a poll has seen their result, so the queue runs dry now and then and the 1 s worker "
        "sleeps with tasks on the way: its rate varies from run to run more than the others'."
    )
    thr.notes.append(
        "WalnatsBackend with its default OPTIONS (MAX_JOBS 16: up to 16 tasks at once, sync tasks in "
        "threads); db_worker runs one task at a time, as it always does."
    )
    targets = []
    for name in (WAIT, POLLED):
        targets.append(
            Target(
                f"{name}: p50 vs the db's at db_worker's default interval",
                1 / 20,
                seq[name].p50 / base.p50,
                higher_is_better=False,
            )
        )
    for name in (WAIT, POLLED):
        targets.append(
            Target(
                f"{name}: throughput at {INFLIGHT} in flight vs the db's at db_worker's default interval",
                5.0,
                measured[name].rate / measured[DB_DEFAULT].rate,
                higher_is_better=True,
            )
        )
    return Result("tasks", [lat, thr], targets)


def run(url: str, quick: bool = False) -> Result:
    """A SQLite file and runactors for the run; db_workers come and go with their phases."""
    plan = Plan.of(quick)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="walnats-bench-tasks-") as tmp:
        os.environ[DB_ENV] = str(Path(tmp) / "tasks.sqlite3")
        setup_django(url, SETTINGS)
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        worker = start_runactors(url, [], settings=SETTINGS, extra_args=["--queue", QUEUE])
        try:
            measured = arun(measure(url, worker.pid, plan))
        finally:
            worker.stop()
    result = report(measured, plan)
    result.seconds = time.monotonic() - started
    return result


def main() -> None:
    args = base_parser(__doc__ or "").parse_args()
    with nats_server(args.nats_url) as url:
        finish(run(url, args.quick), args.json)


if __name__ == "__main__":
    main()
