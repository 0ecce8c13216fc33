"""A real JetStream cluster of `nats-server` nodes on loopback, for tests of failover.

Each node is a `NatsServer` with its own store dir, client port, route port and HTTP monitoring
port; the routes list every node. `cluster_state.ClusterState` answers the questions about leaders
and replicas.
"""

from __future__ import annotations

import shutil
import signal
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

from .cluster_state import ClusterState, Replica
from .server import NatsServer, free_port


class NatsCluster:
    """Start a JetStream cluster of `size` nodes on loopback; stop it and remove its files on exit.

    ```
    with NatsCluster(3) as cluster:
        os.environ["NATS_URL"] = cluster.url
        leader = cluster.leader("orders")
        cluster.kill(leader)
        cluster.wait_for_leader("orders", not_node=leader)
    ```

    Nodes are named `n0`, `n1`, ... and addressed by their index. The methods are synchronous and may
    be called from async tests; the waiting ones block, so an async test that must keep its own
    connections served meanwhile calls them through `asyncio.to_thread`.
    """

    def __init__(
        self, size: int = 3, *, name: str = "walnats-test", lame_duck_grace_period: float = 1.0
    ) -> None:
        if size < 1:
            raise ValueError(f"A cluster needs at least one node, not {size}.")
        if not 0 < lame_duck_grace_period < 30:
            raise ValueError(
                f"lame_duck_grace_period must be between 0 and 30 seconds (the shortest lame duck "
                f"duration nats-server allows), not {lame_duck_grace_period}."
            )
        self.name = name
        """The cluster name every node is started with."""
        self.root_dir = Path(tempfile.mkdtemp(prefix="walnats-cluster-"))
        """Holds each node's store dir and log (`n0/nats-server.log`); removed by `cleanup()`."""
        self.names = [f"n{index}" for index in range(size)]
        """The nodes' server names, as JetStream reports leaders and replicas."""
        self._monitor_ports = [free_port() for _ in range(size)]
        cluster_ports = [free_port() for _ in range(size)]
        routes = ",".join(f"nats://127.0.0.1:{port}" for port in cluster_ports)
        # Lame duck waits a grace period (10 s by default) before it closes client connections and
        # exits; tests want the handover without the wait. The duration has a 30 s minimum.
        config = self.root_dir / "lame-duck.conf"
        config.write_text(
            f'lame_duck_duration: "30s"\nlame_duck_grace_period: "{round(lame_duck_grace_period * 1000)}ms"\n'
        )
        self.nodes = [
            NatsServer(
                store_dir=self.root_dir / server_name,
                extra_args=(
                    *("-c", str(config)),
                    *("--server_name", server_name),
                    *("--cluster_name", name),
                    *("--cluster", f"nats://127.0.0.1:{cluster_port}"),
                    *("--routes", routes),
                    *("-m", str(monitor_port)),
                ),
            )
            for server_name, cluster_port, monitor_port in zip(
                self.names, cluster_ports, self._monitor_ports, strict=True
            )
        ]
        """The nodes; each keeps its ports and store across `kill()`/`restart()`."""
        self.state = ClusterState(self.names, self.alive, self.node_url, self.monitor_url)
        """Leaders and replicas of streams and consumers (also as the methods below)."""

    @property
    def urls(self) -> list[str]:
        """Every node's client URL, in node order."""
        return [node.url for node in self.nodes]

    @property
    def url(self) -> str:
        """The client URLs joined by commas, as NATS_URL takes them."""
        return ",".join(self.urls)

    def node_url(self, node: int) -> str:
        """The client URL of one node."""
        return self.nodes[node].url

    def monitor_url(self, node: int) -> str:
        """The HTTP monitoring URL of one node (`/jsz`, `/healthz`, `/routez`, ...)."""
        return f"http://127.0.0.1:{self._monitor_ports[node]}"

    def alive(self, node: int) -> bool:
        """Whether the node's process is running."""
        process = self.nodes[node].process
        return process is not None and process.poll() is None

    def start(self, timeout: float = 30.0) -> NatsCluster:
        """Start every node; return once each serves JetStream.

        That is: each node's `/healthz` is ok (a meta leader is elected and in touch with it) and
        `$JS.API.INFO` through each node is answered without an error.
        """
        deadline = time.monotonic() + timeout
        try:
            for node in self.nodes:
                node.start(timeout=max(deadline - time.monotonic(), 1.0))
            self._wait_ready(range(len(self.nodes)), deadline)
        except BaseException:
            for node in self.nodes:
                node.stop(signal.SIGKILL)
            raise
        return self

    def kill(self, node: int) -> None:
        """`kill -9` a node: its Raft groups only notice by missed heartbeats (4-9 s elections)."""
        self.nodes[node].kill()

    def stop(self, node: int) -> None:
        """Stop a node with SIGTERM and wait for it to exit."""
        self.nodes[node].stop()

    def lame_duck(self, node: int, timeout: float = 60.0) -> None:
        """Put a node into lame duck mode (SIGUSR2) and wait until it has exited.

        The node steps down from its Raft leaderships first, so they move at once, then closes
        its client connections (after the grace period, about one a second) and exits. It is
        killed if it has not exited within `timeout` seconds.
        """
        self.nodes[node].stop(signal.SIGUSR2, timeout=timeout)

    def restart(self, node: int, timeout: float = 30.0) -> None:
        """Start a node again with its ports and store (stopping it first if it runs).

        Returns once the node is back in the cluster: its `/healthz` is ok (it is in touch with the
        meta leader) and a JetStream API request through it is answered without an error. Its
        stream replicas may still be catching up; `wait_for_replicas` waits for that.
        """
        deadline = time.monotonic() + timeout
        self.nodes[node].stop()
        self.nodes[node].start(timeout=timeout)
        self._wait_ready([node], deadline)

    def meta_leader(self) -> int:
        """Index of the node that leads the JetStream meta group; `LookupError` if none does."""
        return self.state.meta_leader()

    def leader(self, stream: str) -> int:
        """Index of the node that leads the stream; `LookupError` if it has none right now."""
        return self.state.leader(stream)

    def consumer_leader(self, stream: str, consumer: str) -> int:
        """Index of the node that leads the consumer; `LookupError` if it has none right now."""
        return self.state.consumer_leader(stream, consumer)

    def wait_for_leader(self, stream: str, timeout: float = 30.0, not_node: int | None = None) -> int:
        """Wait until a live node leads the stream (one other than `not_node` if given); its index."""
        return self.state.wait_for_leader(stream, timeout, not_node)

    def wait_for_replicas(self, stream: str, timeout: float = 30.0) -> list[Replica]:
        """Wait until the stream has a leader and every follower is current; the followers."""
        return self.state.wait_for_replicas(stream, timeout)

    def replicas(self, stream: str) -> list[Replica]:
        """The stream's followers as its leader reports them (the leader itself is not listed)."""
        return self.state.replicas(stream)

    def cleanup(self) -> None:
        """Stop every node and remove the cluster's files."""
        for node in self.nodes:
            node.stop()
        shutil.rmtree(self.root_dir, ignore_errors=True)

    def __enter__(self) -> NatsCluster:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.cleanup()

    def _wait_ready(self, nodes: Iterable[int], deadline: float) -> None:
        """Wait until each node's `/healthz` is ok and `$JS.API.INFO` through it is answered."""
        waiting = {node: "not asked yet" for node in nodes}
        while True:
            for node in list(waiting):
                problem = self.state.not_ready(node)
                if problem is None:
                    del waiting[node]
                else:
                    waiting[node] = problem
            if not waiting:
                return
            if time.monotonic() >= deadline:
                problems = "; ".join(f"{self.names[node]}: {problem}" for node, problem in waiting.items())
                raise TimeoutError(
                    f"The cluster does not serve JetStream yet ({problems}); logs in {self.root_dir}"
                )
            time.sleep(0.05)
