"""`request()` and `emit(wait=True)` on R1 file, R1 memory and R3 file streams, beside the bare floor.

One event, stream and count-words actor per placement, declared in `bench/benchapp`:

- R1 file, `bench.place-r1-file`, and R1 memory, `bench.place-r1-mem`: on the single nats-server
  (`--nats-url`, the one run_all.py starts; else a fresh one);
- R3 file, `bench.place-r3-file`: on a 3-node `walnats_django.testing.NatsCluster` on loopback that
  this script starts itself (free ports, its own store dirs, removed at the end).

For each placement, measured the same way on the same stream configuration:

- `walnats_django.request()` answered by `runactors --actor bench-place-<key>`, beside the bare
  floor of jetstream_floor.py: a nats-py publish with a PubAck reply and a `Walnats-Reply` header,
  answered by a bare nats-py pull worker that acks, then answers; its stream and consumer are
  copies of the walnats ones (same JetStream config, other names);
- `emit(..., wait=True)` beside a bare `await js.publish()`, both to the walnats stream (whose
  runactors consumes what they store);
- sequential latency (interleaved blocks of every client; CPU us per call by process), then
  closed-loop throughput: requests with 1,000 in flight, emits with 100 in flight, the floor and
  walnats in A B B A order. The sequential table also has the two crossings (bare requester ->
  runactors, `request()` -> bare worker), which split request()'s difference between its sides,
  and a leaner emit floor (a bare publish awaiting its PubAck on a muxed inbox); no targets.

On the cluster every client is given every node's URL, in an order that puts it on a chosen node
(`dont_randomize`; runactors, which randomizes, is restarted until it lands where it should): the
requester on one node, both workers on another, and the leaders of both streams and both
consumers on the third (moved there with a preferred leader step-down before any worker starts),
so every publish, delivery and ack crosses a route, as it mostly does in a 3-node cluster.

    python bench/placement.py [--quick] [--nats-url URL] [--json FILE]
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

if __package__ in (None, ""):
    # Run as a file: make the repository importable as the `bench` package's parent.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench._common import (
    LatencyStats,
    Proc,
    Result,
    Table,
    Target,
    arun,
    base_parser,
    consumer_backlog,
    cpu_seconds,
    find_nats_pid,
    finish,
    ms,
    nats_server,
    rate,
    ratio,
    setup_django,
    start_runactors,
    wait_until,
)
from bench.benchapp.catalog import PLACEMENTS, placement_actor
from bench.jetstream_floor import BareRequester, start_bare_worker
from bench.request_latency import TEXT

LABELS = {"r1-file": "R1 file", "r1-mem": "R1 memory", "r3-file": "R3 file"}
CLUSTERED = "r3-file"
FLOOR_CONSUMER = "bench-place-floor"
BLOCKS = 10
REQUEST_INFLIGHT = 1000
EMIT_INFLIGHT = 100
GOAL = 1.1

FLOOR_REQ = "floor request"
OURS_REQ = "walnats request"
BARE_TO_OURS = "bare request to runactors"
OURS_TO_BARE = "walnats request to the bare worker"
FLOOR_EMIT = "floor emit"
OURS_EMIT = "walnats emit"
MUXED_EMIT = "muxed bare emit"
CLIENTS = (FLOOR_REQ, OURS_REQ, BARE_TO_OURS, OURS_TO_BARE, FLOOR_EMIT, OURS_EMIT, MUXED_EMIT)
"""The sequential clients. Two crossings split request()'s difference between its sides; the
muxed bare emit is a leaner floor for emit(wait=True) than nats-py's `js.publish`."""
SHOWN = {
    FLOOR_REQ: ("bare JetStream request", "bare pull worker"),
    OURS_REQ: ("walnats request()", "runactors"),
    BARE_TO_OURS: ("bare JetStream request", "runactors"),
    OURS_TO_BARE: ("walnats request()", "bare pull worker"),
    FLOOR_EMIT: ("bare await js.publish", "(stored; runactors consumes)"),
    OURS_EMIT: ("walnats emit(wait=True)", "(stored; runactors consumes)"),
    MUXED_EMIT: ("bare publish, PubAck on a muxed inbox", "(stored; runactors consumes)"),
}
"""client, answered by"""
BASELINE = {name: FLOOR_EMIT if "emit" in name else FLOOR_REQ for name in CLIENTS}
PAIRS = ((FLOOR_REQ, OURS_REQ, REQUEST_INFLIGHT), (FLOOR_EMIT, OURS_EMIT, EMIT_INFLIGHT))
PROCESSES = ("requester", "worker", "nats-server")

