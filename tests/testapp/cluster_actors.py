"""Actors of the cluster fault suite (tests/cluster/): each records the id it handled, one line per
run, in WALNATS_TEST_RECORD_DIR, so a test can compare PubAck'd ids with handled ones."""

from walnats_django import registry

from .cluster_events import CLUSTER_KEEP, CLUSTER_SOLO, CLUSTER_WORK
from .records import record as _record


# ack_wait 1 s, shorter than the suite's 2 s request timeout: a delivery that died with a node or
# in a leader handover (nats-server 2.15 drops one now and then in lame duck mode) comes back in
# time for its caller; an ack that died makes a duplicate, never a loss.
@registry.actor("cluster-work", CLUSTER_WORK, ack_wait=1)
async def cluster_work(text: str) -> str:
    _record("cluster-work", text)
    return text


@registry.actor("cluster-solo", CLUSTER_SOLO, ack_wait=1)
async def cluster_solo(text: str) -> str:
    _record("cluster-solo", text)
    return text


@registry.actor("cluster-keep", CLUSTER_KEEP)
async def cluster_keep(text: str) -> None:
    _record("cluster-keep", text)


__all__ = ["cluster_keep", "cluster_solo", "cluster_work"]
