"""A minority partition: the node that leads the stream and the consumer is cut off from the other
two, then the partition heals.

The cluster of this module routes through TCP proxies (tests/cluster/partition.py), so its routes
can be cut without root. A worker runs on each node. This process requests and emits through the
majority (n0, n1); a second requester process does the same through the minority node n2 only,
as a web process on that side of the partition would. Figures print with `pytest -s`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.conftest import StartClusterWorker, requester
from tests.cluster.load import LeaderWatch, Load, consumer_group, duplicates, handled, place_leaders
from tests.cluster.partition import RoutePartition
from tests.cluster.requester import RequesterProcess
from tests.helpers import until
from tests.testapp.cluster_events import CLUSTER_WORK
from walnats_django.testing import NatsCluster

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

STREAM = CLUSTER_WORK.stream_name
ACTOR = "cluster-work"
MINORITY = 2
RESUME_WITHIN = 1.0
CATCH_UP = 5.0
"""Seconds the test waits for the minority's replica to be current again after healing."""


def replicas_current(cluster: NatsCluster, timeout: float) -> float | None:
    """When every replica of the stream was current again, or None if not within `timeout`.

    Not asserted: nats-server 2.15.1 leaves behind a replica that took writes as a stale leader
    (its log says "Expected first catchup entry to be a snapshot and peerstate, will retry"; measured:
    still behind 60 s after healing, and 30 s after a restart of the node); the stream keeps serving
    on the other two.
    """
    try:
        cluster.wait_for_replicas(STREAM, timeout)
    except TimeoutError:
        return None
    return time.monotonic()


@pytest.fixture(scope="module")
def split() -> Iterator[tuple[NatsCluster, RoutePartition]]:
    """A cluster of its own whose routes go through proxies that can cut them."""
    cluster = NatsCluster(3, name="walnats-split")
    partition = RoutePartition(cluster).wire()
    try:
        with cluster:
            yield cluster, partition
    finally:
        partition.close()


@pytest.fixture(autouse=True)
def _every_node_back() -> None:
    """No node of this module's cluster is killed (and the package's cluster is not needed)."""


async def test_a_minority_partition_of_the_leader(
    split: tuple[NatsCluster, RoutePartition],
    start_cluster_worker: StartClusterWorker,
    record_dir: Path,
    tmp_path: Path,
) -> None:
    cluster, partition = split
    minority_log = tmp_path / "minority.jsonl"
    workers = [start_cluster_worker("--actor", ACTOR, url=cluster.node_url(n), wait=False) for n in range(3)]
    for worker in workers:
        await asyncio.to_thread(worker.wait_for_line, "Worker started", 30)
    await asyncio.to_thread(cluster.wait_for_replicas, STREAM, 20)
    # Only once the consumer exists: an interest stream acknowledges and drops what it stores
    # while it has no consumer.
    minority = RequesterProcess(cluster.node_url(MINORITY), "minority", minority_log)
    try:
        # The minority node leads both: the majority must elect, the minority must notice.
        await place_leaders(cluster, MINORITY, STREAM, [ACTOR])
        await asyncio.to_thread(minority.wait_started)
        groups = [STREAM, consumer_group(STREAM, ACTOR)]
        with requester(cluster, nodes=[0, 1]):
            async with Load("majority") as load:
                await load.wait_steady()
                with LeaderWatch(cluster, 0, groups, gone=MINORITY) as watch:
                    cut = time.monotonic()
                    partition.cut([MINORITY])
                    stream_elected = await watch.wait(STREAM)
                    elected = await watch.wait(*groups)
                await load.wait_ok(elected, timeout=10)
                await load.wait_steady(10)
                healed = time.monotonic()
                partition.heal()

                def minority_back() -> bool:
                    calls = Load.read(minority_log, "minority")
                    return all(calls.first_ok(kind, healed) for kind in ("request", "emit"))

                await until(minority_back, "the minority's requests and emits succeeding again", 20)
                caught_up = await asyncio.to_thread(replicas_current, cluster, CATCH_UP)
                replicas = cluster.replicas(STREAM)
                await load.wait_steady(10)
        await asyncio.to_thread(minority.stop)
    finally:
        minority.kill()
    other = Load.read(minority_log, "minority")
    lines = await handled(record_dir / ACTOR, load.acked(), "majority")
    minority_lines = await handled(record_dir / ACTOR, other.acked(), "minority")
    emit_back = load.first_ok_ending_after("emit", stream_elected)
    request_back = load.first_ok_ending_after("request", elected)
    minority_request = other.first_ok("request", healed)
    minority_emit = other.first_ok("emit", healed)
    assert emit_back is not None
    assert request_back is not None
    assert minority_request is not None
    assert minority_emit is not None
    twice = duplicates(lines + minority_lines)
    current = f"in {caught_up - healed:.2f}s" if caught_up else f"NOT within {CATCH_UP:g}s: {replicas}"
    print(
        f"\n[cluster] minority partition of {cluster.names[MINORITY]}, the stream and consumer leader: "
        f"majority (n0, n1): {load.summary()}; {len(load.acked())} emits PubAck'd, lost "
        f"{len(load.acked() - set(lines))}; new leaders after {stream_elected - cut:.2f}s (stream) and "
        f"{elected - cut:.2f}s (both); emits back {emit_back - stream_elected:.2f}s and requests "
        f"{request_back - elected:.2f}s after them. Minority ({cluster.names[MINORITY]}): "
        f"{other.summary()}; {len(other.acked())} emits PubAck'd, lost "
        f"{len(other.acked() - set(minority_lines))}. Partition {healed - cut:.2f}s; after healing "
        f"the minority's requests back in {minority_request - healed:.2f}s, emits in "
        f"{minority_emit - healed:.2f}s, replicas current {current}; duplicates "
        f"{len(twice)} {dict(list(twice.items())[:5])}"
    )
    for calls in (load, other):
        assert not calls.undocumented(), calls.undocumented()[:5]
        assert not calls.unexpected(), calls.unexpected()[:5]
        assert not calls.late(), calls.late()[:5]
    assert load.acked() <= set(lines)
    assert other.acked() <= set(minority_lines)
    exited = [(n, w.process.returncode) for n, w in enumerate(workers) if w.process.poll() is not None]
    assert not exited, f"workers exited: {exited}"
    assert emit_back - stream_elected < RESUME_WITHIN
    assert request_back - elected < RESUME_WITHIN
    for worker in workers:
        worker.stop()
