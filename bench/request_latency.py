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
    # Run as a file, bench/ would be sys.path[0], where bench/http.py shadows the stdlib `http`.
    _HERE = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [os.path.dirname(_HERE), *(p for p in sys.path if os.path.abspath(p or ".") != _HERE)]

from bench._common import (
    PYTHON,
    CpuMeter,
    LatencyStats,
    Proc,
    Result,
    Table,
    Target,
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
    proc = Proc([PYTHON, str(Path(__file__).resolve()), "--responder", "--nats-url", url],
                env=child_env(url), name="core-responder")
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


async def measure(url: str, quick: bool, worker_pid: int, responder_pid: int,
                  profile_seconds: float | None = None) -> Result:
    import nats

    import walnats_django
    from project.example.events import COUNT_WORDS
    from walnats_django.connection import close_connection

    nc = await nats.connect(url, name="bench-core-requester")
    payload = json.dumps(TEXT).encode()
    expected = len(TEXT.split())

    async def core_call() -> object:
        msg = await nc.request(CORE_SUBJECT, payload, timeout=10)
        return json.loads(msg.data)

    async def walnats_call() -> object:
        return await walnats_django.request(COUNT_WORDS, TEXT, timeout=10)

    calls: dict[str, Call] = {"core NATS nc.request": core_call, "walnats request()": walnats_call}
    peers = {"core NATS nc.request": ("responder", responder_pid),
             "walnats request()": ("worker", worker_pid)}
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

    seq_count = 300 if quick else 2000
    warm_count = 100 if quick else 500
    duration = 1.0 if quick else 5.0
    warm_duration = 0.3 if quick else 1.5

    seq: dict[str, LatencyStats] = {}
    for name, call in calls.items():
        await sequential(call, warm_count)
        seq[name] = LatencyStats.of(await sequential(call, seq_count))

    loads: dict[tuple[str, int], Load] = {}
    nats_pid = find_nats_pid(url)
    for inflight in INFLIGHT:
        for name, call in calls.items():
            await steady(call, inflight, warm_duration)
            peer_name, peer_pid = peers[name]
            pids = {"requester": os.getpid(), peer_name: peer_pid}
            if nats_pid is not None:
                pids["nats-server"] = nats_pid
            meter = CpuMeter(pids)
            loads[name, inflight] = await steady(call, inflight, duration, meter)

    await nc.close()
    await close_connection()

    base, ours = "core NATS nc.request", "walnats request()"
    lat = Table(f"request(): sequential latency ({seq_count} calls after {warm_count} warm-up), ms",
                ["client", "p50", "p90", "p99", "mean", "max", "p50 ratio", "p99 ratio"])
    for name in calls:
        s = seq[name]
        lat.add(name, ms(s.p50), ms(s.p90), ms(s.p99), ms(s.mean), ms(s.max),
                ratio(s.p50, seq[base].p50), ratio(s.p99, seq[base].p99))
    thr = Table(f"request(): throughput, steady load for {duration:g}s per cell (req/s, latency ms)",
                ["in flight", "core req/s", "walnats req/s", "walnats/core", "core p50", "walnats p50",
                 "core p99", "walnats p99", "errors (core/walnats)", "CPU core run", "CPU walnats run"])
    for inflight in INFLIGHT:
        c, w = loads[base, inflight], loads[ours, inflight]
        thr.add(inflight, rate(c.rate), rate(w.rate), ratio(w.rate, c.rate), ms(c.latency.p50),
                ms(w.latency.p50), ms(c.latency.p99), ms(w.latency.p99), f"{c.errors}/{w.errors}",
                c.cpu, w.cpu)
    thr.notes.append("CPU is % of one core over the measured window; requester = this benchmark process, "
                     "worker = `runactors --actor count-words`, responder = the core NATS subscriber.")
    thr.notes.append("Lanes: each of the N in-flight lanes awaits one call at a time (closed loop).")
    targets = [
        Target("request() sequential p50 vs core NATS p50", 1.5, seq[ours].p50 / seq[base].p50,
               higher_is_better=False),
        Target("request() throughput at 1,000 in flight vs core NATS", 0.5,
               loads[ours, 1000].rate / loads[base, 1000].rate, higher_is_better=True, unit="%"),
    ]
    return Result("request_latency", [lat, thr], targets)


def run(url: str, quick: bool = False) -> Result:
    """Start the worker and the core responder on `url`, measure, stop them."""
    setup_django(url, "project.settings")
    started = time.monotonic()
    worker = start_runactors(url, ["count-words"], settings="project.settings")
    try:
        with start_responder(url) as core:
            result = asyncio.run(measure(url, quick, worker.pid, core.pid))
    finally:
        worker.stop()
    result.seconds = time.monotonic() - started
    return result


def main() -> None:
    parser = base_parser(__doc__ or "")
    parser.add_argument("--responder", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--profile-seconds", type=float,
                        help="Only run walnats request() at 1,000 in flight this long (for py-spy); "
                             "needs a running worker (--nats-url) and prints this process's pid.")
    args = parser.parse_args()
    if args.responder:
        asyncio.run(responder(args.nats_url, CORE_SUBJECT))
        return
    if args.profile_seconds:
        setup_django(args.nats_url, "project.settings")
        print(f"requester pid {os.getpid()}", flush=True)
        asyncio.run(measure(args.nats_url, False, 0, 0, profile_seconds=args.profile_seconds))
        return
    with nats_server(args.nats_url) as url:
        finish(run(url, args.quick), args.json)


if __name__ == "__main__":
    main()