Call = Callable[[], Awaitable[object]]
# Loopback only: a proxy from the environment must not see the monitoring requests.
http = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def floor_names(key: str) -> tuple[str, str]:
    """The floor's stream and subject for a placement: `bench-place-<key>-floor`."""
    return f"bench-place-{key}-floor", f"bench.place-{key}-floor"


# --------------------------------------------------------------------------- counts


@dataclass(frozen=True)
class Plan:
    warm: int
    per_block: int
    cell: float
    warm_cell: float
    order: tuple[int, ...]
    """Throughput cells as indexes into (floor, walnats): A B B A, or A B for a quick run."""

    @classmethod
    def of(cls, quick: bool) -> Plan:
        if quick:
            return cls(warm=30, per_block=20, cell=0.3, warm_cell=0.1, order=(0, 1))
        return cls(warm=300, per_block=200, cell=3.0, warm_cell=1.0, order=(0, 1, 1, 0))

    @property
    def calls(self) -> int:
        return BLOCKS * self.per_block


# --------------------------------------------------------------------------- results


@dataclass
class Seq:
    stats: LatencyStats
    cpu: dict[str, float]
    """CPU microseconds per call by process."""


@dataclass
class Load:
    inflight: int
    done: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    cpu_s: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PROCESSES, 0.0))

    @property
    def rate(self) -> float:
        return self.done / self.seconds if self.seconds else float("nan")

    @property
    def latency(self) -> LatencyStats:
        return LatencyStats.of(self.latencies)

    @property
    def cpu_us(self) -> dict[str, float]:
        return {name: s / self.done * 1e6 if self.done else float("nan") for name, s in self.cpu_s.items()}

    @property
    def cpu_percent(self) -> dict[str, float]:
        return {name: 100 * s / self.seconds if self.seconds else 0.0 for name, s in self.cpu_s.items()}


@dataclass
class Measured:
    key: str
    seq: dict[str, Seq]
    load: dict[str, Load]
    layout: str


# --------------------------------------------------------------------------- the setup


@dataclass
class Setup:
    """One placement ready to measure: who answers, where each process connects, which pids to meter."""

    key: str
    requester_servers: list[str]
    requester_node: str | None
    worker_pid: int
    bare_pid: int
    nats_pids: list[int]
    layout: str
    leaders: dict[str, str] = field(default_factory=dict)
    """Cluster only: stream or `stream/consumer` -> the node that led it when measuring began."""


