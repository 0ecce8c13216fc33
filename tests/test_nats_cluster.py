"""NatsCluster (walnats_django.testing.cluster): a real three-node JetStream cluster, and failover
as a client sees it. The measured figures print with `pytest -s`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Iterator
from typing import TypeVar

import nats
import nats.errors
import nats.js.errors
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import PubAck

from tests.helpers import until
from walnats_django.testing import NatsCluster

pytestmark = pytest.mark.cluster

T = TypeVar("T")


@pytest.fixture(scope="module")
def cluster() -> Iterator[NatsCluster]:
    """One cluster for the module: starting one takes a moment, electing leaders longer."""
    with NatsCluster(3) as cluster:
        yield cluster


@pytest.fixture(autouse=True)
def _every_node_back(cluster: NatsCluster) -> Iterator[None]:
    """Tests kill and stop nodes; each test starts with all of them."""
    yield
    for node in range(len(cluster.nodes)):
        if not cluster.alive(node):
            cluster.restart(node)


async def connect(cluster: NatsCluster, node: int) -> tuple[Client, JetStreamContext]:
    """A client of one node only, so that it stays there when others go."""
    nc = await nats.connect(cluster.node_url(node), dont_randomize=True)
    return nc, nc.jetstream()


async def create_r3_stream(cluster: NatsCluster, node: int, name: str) -> None:
    """An R3 stream on `<name>.>`, created through `node`; returns once every replica is current."""
    nc, js = await connect(cluster, node)
    try:
        await js.add_stream(name=name, subjects=[f"{name}.>"], num_replicas=3)
    finally:
        await nc.close()
    await asyncio.to_thread(cluster.wait_for_replicas, name, 10)


async def publish_until_acked(js: JetStreamContext, subject: str, msg_id: str, timeout: float) -> PubAck:
    """Publish until a PubAck comes: during an election there are no responders or no answer.

    The message id makes a retry of a publish that was stored but not acknowledged a duplicate.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await js.publish(subject, msg_id.encode(), timeout=0.5, headers={"Nats-Msg-Id": msg_id})
        except (
            nats.errors.TimeoutError,
            nats.js.errors.NoStreamResponseError,
            nats.js.errors.ServiceUnavailableError,
        ):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


async def timed(awaitable: Awaitable[T]) -> tuple[T, float]:
    """The awaitable's result and when it came (`time.monotonic()`)."""
    result = await awaitable
    return result, time.monotonic()


async def test_every_node_serves_jetstream_and_the_leaders_are_named(cluster: NatsCluster) -> None:
    assert cluster.url == ",".join(cluster.urls)
    assert len(set(cluster.urls)) == 3
    assert cluster.meta_leader() in range(3)

    await create_r3_stream(cluster, 0, "BASIC")
    nc, js = await connect(cluster, 1)
    try:
        acks = [await js.publish("BASIC.x", b"%d" % n) for n in range(10)]
        assert [ack.seq for ack in acks] == list(range(1, 11))
    finally:
        await nc.close()

    nc, js = await connect(cluster, 2)
    try:
        info = await js.stream_info("BASIC")
    finally:
        await nc.close()
    assert info.state.messages == 10
    assert info.config.num_replicas == 3
    leader = cluster.leader("BASIC")
    assert info.cluster is not None
    assert info.cluster.leader == cluster.names[leader]
    followers = cluster.replicas("BASIC")
    assert sorted(replica.node for replica in followers) == sorted({0, 1, 2} - {leader})
    assert all(replica.current and not replica.offline for replica in followers)


