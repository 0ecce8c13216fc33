"""A real JetStream cluster of `nats-server` nodes on loopback, for tests of failover.

Each node is a `NatsServer` with its own store dir, client port, route port and HTTP monitoring
port; the routes list every node. Questions about leaders go where a client's would: JetStream API
requests through a live node (answered by the stream's or consumer's leader), and the meta leader
through each node's `/jsz` monitoring endpoint (clients have no API for it).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import nats
import nats.errors
from nats.aio.client import Client

from .server import NatsServer, free_port

# Loopback only: a proxy from the environment (HTTP_PROXY) must not see the monitoring requests.
_http = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class Replica:
    """A follower of a stream's Raft group as the stream leader sees it (STREAM.INFO's `cluster`)."""

    name: str
    """The server name, `n0`, `n1`, ..."""
    node: int
    """Index of the node in `NatsCluster.nodes`."""
    current: bool
    """The follower has caught up with the leader."""
    lag: int
    """How many entries the follower is behind."""
    offline: bool
    """The leader has not heard from the follower recently (it is down or cut off)."""


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
        for node in self._alive():
            try:
                with _http.open(f"{self.monitor_url(node)}/jsz", timeout=2) as response:
                    jsz = json.load(response)
            except OSError:
                continue
            if jsz.get("meta_cluster", {}).get("leader") == self.names[node]:
                return node
        raise LookupError("No node leads the JetStream meta group right now.")

    def leader(self, stream: str) -> int:
        """Index of the node that leads the stream; `LookupError` if it has none right now."""
        return self._leader(f"$JS.API.STREAM.INFO.{stream}", f"stream {stream!r}", timeout=1.0)

    def consumer_leader(self, stream: str, consumer: str) -> int:
        """Index of the node that leads the consumer; `LookupError` if it has none right now."""
        return self._leader(
            f"$JS.API.CONSUMER.INFO.{stream}.{consumer}", f"consumer {consumer!r} of {stream!r}", timeout=1.0
        )

    def wait_for_leader(self, stream: str, timeout: float = 30.0, not_node: int | None = None) -> int:
        """Wait until a live node leads the stream (one other than `not_node` if given); its index.

        `TimeoutError` after `timeout` seconds, saying what was last seen.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                leader = self._leader(f"$JS.API.STREAM.INFO.{stream}", f"stream {stream!r}", timeout=0.25)
            except LookupError as exc:
                seen = str(exc)
            else:
                if leader != not_node and self.alive(leader):
                    return leader
                seen = f"The stream is still led by {self.names[leader]}."
            if time.monotonic() >= deadline:
                other = "" if not_node is None else f" other than {self.names[not_node]}"
                raise TimeoutError(f"Stream {stream!r} has no leader{other} after {timeout:g}s. {seen}")
            time.sleep(0.05)

    def wait_for_replicas(self, stream: str, timeout: float = 30.0) -> list[Replica]:
        """Wait until the stream has a leader and every follower is current; the followers.

        `TimeoutError` after `timeout` seconds, saying what was last seen.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                replicas = self.replicas(stream)
            except LookupError as exc:
                seen = str(exc)
            else:
                behind = [replica for replica in replicas if not replica.current or replica.offline]
                if not behind:
                    return replicas
                seen = f"Behind: {behind}."
            if time.monotonic() >= deadline:
                raise TimeoutError(f"Stream {stream!r} has followers not current after {timeout:g}s. {seen}")
            time.sleep(0.05)

    def replicas(self, stream: str) -> list[Replica]:
        """The stream's followers as its leader reports them (the leader itself is not listed)."""
        info = self._ask(f"$JS.API.STREAM.INFO.{stream}", f"stream {stream!r}", timeout=1.0)
        return [
            Replica(
                name=replica["name"],
                node=self.names.index(replica["name"]),
                current=bool(replica.get("current", False)),
                lag=int(replica.get("lag", 0)),
                offline=bool(replica.get("offline", False)),
            )
            for replica in info.get("cluster", {}).get("replicas", [])
        ]

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

    def _alive(self) -> list[int]:
        return [node for node in range(len(self.nodes)) if self.alive(node)]

    def _leader(self, subject: str, what: str, timeout: float) -> int:
        info = self._ask(subject, what, timeout)
        leader = info.get("cluster", {}).get("leader")
        if leader not in self.names:
            raise LookupError(f"The {what} has no leader right now.")
        return self.names.index(leader)

    def _ask(self, subject: str, what: str, timeout: float) -> dict[str, Any]:
        """A JetStream API answer through the first live node that takes a connection."""
        for node in self._alive():
            try:
                answer = _request(self.node_url(node), subject, timeout)
            except OSError:
                continue
            if answer is None:
                raise LookupError(f"Nobody answered for the {what} within {timeout:g}s.")
            if "error" in answer:
                raise LookupError(f"The {what}: {answer['error'].get('description', answer['error'])}.")
            return answer
        raise LookupError("No node of the cluster takes connections.")

    def _wait_ready(self, nodes: Iterable[int], deadline: float) -> None:
        """Wait until each node's `/healthz` is ok and `$JS.API.INFO` through it is answered."""
        waiting = {node: "not asked yet" for node in nodes}
        while True:
            for node in list(waiting):
                problem = self._not_ready(node)
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

    def _not_ready(self, node: int) -> str | None:
        """Why the node cannot serve JetStream yet, or None if it can."""
        if not self.alive(node):
            return "not running"
        try:
            with _http.open(f"{self.monitor_url(node)}/healthz", timeout=2):
                pass
        except urllib.error.HTTPError as exc:
            return f"/healthz says {exc.read().decode(errors='replace').strip()}"
        except OSError as exc:
            return f"/healthz: {exc}"
        try:
            answer = _request(self.node_url(node), "$JS.API.INFO", timeout=1.0)
        except OSError as exc:
            return f"no connection: {exc}"
        if answer is None:
            return "$JS.API.INFO unanswered"
        if "error" in answer:
            return f"$JS.API.INFO: {answer['error'].get('description', answer['error'])}"
        return None


def _request(url: str, subject: str, timeout: float) -> dict[str, Any] | None:
    """One request through the server at `url`: the JSON answer, or None if none came in time.

    `OSError` if the server takes no connection. The short-lived nats-py connection runs on an
    event loop in a thread of its own, so this works from a coroutine whose loop is running.
    """

    async def ignore(exc: Exception) -> None:
        pass

    async def connect() -> Client:
        try:
            # nats-py retries a refused server forever unless max_reconnect_attempts is positive.
            return await nats.connect(
                url,
                connect_timeout=timeout,
                allow_reconnect=False,
                max_reconnect_attempts=1,
                reconnect_time_wait=0,
                error_cb=ignore,
            )
        except nats.errors.Error as exc:
            raise OSError(f"cannot connect to {url}: {exc!r}") from exc

    async def ask() -> bytes | None:
        nc = await asyncio.wait_for(connect(), timeout * 2)
        try:
            return (await nc.request(subject, b"", timeout=timeout)).data
        except nats.errors.Error:
            return None
        finally:
            await asyncio.wait_for(nc.close(), timeout * 2)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="nats-cluster") as pool:
        data = pool.submit(lambda: asyncio.run(ask())).result()
    if data is None:
        return None
    answer: dict[str, Any] = json.loads(data)
    return answer