async def api(nc: Any, subject: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """A JetStream API request; `RuntimeError` with the server's description on an error."""
    data = json.dumps(body).encode() if body is not None else b""
    answer: dict[str, Any] = json.loads((await nc.request(subject, data, timeout=10)).data)
    if "error" in answer:
        raise RuntimeError(f"{subject}: {answer['error'].get('description', answer['error'])}")
    return answer


def without_server_metadata(config: dict[str, Any]) -> dict[str, Any]:
    """A config as a client would send it: the server's own `_nats.*` metadata dropped."""
    metadata = {k: v for k, v in (config.get("metadata") or {}).items() if not k.startswith("_nats.")}
    return (
        {**config, "metadata": metadata} if metadata else {k: v for k, v in config.items() if k != "metadata"}
    )


async def prepare_streams(urls: Sequence[str], key: str, lead: str | None) -> None:
    """Create (or update) the placement's stream and consumer as runactors does, and the floor's
    copies of both; purge them; on a cluster, move all four leaders to the node `lead`."""
    import nats

    from walnats_django.jetstream import ensure_consumer, ensure_stream
    from walnats_django.registry import registry

    actor = registry.select_actors([placement_actor(key)])[0]
    stream = actor.event.stream_name
    floor_stream, floor_subject = floor_names(key)
    nc = await nats.connect(servers=list(urls), name="bench-placement-setup")
    js = nc.jetstream()
    try:
        await ensure_stream(js, actor.event)
        await ensure_consumer(js, actor)
        config = (await api(nc, f"$JS.API.STREAM.INFO.{stream}"))["config"]
        consumer = (await api(nc, f"$JS.API.CONSUMER.INFO.{stream}.{actor.name}"))["config"]
        with contextlib.suppress(RuntimeError):  # a fresh copy every run: it matches the walnats stream
            await api(nc, f"$JS.API.STREAM.DELETE.{floor_stream}")
        copy = {**without_server_metadata(config), "name": floor_stream, "subjects": [floor_subject]}
        copy["description"] = f"Benchmark: the bare floor beside {stream} (same config)."
        await api(nc, f"$JS.API.STREAM.CREATE.{floor_stream}", copy)
        consumer_copy = {
            **without_server_metadata(consumer),
            "durable_name": FLOOR_CONSUMER,
            "name": FLOOR_CONSUMER,
            "description": f"Benchmark: the bare pull worker (config of {actor.name}).",
        }
        await api(
            nc,
            f"$JS.API.CONSUMER.CREATE.{floor_stream}.{FLOOR_CONSUMER}",
            {"stream_name": floor_stream, "config": consumer_copy},
        )
        await js.purge_stream(stream)
        if lead is not None:
            await move_leaders(nc, [(stream, actor.name), (floor_stream, FLOOR_CONSUMER)], lead)
    finally:
        await nc.close()


def group_subjects(pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    """`stream` and `stream/consumer` -> its INFO subject (the leader step-down subject is alike)."""
    subjects = {}
    for stream, consumer in pairs:
        subjects[stream] = f"STREAM.%s.{stream}"
        subjects[f"{stream}/{consumer}"] = f"CONSUMER.%s.{stream}.{consumer}"
    return subjects


async def leaders(nc: Any, pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    """Who leads each stream and consumer now ("" when nobody does)."""
    found = {}
    for name, subject in group_subjects(pairs).items():
        info = await api(nc, "$JS.API." + subject % "INFO")
        found[name] = info.get("cluster", {}).get("leader") or ""
    return found


async def move_leaders(nc: Any, pairs: Sequence[tuple[str, str]], node: str, timeout: float = 30) -> None:
    """Step every stream and consumer leader down in favour of `node`; wait until it leads them all
    and the streams' followers are current."""
    deadline = time.monotonic() + timeout
    subjects = group_subjects(pairs)
    while True:
        now = await leaders(nc, pairs)
        moving = [name for name, leader in now.items() if leader != node]
        streams_current = True
        for stream, _ in pairs:
            replicas = (await api(nc, f"$JS.API.STREAM.INFO.{stream}")).get("cluster", {}).get("replicas", [])
            streams_current &= all(r.get("current") and not r.get("offline") for r in replicas)
        if not moving and streams_current:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"leaders {now} (want {node} for all), followers current: {streams_current}")
        for name in moving:
            if now[name]:  # an election is under way otherwise: ask again later
                body = {"placement": {"preferred": node}}
                await api(nc, "$JS.API." + subjects[name] % "LEADER.STEPDOWN", body)
        await asyncio.sleep(0.2)


def connected_nodes(monitor_urls: Sequence[str], name: str) -> list[int]:
    """Indexes of the nodes that have a client connection called `name` (from `/connz`)."""
    found = []
    for node, monitor in enumerate(monitor_urls):
        with http.open(f"{monitor}/connz?limit=4096", timeout=5) as response:
            connz = json.load(response)
        if any(conn.get("name") == name for conn in connz.get("connections") or []):
            found.append(node)
    return found


def wait_connected_node(monitor_urls: Sequence[str], name: str, timeout: float = 15) -> int:
    deadline = time.monotonic() + timeout
    while True:
        nodes = connected_nodes(monitor_urls, name)
        if len(nodes) == 1:
            return nodes[0]
        if time.monotonic() > deadline:
            raise TimeoutError(f"connections named {name!r} on nodes {nodes}, want exactly one")
        time.sleep(0.05)


def preferring(urls: Sequence[str], node: int) -> list[str]:
    """Every node's URL, `node`'s first (with `dont_randomize` a client connects to it)."""
    return [urls[node], *(url for index, url in enumerate(urls) if index != node)]


# --------------------------------------------------------------------------- measuring


async def muxed_publisher(nc: Any, subject: str, payload: bytes) -> Call:
    """A bare publish that awaits its PubAck on one `<inbox>.*` subscription, as emit(wait=True)
    does (nats-py's `js.publish` makes a request per call and parses the PubAck into a dataclass)."""
    loop = asyncio.get_running_loop()
    prefix = nc.new_inbox()
    waiting: dict[str, asyncio.Future[bytes]] = {}
    counter = 0

    async def on_ack(msg: Any) -> None:
        if (future := waiting.pop(msg.subject.rsplit(".", 1)[1], None)) is not None:
            future.set_result(msg.data)

    await nc.subscribe(prefix + ".*", cb=on_ack)

    async def call() -> object:
        nonlocal counter
        counter += 1
        token = str(counter)
        future = waiting[token] = loop.create_future()
        await nc.publish(subject, payload, reply=f"{prefix}.{token}")
        ack = await asyncio.wait_for(future, 10)
        if b'"error"' in ack:
            raise RuntimeError(f"PubAck: {ack!r}")
        return None

    return call


def cpu_now(pids: dict[str, list[int]]) -> dict[str, float]:
    return {name: sum(cpu_seconds(pid) for pid in group) for name, group in pids.items()}


async def closed_loop(
    call: Call, inflight: int, duration: float, load: Load, pids: dict[str, list[int]]
) -> None:
    """`inflight` lanes, each calling back to back for `duration`; adds to `load`."""
    stop_at = time.perf_counter() + duration
    first_error: list[BaseException] = []

    async def lane() -> None:
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            try:
                await call()
            except Exception as exc:  # noqa: BLE001 - counted and reported
                load.errors += 1
                if not first_error:
                    first_error.append(exc)
                continue
            load.latencies.append(time.perf_counter() - started)

    before = cpu_now(pids)
    started = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(inflight)))
    load.seconds += time.perf_counter() - started
    after = cpu_now(pids)
    for name in PROCESSES:
        load.cpu_s[name] += after[name] - before[name]
    load.done = len(load.latencies)
    if first_error:
        print(f"  {load.errors} error(s) at {inflight} in flight, first: {first_error[0]!r}", file=sys.stderr)


