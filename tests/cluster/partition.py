"""A network partition between nodes of a `NatsCluster` on loopback, without root: every route
between two nodes goes through a TCP proxy of its own, which the test can cut and heal.

Nodes on loopback share one network, so nothing short of namespaces (root, or unprivileged user
namespaces, which CI runners restrict) can separate them at the IP level. Routes are the only
traffic between nodes, though: with each node's `--routes` pointing at proxies, and its advertised
cluster address unusable (so that gossip cannot make a direct route around them), cutting the
proxies between two groups of nodes is a partition as the nodes see it. Clients stay connected to
the node they are on, as clients in a partitioned network would.

A cut drops the bytes already flowing on the routes it crosses (no RST: the nodes only notice that
nothing arrives, as with a real partition) and closes new route connections at once; healing
closes the cut connections (their byte streams have gaps) so the nodes connect again.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterable

from walnats_django.testing import NatsCluster

UNUSABLE_ADDRESS = "127.0.0.1:1"
"""What each node advertises as its cluster address: a port nothing listens on."""


class RoutePartition:
    """TCP proxies for the routes of `cluster`, one per ordered pair of nodes.

    Call `wire()` before the cluster starts: it points each node's routes at the proxies.
    """

    def __init__(self, cluster: NatsCluster) -> None:
        self.cluster = cluster
        size = len(cluster.nodes)
        self._route_ports = [_cluster_port(node.extra_args) for node in cluster.nodes]
        self._pairs = [(src, dst) for src in range(size) for dst in range(size) if src != dst]
        self._ports: dict[tuple[int, int], int] = {}
        """(src, dst) -> the port node src's route to node dst connects to."""
        self._cut: set[frozenset[int]] = set()
        self._links: dict[frozenset[int], set[asyncio.StreamWriter]] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="route-proxies", daemon=True)
        self._servers: list[asyncio.Server] = []

    def wire(self) -> RoutePartition:
        """Start the proxies and point each node's routes at them (before the cluster starts)."""
        self._thread.start()
        self._call(self._listen())
        for src, node in enumerate(self.cluster.nodes):
            args = list(node.extra_args)
            routes = ",".join(
                f"nats://127.0.0.1:{self._ports[src, dst]}"
                for dst in range(len(self.cluster.nodes))
                if dst != src
            )
            args[args.index("--routes") + 1] = routes
            node.extra_args = (*args, "--cluster_advertise", UNUSABLE_ADDRESS)
        return self

    def cut(self, side: Iterable[int]) -> None:
        """Cut every route between the nodes of `side` and the others."""
        side = set(side)
        others = set(range(len(self.cluster.nodes))) - side
        self._call(self._set_cut({frozenset((a, b)) for a in side for b in others}))

    def heal(self) -> None:
        """Let every route through again; the cut connections are closed so the nodes reconnect."""
        self._call(self._heal())

    def close(self) -> None:
        self._call(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def _call(self, coro: object) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)  # type: ignore[arg-type]

    async def _listen(self) -> None:
        for src, dst in self._pairs:
            server = await asyncio.start_server(
                lambda r, w, src=src, dst=dst: self._link(r, w, src, dst), "127.0.0.1", 0
            )
            self._ports[src, dst] = server.sockets[0].getsockname()[1]
            self._servers.append(server)

    async def _set_cut(self, pairs: set[frozenset[int]]) -> None:
        self._cut |= pairs

    async def _heal(self) -> None:
        cut, self._cut = self._cut, set()
        for pair in cut:
            for writer in self._links.pop(pair, set()):
                writer.close()

    async def _close(self) -> None:
        for server in self._servers:
            server.close()
        for writers in self._links.values():
            for writer in writers:
                writer.close()

    async def _link(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, src: int, dst: int
    ) -> None:
        pair = frozenset((src, dst))
        if pair in self._cut:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._route_ports[dst])
        except OSError:
            writer.close()
            return
        self._links.setdefault(pair, set()).update((writer, up_writer))
        await asyncio.gather(self._pipe(reader, up_writer, pair), self._pipe(up_reader, writer, pair))

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, pair: frozenset[int]
    ) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                if pair in self._cut:
                    continue  # dropped: across a partition nothing arrives
                writer.write(data)
                await writer.drain()
        writer.close()


def _cluster_port(args: tuple[str, ...]) -> int:
    return int(args[list(args).index("--cluster") + 1].rsplit(":", 1)[1])
