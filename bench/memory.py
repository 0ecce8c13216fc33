"""Memory of `runactors`: RSS at idle with 1 and 20 actors, and peak RSS while a backlog drains.

The 20 actors are `bench-noop` plus 19 idle ones (bench/benchapp). RSS is VmRSS from
/proc/<pid>/status, sampled every 50 ms; VmHWM (the kernel's high-water mark) is shown too.
The drain run publishes 100,000 `bench.noop` events with no worker running, then starts
`runactors` with the 20 actors and samples until the consumer is empty.

    python bench/memory.py [--quick] [--nats-url URL] [--json FILE]
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

if __package__ in (None, ""):
    # Run as a file: make the repository importable as the `bench` package's parent.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench._common import (
    Proc,
    Result,
    Table,
    arun,
    base_parser,
    consumer_backlog,
    finish,
    nats_server,
    proc_status_kib,
    publish_backlog,
    rate,
    ratio,
    start_runactors,
)
from bench.benchapp.catalog import ALL_ACTORS, NOOP_ACTOR, NOOP_EVENT, NOOP_STREAM

SAMPLE_EVERY = 0.05


def mib(kib: float | None) -> str:
    return "n/a" if kib is None else f"{kib / 1024:.1f}"


def idle_rss(url: str, actors: list[str], settle: float, window: float) -> tuple[int, int]:
    """Start a worker, let it settle, return (median VmRSS over `window`, VmHWM) in KiB."""
    worker = start_runactors(url, actors)
    try:
        time.sleep(settle)
        samples: list[int] = []
        until = time.monotonic() + window
        while time.monotonic() < until:
            value = proc_status_kib(worker.pid, "VmRSS")
            if value is not None:
                samples.append(value)
            time.sleep(SAMPLE_EVERY)
        hwm = proc_status_kib(worker.pid, "VmHWM") or 0
    finally:
        worker.stop()
    samples.sort()
    return samples[len(samples) // 2], hwm


async def drain_peak(url: str, count: int) -> dict[str, float]:
    """Backlog of `count`, then a 20-actor worker; sample its RSS every 50 ms until drained."""
    import nats

    from bench.emit_drain import ensure_noop

    nc = await nats.connect(url, name="bench-memory")
    js = nc.jetstream()
    await ensure_noop(js)
    await publish_backlog(nc, js, NOOP_EVENT, NOOP_STREAM, NOOP_ACTOR, count, b'"a no-op event"')
    worker: Proc = await asyncio.to_thread(start_runactors, url, ALL_ACTORS, wait=False)
    peak = 0
    samples = 0
    last_check = 0.0
    try:
        while True:
            value = proc_status_kib(worker.pid, "VmRSS")
            if value is not None:
                peak = max(peak, value)
                samples += 1
            now = time.monotonic()
            if now - last_check >= 0.1:
                last_check = now
                if await consumer_backlog(js, NOOP_STREAM, NOOP_ACTOR) == 0:
                    break
                if worker.process.poll() is not None:
                    raise RuntimeError(f"worker exited {worker.process.returncode}:\n{worker.log()}")
                if now - worker.started_at > 600:
                    raise TimeoutError("backlog not drained within 600s")
            await asyncio.sleep(SAMPLE_EVERY)
        done = time.monotonic()
        hwm = proc_status_kib(worker.pid, "VmHWM") or 0
        end_rss = proc_status_kib(worker.pid, "VmRSS") or 0
        started = worker.wait_for_line("Worker started", timeout=1)
    finally:
        await asyncio.to_thread(worker.stop)
        await nc.close()
    return {"peak": peak, "hwm": hwm, "end": end_rss, "samples": samples, "rate": count / (done - started)}


def run(url: str, quick: bool = False) -> Result:
    from bench._common import setup_django

    setup_django(url, "bench.settings")
    started = time.monotonic()
    settle, window = (1.0, 0.5) if quick else (3.0, 2.0)
    count = 10_000 if quick else 100_000
    one, one_hwm = idle_rss(url, [NOOP_ACTOR], settle, window)
    twenty, twenty_hwm = idle_rss(url, ALL_ACTORS, settle, window)
    drain = arun(drain_peak(url, count))
    table = Table("runactors memory (MiB)", ["state", "VmRSS", "VmHWM", "vs idle, 1 actor", "notes"])
    table.add(
        "idle, 1 actor (bench-noop)",
        mib(one),
        mib(one_hwm),
        "1.00x",
        f"median of {window:g}s after {settle:g}s settle",
    )
    table.add(
        "idle, 20 actors",
        mib(twenty),
        mib(twenty_hwm),
        ratio(twenty, one),
        f"+{(twenty - one) / 1024 / 19:.2f} MiB per extra actor",
    )
    table.add(
        f"peak while draining {count:,} (20 actors)",
        mib(drain["peak"]),
        mib(drain["hwm"]),
        ratio(drain["peak"], one),
        f"{int(drain['samples'])} samples every 50 ms; drained at {rate(drain['rate'])} events/s",
    )
    table.add("after the drain (20 actors)", mib(drain["end"]), "", ratio(drain["end"], one), "")
    table.notes.append("VmHWM is the kernel's peak RSS of the process, including start-up.")
    return Result("memory", [table], [], time.monotonic() - started)


def main() -> None:
    parser = base_parser(__doc__ or "")
    args = parser.parse_args()
    with nats_server(args.nats_url) as url:
        finish(run(url, args.quick), args.json)


if __name__ == "__main__":
    main()