async def test_kill_9_of_the_leader_elects_another_and_loses_nothing_acknowledged(
    cluster: NatsCluster,
) -> None:
    await create_r3_stream(cluster, 0, "KILL")
    leader = cluster.leader("KILL")
    survivor = (leader + 1) % 3
    nc, js = await connect(cluster, survivor)
    try:
        for n in range(100):
            await js.publish("KILL.x", b"%d" % n)

        killed_at = time.monotonic()
        cluster.kill(leader)
        # Both at once: the election as the cluster reports it, and publishing as a client sees it.
        (elected, elected_at), (ack, acked_at) = await asyncio.gather(
            timed(asyncio.to_thread(cluster.wait_for_leader, "KILL", 20, leader)),
            timed(publish_until_acked(js, "KILL.x", "after-kill", timeout=20)),
        )
        print(
            f"\nkill -9 of the stream leader {cluster.names[leader]}: {cluster.names[elected]} elected "
            f"after {elected_at - killed_at:.2f}s; a publish through {cluster.names[survivor]} "
            f"acknowledged after {acked_at - killed_at:.2f}s"
        )
        assert elected != leader
        assert ack.seq == 101
        assert (await js.stream_info("KILL")).state.messages == 101

        restarted_at = time.monotonic()
        cluster.restart(leader)
        back_at = time.monotonic()
        followers = await asyncio.to_thread(cluster.wait_for_replicas, "KILL", 20)
        print(
            f"restart of {cluster.names[leader]}: back in the cluster after {back_at - restarted_at:.2f}s, "
            f"its replica current after {time.monotonic() - restarted_at:.2f}s"
        )
        assert leader in [replica.node for replica in followers]
        assert (await js.stream_info("KILL")).state.messages == 101
    finally:
        await nc.close()


async def test_lame_duck_hands_leadership_over_and_the_node_exits(cluster: NatsCluster) -> None:
    await create_r3_stream(cluster, 0, "LDM")
    leader = cluster.leader("LDM")
    survivor = (leader + 1) % 3
    nc, js = await connect(cluster, survivor)
    try:
        await js.publish("LDM.x", b"before")
        signalled_at = time.monotonic()
        exited = asyncio.create_task(asyncio.to_thread(cluster.lame_duck, leader))
        elected = await asyncio.to_thread(cluster.wait_for_leader, "LDM", 10, leader)
        handed_over_at = time.monotonic()
        await exited
        print(
            f"\nlame duck of the stream leader {cluster.names[leader]}: {cluster.names[elected]} leads "
            f"{handed_over_at - signalled_at:.2f}s after SIGUSR2; the node exited after "
            f"{time.monotonic() - signalled_at:.2f}s"
        )
        assert elected != leader
        assert not cluster.alive(leader)
        ack = await publish_until_acked(js, "LDM.x", "after-ldm", timeout=5)
        assert ack.seq == 2
    finally:
        await nc.close()


async def test_consumer_leader_of_a_durable_pull_consumer(cluster: NatsCluster) -> None:
    await create_r3_stream(cluster, 0, "WORK")
    nc, js = await connect(cluster, 1)
    try:
        await js.add_consumer("WORK", durable_name="worker", ack_policy="explicit")
        for n in range(3):
            await js.publish("WORK.x", b"%d" % n)
    finally:
        await nc.close()
    leader = cluster.consumer_leader("WORK", "worker")
    assert leader in range(3)

    def another_leader() -> str | None:
        try:
            now = cluster.consumer_leader("WORK", "worker")
        except LookupError:
            return None
        return cluster.names[now] if now != leader else None

    signalled_at = time.monotonic()
    cluster.lame_duck(leader)
    name = await until(another_leader, "another consumer leader", timeout=10)
    print(
        f"\nlame duck of the consumer leader {cluster.names[leader]}: {name} leads, seen "
        f"{time.monotonic() - signalled_at:.2f}s after SIGUSR2 (lame_duck() waits for the exit)"
    )
    survivor = cluster.names.index(name)
    nc, js = await connect(cluster, survivor)
    try:
        pull = await js.pull_subscribe_bind("worker", "WORK")
        messages = await pull.fetch(3, timeout=5)
        assert [message.data for message in messages] == [b"0", b"1", b"2"]
    finally:
        await nc.close()
