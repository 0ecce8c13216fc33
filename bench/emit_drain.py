"""`emit()` throughput vs raw nats-py publishes, and the worker's drain rate of a backlog.

Emit: fire-and-forget `emit()` vs raw `nc.publish()` to the stream subject (core NATS, no
PubAck), and `emit(wait=True)` vs raw `await js.publish()`, sequential and 100 in flight.
"publish" rate = calls until flushed to the server; "stored" rate = until the stream holds
them all (poll of stream info), which is what matters for fire-and-forget.

Drain: with no worker running, a backlog of 100,000 `bench.noop` events is published, then
`runactors --actor bench-noop --batch B` starts; the rate is events / (time from the
worker's "Worker started" line until the consumer's num_pending + num_ack_pending is 0,
polled every 100 ms).

    python bench/emit_drain.py [--quick] [--nats-url URL] [--json FILE]
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

if __package__ in (None, ""):
    # Run as a file: make the repository importable as the `bench` package's parent.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench._common import (
    CpuMeter,
    Result,
    Table,
    Target,
    arun,
    base_parser,
    consumer_backlog,
    find_nats_pid,
    finish,
    nats_server,
    publish_backlog,
    rate,
    ratio,
    setup_django,
    start_runactors,
    stream_msgs,
    wait_until,
)
from bench.benchapp.catalog import NOOP_ACTOR, NOOP_EVENT, NOOP_STREAM

TEXT = "a no-op event"
DRAIN_GOAL = 10_000.0

Publish = Callable[[], Awaitable[object]]


async def ensure_noop(js: Any) -> None:
    """Create the `bench.noop` stream and the `bench-noop` consumer (as runactors would)."""
    from walnats_django.jetstream import ensure_consumer, ensure_stream
    from walnats_django.registry import registry

    actor = registry.select_actors([NOOP_ACTOR])[0]
    await ensure_stream(js, actor.event)
    await ensure_consumer(js, actor)


class EmitRow:
    def __init__(self, name: str, count: int, publish_s: float, stored_s: float, cpu: str) -> None:
        self.name = name
        self.count = count
        self.publish_rate = count / publish_s
        self.stored_rate = count / stored_s
        self.cpu = cpu


async def emit_phase(
    name: str,
    js: Any,
    count: int,
    inflight: int,
    publish: Publish,
    flush: Callable[[], Awaitable[None]],
    pids: dict[str, int],
) -> EmitRow:
    """Purge, then `count` publishes (sequentially or with `inflight` lanes); wait until stored."""
    await js.purge_stream(NOOP_STREAM)
    meter = CpuMeter(pids).start()
    started = time.perf_counter()
    if inflight == 1:
        for _ in range(count):
            await publish()
    else:
        left = count

        async def lane() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                await publish()

        await asyncio.gather(*(lane() for _ in range(inflight)))
    await flush()
    published = time.perf_counter() - started

    async def stored() -> int:
        return await stream_msgs(js, NOOP_STREAM)

    await wait_until(stored, count, timeout=120, every=0.01)
    stored_s = time.perf_counter() - started
    meter.stop()
    await asyncio.sleep(0.3)  # let late PubAcks of fire-and-forget emits arrive before the next phase
    print(f"  {name}: {count / published:,.0f}/s published, {count / stored_s:,.0f}/s stored", flush=True)
    return EmitRow(name, count, published, stored_s, meter.summary())


async def measure_emit(url: str, quick: bool) -> Table:
    import nats

    import walnats_django
    from bench.benchapp.events import NOOP
    from walnats_django.client import close_connection, get_connection

    nc = await nats.connect(url, name="bench-emit-raw")
    js = nc.jetstream()
    await ensure_noop(js)
    payload = b'"' + TEXT.encode() + b'"'
    conn = await get_connection(5)
    nats_pid = find_nats_pid(url)
    pids = {"bench": os.getpid(), **({"nats-server": nats_pid} if nats_pid else {})}

    async def raw_flush() -> None:
        await nc.flush(timeout=60)

    async def walnats_flush() -> None:
        await conn.nc.flush(timeout=60)

    async def raw_core() -> None:
        await nc.publish(NOOP_EVENT, payload)

    async def raw_js() -> None:
        await js.publish(NOOP_EVENT, payload, stream=NOOP_STREAM, timeout=10)

    async def emit_ff() -> None:
        await walnats_django.emit(NOOP, TEXT)

    async def emit_sync() -> None:
        await walnats_django.emit(NOOP, TEXT, wait=True)

    ff = 5_000 if quick else 100_000
    seq = 1_000 if quick else 10_000
    conc = 5_000 if quick else 50_000
    # Warm-up of every path (connections, caches), not measured.
    for warm in (raw_core, raw_js, emit_ff, emit_sync):
        for _ in range(200):
            await warm()
    await raw_flush()
    await walnats_flush()
    await asyncio.sleep(0.3)

    rows: dict[str, EmitRow] = {}
    plan: list[tuple[str, int, int, Publish, Callable[[], Awaitable[None]]]] = [
        ("raw nc.publish (no ack)", ff, 1, raw_core, raw_flush),
        ("emit() fire-and-forget", ff, 1, emit_ff, walnats_flush),
        ("raw await js.publish, sequential", seq, 1, raw_js, raw_flush),
        ("emit(wait=True), sequential", seq, 1, emit_sync, walnats_flush),
        ("raw await js.publish, 100 in flight", conc, 100, raw_js, raw_flush),
        ("emit(wait=True), 100 in flight", conc, 100, emit_sync, walnats_flush),
    ]
    for name, count, inflight, publish, flush in plan:
        rows[name] = await emit_phase(name, js, count, inflight, publish, flush, pids)
    await js.purge_stream(NOOP_STREAM)
    await close_connection()
    await nc.close()

    table = Table(
        "emit(): publish throughput (msgs/s) vs raw nats-py on the same stream",
        ["publisher", "messages", "publish rate", "stored rate", "vs baseline (stored)", "baseline", "CPU"],
    )
    pairs = [
        ("raw nc.publish (no ack)", None),
        ("emit() fire-and-forget", "raw nc.publish (no ack)"),
        ("raw await js.publish, sequential", None),
        ("emit(wait=True), sequential", "raw await js.publish, sequential"),
        ("raw await js.publish, 100 in flight", None),
        ("emit(wait=True), 100 in flight", "raw await js.publish, 100 in flight"),
    ]
    for name, base in pairs:
        row = rows[name]
        baseline = rows[base] if base else row
        table.add(
            name,
            f"{row.count:,}",
            rate(row.publish_rate),
            rate(row.stored_rate),
            ratio(row.stored_rate, baseline.stored_rate),
            base or "(itself)",
            row.cpu,
        )
    table.notes.append(
        "publish rate: calls returned and the client flushed; stored rate: until the "
        "stream holds every message (same for awaited publishes)."
    )
    table.notes.append(
        "emit() fire-and-forget sets a reply subject so failed PubAcks get logged: the "
        "server sends one PubAck per message back, which raw nc.publish does not ask for."
    )
    return table


@dataclass
class Drain:
    batch: int
    count: int
    publish_s: float
    startup_s: float
    drain_s: float
    total_s: float
    cpu: str

    @property
    def rate(self) -> float:
        return self.count / self.drain_s

    @property
    def total_rate(self) -> float:
        return self.count / self.total_s


async def drain_once(url: str, count: int, batch: int, nats_pid: int | None) -> Drain:
    """Publish the backlog, start a worker with `--batch`, time until the consumer is empty."""
    import nats

    nc = await nats.connect(url, name="bench-drain")
    js = nc.jetstream()
    await ensure_noop(js)
    publish_s = await publish_backlog(
        nc, js, NOOP_EVENT, NOOP_STREAM, NOOP_ACTOR, count, b'"' + TEXT.encode() + b'"'
    )
    spawned = time.monotonic()
    worker = await asyncio.to_thread(
        start_runactors, url, [NOOP_ACTOR], extra_args=["--batch", str(batch)], wait=False
    )
    try:
        pids = {"worker": worker.pid, **({"nats-server": nats_pid} if nats_pid else {})}
        meter = CpuMeter(pids)
        first: float | None = None
        while True:
            left = await consumer_backlog(js, NOOP_STREAM, NOOP_ACTOR)
            now = time.monotonic()
            if first is None and left < count:
                first = now
                meter.start()
            if left == 0:
                done = now
                break
            if now - spawned > 600:
                raise TimeoutError(f"backlog still {left} after 600s:\n{worker.log()}")
            if worker.process.poll() is not None:
                raise RuntimeError(f"worker exited {worker.process.returncode}:\n{worker.log()}")
            await asyncio.sleep(0.1)
        meter.stop()
        started = worker.wait_for_line("Worker started", timeout=1)
    finally:
        await asyncio.to_thread(worker.stop)
        await nc.close()
    result = Drain(
        batch, count, publish_s, started - spawned, done - started, done - spawned, meter.summary()
    )
    print(f"  drain --batch {batch}: {result.rate:,.0f} events/s ({result.cpu})", flush=True)
    return result


async def measure_drain(url: str, quick: bool) -> tuple[Table, list[Drain]]:
    count = 10_000 if quick else 100_000
    batches = (1, 256) if quick else (1, 64, 256)
    nats_pid = find_nats_pid(url)
    runs = [await drain_once(url, count, batch, nats_pid) for batch in batches]
    table = Table(
        f"Worker drain of a {count:,}-event backlog (trivial async handler, max_jobs 256)",
        [
            "runactors",
            "backlog publish s",
            "worker start s",
            "drain s",
            "events/s",
            "vs --batch 1",
            "events/s incl. start",
            "CPU while draining",
        ],
    )
    for d in runs:
        table.add(
            f"--batch {d.batch}",
            f"{d.publish_s:.2f}",
            f"{d.startup_s:.2f}",
            f"{d.drain_s:.2f}",
            rate(d.rate),
            ratio(d.rate, runs[0].rate),
            rate(d.total_rate),
            d.cpu,
        )
    table.notes.append(
        "drain s: from the worker's 'Worker started' log line until num_pending + "
        "num_ack_pending = 0 (polled every 100 ms, so +-0.1 s)."
    )
    table.notes.append(
        "worker start s: process spawn to 'Worker started' (Python + Django start-up, "
        "stream/consumer upsert)."
    )
    return table, runs


def run(url: str, quick: bool = False) -> Result:
    setup_django(url, "bench.settings")
    started = time.monotonic()
    emit_table = arun(measure_emit(url, quick))
    drain_table, runs = arun(measure_drain(url, quick))
    best = max(runs, key=lambda d: d.rate)
    targets = [
        Target(
            f"worker drain of the {runs[0].count:,} backlog (best: --batch {best.batch})",
            DRAIN_GOAL,
            best.rate,
            higher_is_better=True,
            unit="events/s",
        )
    ]
    return Result("emit_drain", [emit_table, drain_table], targets, time.monotonic() - started)


def main() -> None:
    parser = base_parser(__doc__ or "")
    args = parser.parse_args()
    with nats_server(args.nats_url) as url:
        finish(run(url, args.quick), args.json)


if __name__ == "__main__":
    main()
