"""A stream an operator made R3 stays R3 through every `runactors` start that names no replicas.

The regression of issue 9: `runactors` updated an existing stream with replicas=1 (every field
an update carries is applied), so each worker start scaled an operator's R3 stream down to R1.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import nats
import pytest
from nats.js.api import DiscardPolicy, RetentionPolicy, StreamConfig

import walnats_django
from tests.cluster.conftest import StartClusterWorker, requester
from tests.helpers import record_lines, unique
from tests.testapp.cluster_events import CLUSTER_KEEP
from walnats_django.testing import NatsCluster

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

STREAM = CLUSTER_KEEP.stream_name


async def test_a_stream_made_r3_by_hand_stays_r3_through_runactors_starts(
    cluster: NatsCluster, start_cluster_worker: StartClusterWorker, record_dir: Path
) -> None:
    nc = await nats.connect(cluster.urls)
    try:
        js = nc.jetstream()
        # As an operator would make it (`nats stream add`): walnats' layout, three replicas.
        await js.add_stream(
            StreamConfig(
                name=STREAM,
                subjects=[CLUSTER_KEEP.subject],
                retention=RetentionPolicy.INTEREST,
                discard=DiscardPolicy.NEW,
                num_replicas=3,
            )
        )
        await asyncio.to_thread(cluster.wait_for_replicas, STREAM, 20)
        replicas = []
        for run, node in enumerate((0, 1)):
            text = unique(f"keep{run}")
            if run:
                # The consumer exists from the first run: this event waits for the second.
                with requester(cluster):
                    await walnats_django.emit(CLUSTER_KEEP, text, wait=True)
            # No REPLICAS in the worker's settings ("" leaves WALNATS_TEST_REPLICAS unset).
            worker = start_cluster_worker(
                "--actor", "cluster-keep", "--burst", url=cluster.node_url(node), replicas="", wait=False
            )
            code = await asyncio.to_thread(worker.wait, 30)
            assert code == 0, worker.log()
            assert "Updated stream" not in worker.log(), "runactors changed the operator's stream"
            info = await js.stream_info(STREAM)
            replicas.append(info.config.num_replicas)
            followers = await asyncio.to_thread(cluster.wait_for_replicas, STREAM, 20)
            assert info.config.num_replicas == 3, f"run {run + 1} through {cluster.names[node]}"
            assert len(followers) == 2
            if run:
                assert text in record_lines(record_dir / "cluster-keep"), "the R3 stream still works"
    finally:
        await nc.close()
    print(f"\n[cluster] stream {STREAM} made R3 by hand: replicas after each `runactors --burst`: {replicas}")
