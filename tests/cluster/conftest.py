"""Fixtures of the cluster fault suite: one three-node JetStream cluster for the whole package,
`runactors` subprocesses connected to chosen nodes, and the requester (this process) connected
to every node.

Starting a cluster and electing its leaders takes seconds, so the package shares one; each test
starts with every node up again (`_every_node_back`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.test import override_settings

from tests.cluster.load import TIMEOUT
from tests.helpers import WorkerProcess, Workers
from walnats_django.testing import NatsCluster
from walnats_django.testing.cluster_state import request

StartClusterWorker = Callable[..., WorkerProcess]
"""`start_cluster_worker(*args, url, replicas="3", wait=True)`: a `runactors` on `url`."""


@pytest.fixture(scope="package")
def cluster() -> Iterator[NatsCluster]:
    """A three-node JetStream cluster on loopback, shared by the package's modules."""
    with NatsCluster(3) as cluster:
        yield cluster


@pytest.fixture(autouse=True)
def _every_node_back(cluster: NatsCluster) -> None:
    """Tests kill and stop nodes; each test starts with all of them, and every stream's replicas
    current: a node that rejoins can start an election, and a test must not start inside one."""
    down = [node for node in range(len(cluster.nodes)) if not cluster.alive(node)]
    for node in down:
        cluster.restart(node)
    if down:
        for stream in stream_names(cluster):
            cluster.wait_for_replicas(stream, 30)


def stream_names(cluster: NatsCluster) -> list[str]:
    """The names of the cluster's streams."""
    answer = request(cluster.node_url(0), "$JS.API.STREAM.NAMES", 2.0) or {}
    return list(answer.get("streams") or [])


@pytest.fixture(scope="package")
def start_cluster_worker(record_dir: Path) -> Iterator[StartClusterWorker]:
    """Start `runactors` subprocesses on a cluster; all killed at the end.

    `url` is what the worker's NATS_URL says: one node's URL (`cluster.node_url(i)`) pins it to
    that node at start (it still learns the others from the server), the cluster's (`cluster.url`)
    lets it pick one. `replicas` is WALNATS["REPLICAS"] for the streams it creates ("" names none).
    """
    workers = Workers(record_dir)

    def start(*args: str, url: str, replicas: str = "3", wait: bool = True) -> WorkerProcess:
        return workers.start(args, {"NATS_URL": url, "WALNATS_TEST_REPLICAS": replicas}, wait=wait)

    yield start
    workers.stop()


def worker_node(cluster: NatsCluster, worker: WorkerProcess) -> int:
    """The node a worker connected to, from its start-up line."""
    line = worker.wait_for_line("Worker started")
    for node, url in enumerate(cluster.urls):
        if f"server={url} " in line:
            return node
    raise AssertionError(f"no node of the cluster in {line!r}")


def requester(cluster: NatsCluster, nodes: list[int] | None = None) -> override_settings:
    """This process as a web process would be: connected to any node (or any of `nodes`),
    REQUEST_TIMEOUT the suite's `TIMEOUT`."""
    servers = cluster.urls if nodes is None else [cluster.node_url(node) for node in nodes]
    return override_settings(WALNATS={"SERVERS": servers, "REQUEST_TIMEOUT": TIMEOUT})