async def measure(setup: Setup, plan: Plan) -> Measured:
    import nats
    from django.test import override_settings

    import walnats_django
    from bench.benchapp.events import PLACED
    from walnats_django import Event
    from walnats_django.client import close_connection, get_connection
    from walnats_django.conf import walnats_settings

    event = PLACED[setup.key]
    stream, actor = event.stream_name, placement_actor(setup.key)
    floor_stream, floor_subject = floor_names(setup.key)
    walnats = {**walnats_settings.raw, "SERVERS": setup.requester_servers}
    walnats["CONNECT_OPTIONS"] = {**walnats_settings.CONNECT_OPTIONS, "dont_randomize": True}
    with override_settings(WALNATS=walnats):
        nc = await nats.connect(
            servers=setup.requester_servers, dont_randomize=True, name="bench-placement-requester"
        )
        js = nc.jetstream()
        payload = json.dumps(TEXT).encode()
        bare = await BareRequester(nc, payload).start()
        floor_request = bare.call(floor_subject, puback=True)
        floor_event = Event(floor_subject, str).with_response(int)  # its stream: floor_stream

        async def ours_request() -> object:
            return await walnats_django.request(event, TEXT, timeout=10)

        async def ours_to_bare() -> object:
            return await walnats_django.request(floor_event, TEXT, timeout=10)

        async def floor_emit() -> object:
            return await js.publish(event.subject, payload, timeout=10)

        async def ours_emit() -> object:
            await walnats_django.emit(event, TEXT, wait=True)
            return None

        calls: dict[str, Call] = {
            FLOOR_REQ: floor_request,
            OURS_REQ: ours_request,
            BARE_TO_OURS: bare.call(event.subject, puback=True),
            OURS_TO_BARE: ours_to_bare,
            FLOOR_EMIT: floor_emit,
            OURS_EMIT: ours_emit,
            MUXED_EMIT: await muxed_publisher(nc, event.subject, payload),
        }
        expected = len(TEXT.split())
        for name in (FLOOR_REQ, OURS_REQ, BARE_TO_OURS, OURS_TO_BARE):
            if (answer := await calls[name]()) != expected:
                raise RuntimeError(f"{name} answered {answer!r}, expected {expected}")
        if setup.requester_node is not None:
            conn = await get_connection(5)
            on = {nc._server_info.get("server_name"), conn.nc._server_info.get("server_name")}
            if on != {setup.requester_node}:
                raise RuntimeError(f"the requester's connections are on {on}, not {setup.requester_node}")

        requester = [os.getpid()]
        pids = {
            name: {
                "requester": requester,
                "worker": [setup.bare_pid if SHOWN[name][1] == "bare pull worker" else setup.worker_pid],
                "nats-server": setup.nats_pids,
            }
            for name in CLIENTS
        }

        async def settle() -> None:
            """Wait until both consumers are done with what was published (emits pile up)."""
            for s, c in ((stream, actor), (floor_stream, FLOOR_CONSUMER)):

                async def backlog(s: str = s, c: str = c) -> int:
                    return await consumer_backlog(js, s, c)

                await wait_until(backlog, 0, timeout=120, every=0.05)

        # Sequential: interleaved blocks, so drift (other tenants, CPU clock) hits every client alike.
        for call in calls.values():
            for _ in range(plan.warm):
                await call()
        await settle()
        samples: dict[str, list[float]] = {name: [] for name in calls}
        cpu_s: dict[str, dict[str, float]] = {name: dict.fromkeys(PROCESSES, 0.0) for name in calls}
        for _ in range(BLOCKS):
            for name, call in calls.items():
                before = cpu_now(pids[name])
                for _ in range(plan.per_block):
                    started = time.perf_counter()
                    await call()
                    samples[name].append(time.perf_counter() - started)
                after = cpu_now(pids[name])
                for process in PROCESSES:
                    cpu_s[name][process] += after[process] - before[process]
        seq = {
            name: Seq(LatencyStats.of(values), {p: s / len(values) * 1e6 for p, s in cpu_s[name].items()})
            for name, values in samples.items()
        }

        # Throughput: closed loops, the floor and walnats in A B B A order.
        loads: dict[str, Load] = {}
        for floor, ours, inflight in PAIRS:
            pair = (floor, ours)
            for name in pair:
                await settle()
                await closed_loop(calls[name], inflight, plan.warm_cell, Load(inflight), pids[name])
                loads[name] = Load(inflight)
            for index in plan.order:
                name = pair[index]
                await settle()
                await closed_loop(calls[name], inflight, plan.cell, loads[name], pids[name])
            for name in pair:
                shown = f"{LABELS[setup.key]}, {SHOWN[name][0]}, {inflight} in flight"
                print(f"  {shown}: {loads[name].rate:,.0f}/s", flush=True)
        await settle()
        layout = setup.layout
        if setup.leaders:
            now = await leaders(nc, [(stream, actor), (floor_stream, FLOOR_CONSUMER)])
            if now != setup.leaders:
                layout += f" WARNING: leaders moved during the run (now {now})."
        await nc.close()
        await close_connection()
    return Measured(setup.key, seq, loads, layout)


