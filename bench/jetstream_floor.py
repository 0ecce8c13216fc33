"""How close can any JetStream request get to core NATS here? The floor, with no walnats code.

Sequential latency, in one run on one nats-server, interleaved blocks of every client:

- core NATS `nc.request`, answered by a plain subscriber (the baseline);
- a *bare* JetStream request: nats-py only, `publish` with a PubAck reply and a
  `Walnats-Reply` header, answered by a bare nats-py pull worker that acks, then answers;
- the bare request without asking for a PubAck (what receiving the PubAck costs; not an
  option for `request()`, which needs it to fail fast on a missing or full stream);
- `walnats_django.request()` answered by `runactors`, and the two crossings (bare requester
  -> runactors, `request()` -> bare worker), which show what each side of ours adds.

    python bench/jetstream_floor.py [--quick] [--nats-url URL] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench._common import (
    PYTHON,
    LatencyStats,
    Proc,
    Result,
    Table,
    arun,
    base_parser,
    child_env,
    cpu_seconds,
    find_nats_pid,
    finish,
    ms,
    nats_server,
    ratio,
    setup_django,
    start_runactors,
)
from bench.request_latency import CORE_SUBJECT, TEXT, start_responder

FLOOR_EVENT = "bench.floor"
FLOOR_STREAM = "bench-floor"
FLOOR_CONSUMER = "bench-floor"
PULL_BATCH = 128
BLOCKS = 10

Call = Callable[[], Awaitable[object]]


async def bare_worker(url: str, stream: str = FLOOR_STREAM, consumer: str = FLOOR_CONSUMER) -> None:
    """A pull worker in plain nats-py: ack, then answer `len(text.split())` to Walnats-Reply.

    `url` may list several servers (comma-separated): the worker connects to the first that
    answers, in that order (so a benchmark can choose the cluster node it sits on).
    """
    import nats

    nc = await nats.connect(servers=url.split(","), dont_randomize=True, name="bench-bare-worker")
    inbox = nc.new_inbox()
    api = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"
    pull = json.dumps({"batch": PULL_BATCH, "expires": int(3600e9)}).encode()
    credits = 0

    async def on_message(msg: Any) -> None:
        nonlocal credits
        if not (msg.reply or "").startswith("$JS.ACK."):
            return  # a status (heartbeat, expiry)
        credits -= 1
        if credits <= PULL_BATCH // 2:
            credits += PULL_BATCH
            await nc.publish(api, pull, reply=inbox)
        count = len(json.loads(msg.data).split())
        await msg.ack()
        await nc.publish(msg.headers["Walnats-Reply"], json.dumps(count).encode())

    await nc.subscribe(inbox, cb=on_message)
    for _ in range(2):
        credits += PULL_BATCH
        await nc.publish(api, pull, reply=inbox)
    await nc.flush()
    print("bare worker ready", flush=True)
    await asyncio.Event().wait()


def start_bare_worker(url: str, stream: str = FLOOR_STREAM, consumer: str = FLOOR_CONSUMER) -> Proc:
    """`bare_worker` in a subprocess (this file with `--bare-worker`); returns once it pulls."""
    args = [PYTHON, str(Path(__file__).resolve()), "--bare-worker", "--nats-url", url]
    if (stream, consumer) != (FLOOR_STREAM, FLOOR_CONSUMER):
        args += ["--stream", stream, "--consumer", consumer]
    proc = Proc(args, env=child_env(url), name="bare")
    try:
        proc.wait_for_line("bare worker ready", timeout=30)
    except BaseException:
        proc.stop()
        raise
    return proc


class BareRequester:
    """The requesting side of a bare JetStream request, in plain nats-py on the client `nc`.

    One `<inbox>.*` subscription (like walnats-django's): each call publishes to the stream's
    subject with a `Walnats-Reply` header (and, with `puback`, a reply subject for the PubAck,
    which is not awaited), then waits for the worker's answer.
    """

    def __init__(self, nc: Any, payload: bytes) -> None:
        self.nc = nc
        self.payload = payload
        self.prefix = nc.new_inbox()
        self.waiting: dict[str, asyncio.Future[bytes]] = {}
        self.counter = 0

    async def start(self) -> BareRequester:
        await self.nc.subscribe(self.prefix + ".*", cb=self._on_inbox)
        return self

    async def _on_inbox(self, msg: Any) -> None:
        token = msg.subject.rsplit(".", 1)[1]
        if token[0] == "r" and (future := self.waiting.pop(token[1:], None)) is not None:
            future.set_result(msg.data)

    def call(self, subject: str, *, puback: bool) -> Call:
        """An awaitable request to `subject`, returning the decoded answer."""
        nc, payload, prefix, waiting = self.nc, self.payload, self.prefix, self.waiting
        loop = asyncio.get_running_loop()

        async def call() -> object:
            self.counter += 1
            token = str(self.counter)
            future = waiting[token] = loop.create_future()
            await nc.publish(
                subject,
                payload,
                reply=f"{prefix}.a{token}" if puback else "",
                headers={"Walnats-Reply": f"{prefix}.r{token}", "Walnats-Deadline": repr(time.time() + 10)},
            )
            return json.loads(await asyncio.wait_for(future, 10))

        return call


def calls_per_client(quick: bool) -> int:
    return BLOCKS * (20 if quick else 200)


Row = tuple[str, str, LatencyStats, dict[str, float]]
"""client, answered by, latency, CPU microseconds per call by process."""


async def measure(url: str, quick: bool, worker_pids: dict[str, int]) -> list[Row]:
    import nats

    import walnats_django
    from project.example.events import COUNT_WORDS
    from walnats_django import Event
    from walnats_django.client import close_connection

    floor_event = Event(FLOOR_EVENT, str).with_response(int)
    nc = await nats.connect(url, name="bench-floor-requester")
    payload = json.dumps(TEXT).encode()
    bare = (await BareRequester(nc, payload).start()).call

    async def core() -> object:
        return json.loads((await nc.request(CORE_SUBJECT, payload, timeout=10)).data)

    async def ours() -> object:
        return await walnats_django.request(COUNT_WORDS, TEXT, timeout=10)

    async def ours_to_bare() -> object:
        return await walnats_django.request(floor_event, TEXT, timeout=10)

    calls: dict[tuple[str, str], Call] = {
        ("core NATS nc.request", "plain subscriber"): core,
        ("bare JetStream request", "bare pull worker"): bare(FLOOR_EVENT, puback=True),
        ("bare, no PubAck asked", "bare pull worker"): bare(FLOOR_EVENT, puback=False),
        ("walnats request()", "runactors"): ours,
        ("bare JetStream request", "runactors"): bare(COUNT_WORDS.subject, puback=True),
        ("walnats request()", "bare pull worker"): ours_to_bare,
    }
    expected = len(TEXT.split())
    warm, per_block = (50 if quick else 500), calls_per_client(quick) // BLOCKS
    for call in calls.values():
        for _ in range(warm):
            if await call() != expected:
                raise RuntimeError("wrong answer")
    samples: dict[tuple[str, str], list[float]] = {key: [] for key in calls}
    cpu: dict[tuple[str, str], dict[str, float]] = {
        key: {"requester": 0.0, "worker": 0.0, "nats-server": 0.0} for key in calls
    }
    nats_pid = find_nats_pid(url) or 0
    for _ in range(BLOCKS):
        for key, call in calls.items():
            pids = {"requester": os.getpid(), "worker": worker_pids[key[1]], "nats-server": nats_pid}
            before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            for _ in range(per_block):
                started = time.perf_counter()
                await call()
                samples[key].append(time.perf_counter() - started)
            for name, pid in pids.items():
                cpu[key][name] += cpu_seconds(pid) - before[name]
    await nc.close()
    await close_connection()
    return [
        (
            client,
            worker,
            LatencyStats.of(values),
            {name: seconds / len(values) * 1e6 for name, seconds in cpu[client, worker].items()},
        )
        for (client, worker), values in samples.items()
    ]


async def create_floor_stream(url: str) -> None:
    """The bare worker's stream and consumer, configured as walnats-django would."""
    import nats
    from nats.js.api import ConsumerConfig, DiscardPolicy, RetentionPolicy, StreamConfig

    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.add_stream(
        StreamConfig(
            name=FLOOR_STREAM,
            subjects=[FLOOR_EVENT],
            retention=RetentionPolicy.INTEREST,
            discard=DiscardPolicy.NEW,
        )
    )
    await js.add_consumer(FLOOR_STREAM, ConsumerConfig(durable_name=FLOOR_CONSUMER, ack_wait=16))
    await nc.close()


def run(url: str, quick: bool = False) -> Result:
    setup_django(url, "bench.settings")
    started = time.monotonic()
    arun(create_floor_stream(url))
    worker = start_runactors(url, ["count-words"], settings="project.settings")
    try:
        with start_responder(url) as core, start_bare_worker(url) as bare:
            pids = {"plain subscriber": core.pid, "bare pull worker": bare.pid, "runactors": worker.pid}
            rows = arun(measure(url, quick, pids))
    finally:
        worker.stop()
    core_stats = rows[0][2]
    table = Table(
        f"JetStream floor: sequential latency ({calls_per_client(quick):,} calls each, "
        f"{BLOCKS} interleaved blocks), ms",
        [
            "client",
            "answered by",
            "p50",
            "p90",
            "p99",
            "p50 vs core",
            "CPU us/call: requester, worker, nats-server",
        ],
    )
    for client, worker_name, stats, cpu in rows:
        table.add(
            client,
            worker_name,
            ms(stats.p50),
            ms(stats.p90),
            ms(stats.p99),
            ratio(stats.p50, core_stats.p50),
            ", ".join(f"{v:.0f}" for v in cpu.values()),
        )
    table.notes.append(
        "bare = nats-py only, no walnats-django code; the bare worker acks, then "
        "answers, like runactors. Its stream and consumer have walnats-django's config."
    )
    table.notes.append(
        "CPU from /proc (10 ms ticks) over each row's blocks, divided by its calls; the "
        "requester's includes the bench process's own loop."
    )
    table.notes.append(
        "The PubAck row without one shows what receiving it costs the requester; "
        "request() needs it to fail fast on a missing or full stream and on a lost "
        "connection, so it always asks for one."
    )
    result = Result("jetstream_floor", [table])
    result.seconds = time.monotonic() - started
    return result


def main() -> None:
    parser = base_parser(__doc__ or "")
    parser.add_argument("--bare-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--stream", default=FLOOR_STREAM, help=argparse.SUPPRESS)
    parser.add_argument("--consumer", default=FLOOR_CONSUMER, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_worker:
        arun(bare_worker(args.nats_url, args.stream, args.consumer))
        return
    with nats_server(args.nats_url) as url:
        finish(run(url, args.quick), args.json)


if __name__ == "__main__":
    main()
