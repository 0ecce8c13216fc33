"""`walnats_django.request()` vs a core NATS `nc.request()` on the same nats-server.

The walnats side is answered by a real `manage.py runactors --actor count-words` process,
the core side by a plain nats-py subscriber in its own process (`--responder`); both count
the words of the same text. Measured: sequential latency (p50/p99) and throughput with
1, 10, 100 and 1,000 requests in flight (steady load: N lanes, each awaiting one call at a time).

    python bench/request_latency.py [--quick] [--nats-url URL] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    # Run as a file: make the repository importable as the `bench` package's parent.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench._common import (
    PYTHON,
    CpuMeter,
    LatencyStats,
    Proc,
    Result,
    Table,
    Target,
    arun,
    base_parser,
    child_env,
    find_nats_pid,
    finish,
    ms,
    nats_server,
    rate,
    ratio,
    setup_django,
    start_runactors,
)

CORE_SUBJECT = "bench.core.count-words"
TEXT = "the quick brown fox jumps over the lazy dog and keeps running across the field " * 2
INFLIGHT = (1, 10, 100, 1000)
SEQ_BLOCKS = 10

Call = Callable[[], Awaitable[object]]


# --------------------------------------------------------------------------- the core responder


async def responder(url: str, subject: str) -> None:
    """A plain core NATS subscriber answering `len(text.split())` as JSON."""
    import nats

    nc = await nats.connect(url, name="bench-core-responder")

    async def answer(msg: Any) -> None:
        text = json.loads(msg.data)
        await nc.publish(msg.reply, json.dumps(len(text.split())).encode())

    await nc.subscribe(subject, cb=answer, pending_msgs_limit=1_000_000, pending_bytes_limit=1 << 30)
    await nc.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print("responder ready", flush=True)
    await stop.wait()
    await nc.drain()


def start_responder(url: str) -> Proc:
    proc = Proc(
        [PYTHON, str(Path(__file__).resolve()), "--responder", "--nats-url", url],
        env=child_env(url),
        name="core-responder",
    )
    proc.wait_for_line("responder ready", timeout=30)
    return proc


# --------------------------------------------------------------------------- load shapes


async def sequential(call: Call, count: int) -> list[float]:
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        await call()
        latencies.append(time.perf_counter() - started)
    return latencies


@dataclass
class Load:
    inflight: int
    done: int
    errors: int
    seconds: float
    latency: LatencyStats
    cpu: str

    @property
    def rate(self) -> float:
        return self.done / self.seconds


async def steady(call: Call, inflight: int, duration: float, meter: CpuMeter | None = None) -> Load:
    """`inflight` lanes, each calling back to back until `duration` passed."""
    latencies: list[float] = []
    errors = 0
    first_error: list[BaseException] = []
    stop_at = time.perf_counter() + duration

    async def lane() -> None:
        nonlocal errors
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            try:
                await call()
            except Exception as exc:  # noqa: BLE001 - counted and reported
                errors += 1
                if not first_error:
                    first_error.append(exc)
                continue
            latencies.append(time.perf_counter() - started)

    if meter is not None:
        meter.start()
    started = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(inflight)))
    seconds = time.perf_counter() - started
    cpu = ""
    if meter is not None:
        meter.stop()
        cpu = meter.summary()
    if first_error:
        print(f"  {errors} error(s) at {inflight} in flight, first: {first_error[0]!r}", file=sys.stderr)
    return Load(inflight, len(latencies), errors, seconds, LatencyStats.of(latencies), cpu)


# --------------------------------------------------------------------------- the benchmark


CORE = "core NATS nc.request"
WALNATS = "walnats request()"
WIDE = "walnats request(), max_jobs 256"


async def measure(
    url: str, quick: bool, peers: dict[str, tuple[str, int]], profile_seconds: float | None = None
) -> Result:
    """`peers`: client name -> (name, pid) of the process answering it (for CPU metering)."""
    import nats

    import walnats_django
    from bench.benchapp.events import COUNT_WORDS_WIDE
    from project.example.events import COUNT_WORDS
    from walnats_django.client import close_connection

    nc = await nats.connect(url, name="bench-core-requester")
    payload = json.dumps(TEXT).encode()
    expected = len(TEXT.split())

    async def core_call() -> object:
        msg = await nc.request(CORE_SUBJECT, payload, timeout=10)
        return json.loads(msg.data)

    async def walnats_call() -> object:
        return await walnats_django.request(COUNT_WORDS, TEXT, timeout=10)

    async def wide_call() -> object:
        return await walnats_django.request(COUNT_WORDS_WIDE, TEXT, timeout=10)

    calls: dict[str, Call] = {CORE: core_call, WALNATS: walnats_call, WIDE: wide_call}
    calls = {name: call for name, call in calls.items() if name in peers}
    for name, call in calls.items():
        answer = await call()
        if answer != expected:
            raise RuntimeError(f"{name} answered {answer!r}, expected {expected}")

    if profile_seconds is not None:
        # Profiling mode: only the 1,000-in-flight walnats load, for as long as asked.
        print(f"profiling: walnats request() at 1000 in flight for {profile_seconds:g}s", flush=True)
        await steady(walnats_call, 1000, 2.0)
        print("profile load started", flush=True)
        load = await steady(walnats_call, 1000, profile_seconds)
        print(f"profile load done: {load.rate:,.0f} req/s, p50 {ms(load.latency.p50)} ms", flush=True)
        await nc.close()
        await close_connection()
        return Result("request_latency")

    seq_count = 200 if quick else 2000
    warm_count = 50 if quick else 500
    duration = 0.6 if quick else 5.0
    warm_duration = 0.2 if quick else 1.5

    # Interleaved blocks, so that drift (other tenants, CPU clock) hits every client alike.
    for call in calls.values():
        await sequential(call, warm_count)
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(SEQ_BLOCKS):
        for name, call in calls.items():
            samples[name] += await sequential(call, seq_count // SEQ_BLOCKS)
    seq = {name: LatencyStats.of(values) for name, values in samples.items()}

    loads: dict[tuple[str, int], Load] = {}
    nats_pid = find_nats_pid(url)
    for inflight in INFLIGHT:
        for name, call in calls.items():
            await steady(call, inflight, warm_duration)
            pids = {"requester": os.getpid(), peers[name][0]: peers[name][1]}
            if nats_pid is not None:
                pids["nats-server"] = nats_pid
            loads[name, inflight] = await steady(call, inflight, duration, CpuMeter(pids))
            print(f"  {inflight:>4} in flight, {name}: {loads[name, inflight].rate:,.0f} req/s", flush=True)

    await nc.close()
    await close_connection()

    lat = Table(
        f"request(): sequential latency ({seq_count} calls each after {warm_count} warm-up, "
        f"in {SEQ_BLOCKS} interleaved blocks), ms",
        ["client", "p50", "p90", "p99", "mean", "max", "p50 vs core", "p99 vs core"],
    )
    for name in calls:
        s = seq[name]
        lat.add(
            name,
            ms(s.p50),
            ms(s.p90),
            ms(s.p99),
            ms(s.mean),
            ms(s.max),
            ratio(s.p50, seq[CORE].p50),
            ratio(s.p99, seq[CORE].p99),
        )
    thr = Table(
        f"request(): throughput, steady load for {duration:g}s per cell",
        ["in flight", "client", "req/s", "vs core", "p50 ms", "p99 ms", "errors", "CPU % of a core"],
    )
    for inflight in INFLIGHT:
        for name in calls:
            r = loads[name, inflight]
            thr.add(
                inflight,
                name,
                rate(r.rate),
                ratio(r.rate, loads[CORE, inflight].rate),
                ms(r.latency.p50),
                ms(r.latency.p99),
                r.errors,
                r.cpu,
            )
    thr.notes.append(
        "Each of the N in-flight lanes awaits one call at a time (closed loop), so N is "
        "exactly the number of outstanding requests."
    )
    thr.notes.append(
        "requester = this process; responder = the core NATS subscriber process; worker = "
        "`runactors --actor count-words` (project.settings; the example actor, max_jobs 256); "
        "wide worker = `runactors --actor bench-count-words` (same handler, max_jobs 256)."
    )
    thr.notes.append(
        "The targets use the example's count-words actor; the max_jobs 256 rows are informational."
    )
    targets = [
        Target(
            "request() sequential p50 vs core NATS p50",
            1.5,
            seq[WALNATS].p50 / seq[CORE].p50,
            higher_is_better=False,
        ),
        Target(
            "request() throughput at 1,000 in flight vs core NATS",
            0.5,
            loads[WALNATS, 1000].rate / loads[CORE, 1000].rate,
            higher_is_better=True,
            unit="%",
        ),
    ]
    return Result("request_latency", [lat, thr], targets)


def run(url: str, quick: bool = False) -> Result:
    """Start the workers and the core responder on `url`, measure, stop them."""
    from bench.benchapp.catalog import COUNT_ACTOR

    setup_django(url, "bench.settings")
    started = time.monotonic()
    worker = start_runactors(url, ["count-words"], settings="project.settings", wait=False)
    wide = start_runactors(url, [COUNT_ACTOR], settings="bench.settings", wait=False)
    try:
        worker.wait_for_line("Worker started", timeout=60)
        wide.wait_for_line("Worker started", timeout=60)
        with start_responder(url) as core:
            peers = {
                CORE: ("responder", core.pid),
                WALNATS: ("worker", worker.pid),
                WIDE: ("wide worker", wide.pid),
            }
            result = arun(measure(url, quick, peers))
    finally:
        worker.stop()
        wide.stop()
    result.seconds = time.monotonic() - started
    return result


def main() -> None:
    parser = base_parser(__doc__ or "")
    parser.add_argument("--responder", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--profile-seconds",
        type=float,
        help="Only run walnats request() at 1,000 in flight this long (for py-spy); "
        "needs a running worker (--nats-url) and prints this process's pid.",
    )
    args = parser.parse_args()
    if args.responder:
        arun(responder(args.nats_url, CORE_SUBJECT))
        return
    if args.profile_seconds:
        setup_django(args.nats_url, "bench.settings")
        print(f"requester pid {os.getpid()}", flush=True)
        arun(measure(args.nats_url, False, {WALNATS: ("worker", 0)}, profile_seconds=args.profile_seconds))
        return
    with nats_server(args.nats_url) as url:
        finish(run(url, args.quick), args.json)


if __name__ == "__main__":
    main()