# --------------------------------------------------------------------------- placements


def measure_single(url: str, key: str, plan: Plan) -> Measured:
    """An R1 placement on the single nats-server at `url`."""
    arun(prepare_streams([url], key, lead=None))
    nats_pid = find_nats_pid(url)
    worker = start_runactors(url, [placement_actor(key)])
    try:
        with start_bare_worker(url, floor_names(key)[0], FLOOR_CONSUMER) as bare:
            setup = Setup(
                key,
                [url],
                None,
                worker.pid,
                bare.pid,
                [nats_pid] if nats_pid else [],
                "one nats-server; the requester and both workers are connected to it.",
            )
            return arun(measure(setup, plan))
    finally:
        worker.stop()


def measure_cluster(plan: Plan) -> Measured:
    """R3 file on a 3-node cluster started here: requester, workers and leaders on distinct nodes."""
    from bench.benchapp.events import PLACED
    from walnats_django.testing import NatsCluster

    key = CLUSTERED
    lead = 2
    with NatsCluster(3, name="walnats-bench") as cluster:
        urls = cluster.urls
        monitors = [cluster.monitor_url(node) for node in range(len(urls))]
        arun(prepare_streams(urls, key, lead=cluster.names[lead]))
        worker: Proc | None = None
        try:
            for _ in range(10):  # runactors picks a node at random; it must not be the leaders'
                worker = start_runactors(cluster.url, [placement_actor(key)])
                worker_node = wait_connected_node(monitors, "walnats-django")
                if worker_node != lead:
                    break
                worker.stop()
                worker = None
            if worker is None:
                raise RuntimeError(f"runactors connected to {cluster.names[lead]} ten times in a row")
            requester_node = next(node for node in range(3) if node not in (lead, worker_node))
            with start_bare_worker(
                ",".join(preferring(urls, worker_node)), floor_names(key)[0], FLOOR_CONSUMER
            ) as bare:
                bare_node = wait_connected_node(monitors, "bench-bare-worker")
                if bare_node != worker_node:
                    raise RuntimeError(f"the bare worker is on n{bare_node}, runactors on n{worker_node}")
                names = cluster.names
                stream = PLACED[key].stream_name
                groups = group_subjects(
                    [(stream, placement_actor(key)), (floor_names(key)[0], FLOOR_CONSUMER)]
                )
                setup = Setup(
                    key,
                    preferring(urls, requester_node),
                    names[requester_node],
                    worker.pid,
                    bare.pid,
                    [node.process.pid for node in cluster.nodes if node.process is not None],
                    f"3-node cluster on loopback: requesters on {names[requester_node]}, runactors and "
                    f"the bare worker on {names[worker_node]}, {stream} and its floor copy, and both "
                    f"consumers, led by {names[lead]} (each node holds a replica).",
                    dict.fromkeys(groups, names[lead]),
                )
                return arun(measure(setup, plan))
        finally:
            if worker is not None:
                worker.stop()


