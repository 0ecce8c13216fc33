"""What a running cluster's JetStream says about its leaders and replicas, asked as a client would.

JetStream API requests go through a live node (the stream's or consumer's leader answers); the
meta leader comes from each node's `/jsz` monitoring endpoint (clients have no API for it).
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import nats
import nats.errors
from nats.aio.client import Client

# Loopback only: a proxy from the environment (HTTP_PROXY) must not see the monitoring requests.
http = urllib.request.build_opener(urllib.request.ProxyHandler({}))


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


class ClusterState:
    """Leaders and replicas of a cluster's streams and consumers, by node index."""

    def __init__(
        self,
        names: list[str],
        alive: Callable[[int], bool],
        node_url: Callable[[int], str],
        monitor_url: Callable[[int], str],
    ) -> None:
        self.names = names
        self.alive = alive
        self.node_url = node_url
        self.monitor_url = monitor_url

    def meta_leader(self) -> int:
        """Index of the node that leads the JetStream meta group; `LookupError` if none does."""
        for node in self._alive():
            try:
                with http.open(f"{self.monitor_url(node)}/jsz", timeout=2) as response:
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

    def _alive(self) -> list[int]:
        return [node for node in range(len(self.names)) if self.alive(node)]

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
                answer = request(self.node_url(node), subject, timeout)
            except OSError:
                continue
            if answer is None:
                raise LookupError(f"Nobody answered for the {what} within {timeout:g}s.")
            if "error" in answer:
                raise LookupError(f"The {what}: {answer['error'].get('description', answer['error'])}.")
            return answer
        raise LookupError("No node of the cluster takes connections.")

    def not_ready(self, node: int) -> str | None:
        """Why the node cannot serve JetStream yet, or None if it can."""
        if not self.alive(node):
            return "not running"
        try:
            with http.open(f"{self.monitor_url(node)}/healthz", timeout=2):
                pass
        except urllib.error.HTTPError as exc:
            return f"/healthz says {exc.read().decode(errors='replace').strip()}"
        except OSError as exc:
            return f"/healthz: {exc}"
        try:
            answer = request(self.node_url(node), "$JS.API.INFO", timeout=1.0)
        except OSError as exc:
            return f"no connection: {exc}"
        if answer is None:
            return "$JS.API.INFO unanswered"
        if "error" in answer:
            return f"$JS.API.INFO: {answer['error'].get('description', answer['error'])}"
        return None


def request(url: str, subject: str, timeout: float) -> dict[str, Any] | None:
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
