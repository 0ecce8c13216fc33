"""Events of the cluster fault suite (tests/cluster/), on a three-node JetStream cluster.

The suite's workers run with `WALNATS_TEST_REPLICAS=3`, so the streams they create are R3; no
event names its replicas, so the project setting (or the stream as an operator made it) decides.
"""

from walnats_django import Event, registry

# Requests and durable emits under node faults: one stream, one actor, so that one stream leader
# and one consumer leader decide what a fault interrupts.
CLUSTER_WORK = registry.add(Event("cluster.work", str).with_response(str))
# Served by one worker only: after its node dies, nobody else can answer until it failed over.
CLUSTER_SOLO = registry.add(Event("cluster.solo", str).with_response(str))
# A stream made R3 by hand; workers that name no replicas must keep it R3.
CLUSTER_KEEP = registry.add(Event("cluster.keep", str))

__all__ = ["CLUSTER_KEEP", "CLUSTER_SOLO", "CLUSTER_WORK"]