# --------------------------------------------------------------------------- tables


def cpu_cell(values: dict[str, float]) -> str:
    return ", ".join(f"{values[p]:.0f}" for p in PROCESSES)


def both(ours: float, floor: float) -> str:
    return f"{ms(ours)} / {ms(floor)}"


def tables(results: list[Measured], plan: Plan) -> tuple[list[Table], list[Target]]:
    summary = Table(
        "Stream placements: walnats-django vs the bare nats-py JetStream floor (walnats / floor)",
        [
            "placement",
            "request() p50 ms",
            "p50 vs floor",
            "request() p99 ms",
            f"req/s at {REQUEST_INFLIGHT:,} in flight",
            "vs floor",
            "emit(wait) p50 ms",
            "p50 vs floor",
            f"emits/s at {EMIT_INFLIGHT} in flight",
            "vs floor",
            f"p50 <= {GOAL}x floor (request, emit)",
        ],
    )
    seq_table = Table(
        f"Stream placements: sequential latency ({plan.calls:,} calls each after {plan.warm} warm-up, "
        f"{BLOCKS} interleaved blocks), ms",
        [
            "placement",
            "client",
            "answered by",
            "p50",
            "p90",
            "p99",
            "p50 vs floor",
            "CPU us/call: requester, worker, nats-server",
        ],
    )
    load_table = Table(
        f"Stream placements: closed-loop throughput ({len(plan.order) // 2} x {plan.cell:g} s per client)",
        [
            "placement",
            "client",
            "in flight",
            "per s",
            "vs floor",
            "p50 ms",
            "p99 ms",
            "errors",
            "CPU us/call: requester, worker, nats-server",
            "CPU % of a core",
        ],
    )
    targets: list[Target] = []
    for m in results:
        label = LABELS[m.key]
        for name in CLIENTS:
            seq = m.seq[name]
            seq_table.add(
                label,
                *SHOWN[name],
                ms(seq.stats.p50),
                ms(seq.stats.p90),
                ms(seq.stats.p99),
                ratio(seq.stats.p50, m.seq[BASELINE[name]].stats.p50),
                cpu_cell(seq.cpu),
            )
        met = []
        for floor, ours, _ in PAIRS:
            kind = "request()" if ours == OURS_REQ else "emit(wait=True)"
            target = Target(
                f"{label}: {kind} sequential p50 vs the bare floor",
                GOAL,
                m.seq[ours].stats.p50 / m.seq[floor].stats.p50,
                higher_is_better=False,
            )
            targets.append(target)
            met.append("yes" if target.met else "**no**")
            for name in (floor, ours):
                load = m.load[name]
                lat = load.latency
                load_table.add(
                    label,
                    SHOWN[name][0],
                    f"{load.inflight:,}",
                    rate(load.rate),
                    ratio(load.rate, m.load[floor].rate),
                    ms(lat.p50),
                    ms(lat.p99),
                    load.errors,
                    cpu_cell(load.cpu_us),
                    ", ".join(f"{load.cpu_percent[p]:.0f}" for p in PROCESSES),
                )
        sf, so = m.seq[FLOOR_REQ].stats, m.seq[OURS_REQ].stats
        ef, eo = m.seq[FLOOR_EMIT].stats, m.seq[OURS_EMIT].stats
        lf, lo = m.load[FLOOR_REQ], m.load[OURS_REQ]
        pf, po = m.load[FLOOR_EMIT], m.load[OURS_EMIT]
        summary.add(
            label,
            both(so.p50, sf.p50),
            ratio(so.p50, sf.p50),
            both(so.p99, sf.p99),
            f"{rate(lo.rate)} / {rate(lf.rate)}",
            ratio(lo.rate, lf.rate),
            both(eo.p50, ef.p50),
            ratio(eo.p50, ef.p50),
            f"{rate(po.rate)} / {rate(pf.rate)}",
            ratio(po.rate, pf.rate),
            ", ".join(met),
        )
    summary.notes += [
        "floor = nats-py only, no walnats-django code: for request(), a publish with a PubAck reply "
        "and a Walnats-Reply header answered by a bare pull worker that acks, then answers "
        "(jetstream_floor.py's), on a copy of the placement's stream and consumer (same config); "
        "for emit(wait=True), `await js.publish()` to the same stream.",
        "Sequential figures: interleaved blocks of the clients; throughput: closed loops (each "
        "of the N lanes awaits one call at a time), floor and walnats alternating.",
        "Every process shares the machine's cores, so throughput ratios are ratios of CPU per call.",
        *(f"{LABELS[m.key]}: {m.layout}" for m in results),
    ]
    seq_table.notes += [
        "CPU from /proc (10 ms ticks) over each row's blocks, divided by its calls; the requester's "
        "includes the bench process's own loop; nats-server is the sum over the cluster's nodes for R3.",
        "emits: the worker column is runactors, consuming what both emitters store.",
        "The crossings (bare request -> runactors, request() -> bare worker) split request()'s "
        "difference from the floor between the worker's side and the requester's.",
        "The muxed bare emit (publish, PubAck awaited on one wildcard inbox subscription, as "
        "emit(wait=True) does) is a leaner floor than nats-py's js.publish, which makes a request "
        "per call and parses the PubAck into a dataclass; informational, not a target.",
    ]
    load_table.notes.append(
        "Before each cell the bench waits until both consumers have nothing pending (emits pile up "
        "faster than runactors consumes them)."
    )
    return [summary, seq_table, load_table], targets


# --------------------------------------------------------------------------- entry points


def run(url: str, quick: bool = False) -> Result:
    setup_django(url, "bench.settings")
    plan = Plan.of(quick)
    started = time.monotonic()
    results = []
    for key in PLACEMENTS:
        print(f"-- {LABELS[key]} --", flush=True)
        results.append(measure_cluster(plan) if key == CLUSTERED else measure_single(url, key, plan))
    found, targets = tables(results, plan)
    result = Result("placement", found, targets)
    result.seconds = time.monotonic() - started
    return result


def main() -> None:
    args = base_parser(__doc__ or "").parse_args()
    with nats_server(args.nats_url) as url:
        finish(run(url, args.quick), args.json)


if __name__ == "__main__":
    main()
