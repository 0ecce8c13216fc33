"""What the cluster fault suite measures: a steady request + emit load and its outcomes, Raft
leader elections as the cluster reports them, and leaders placed on a chosen node.

The load runs in the test process, on the requester's connection to every node of the cluster
(WALNATS["SERVERS"] = the cluster's URLs). It is open-loop: a new request and a new emit start
every `interval` seconds whatever the earlier ones are doing, so the first success after a fault
is seen within one interval, not when a stuck call gives up.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import json
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType

import nats
import nats.errors
from nats.aio.client import Client

import walnats_django
from tests.helpers import record_lines, until
from tests.testapp.cluster_events import CLUSTER_WORK
from walnats_django import Event, NatsUnavailable, RemoteError, RequestTimeout, WalnatsError, errors
from walnats_django.testing import NatsCluster

TIMEOUT = 2.0
"""Seconds each request (and, as REQUEST_TIMEOUT, each emit) waits."""
MARGIN = 0.3
"""How much later than its timeout a call may end (a busy two-core machine)."""
EXPECTED = (RequestTimeout, NatsUnavailable)
"""The errors a caller may see while a node is down: documented, typed, and meaning "retry"."""


@dataclasses.dataclass
class Call:
    """One `request()` or `emit(wait=True)` and how it ended."""

    kind: str
    """"request" or "emit"."""
    id: str
    """The payload (and, for emits, the uid): what the actor records."""
    started: float
    ended: float = 0.0
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.ended > 0 and self.error is None

    @property
    def waited(self) -> float:
        return self.ended - self.started

    def to_json(self) -> str:
        error = None if self.error is None else [type(self.error).__name__, str(self.error)]
        return json.dumps([self.kind, self.id, self.started, self.ended, error])

    @classmethod
    def from_json(cls, line: str) -> Call:
        """A call another process wrote: its error rebuilt as the walnats-django error it was (or
        as a plain Exception naming the type, which no check takes for a documented one)."""
        kind, id_, started, ended, error = json.loads(line)
        exc: BaseException | None = None
        if error is not None:
            name, message = error
            found = getattr(errors, name, None)
            exc = (
                found(message)
                if isinstance(found, type) and issubclass(found, WalnatsError) and found is not RemoteError
                else Exception(f"{name}: {message}")
            )
        return cls(kind, id_, started, ended, exc)


class Load:
    """Requests and durable emits of `event` every `interval` seconds, each in a task of its own.

    `async with Load(...) as load:` starts it; leaving the block stops starting new calls and
    waits for the running ones.
    """

    def __init__(
        self,
        prefix: str,
        *,
        event: Event[str, str] = CLUSTER_WORK,
        interval: float = 0.02,
        timeout: float = TIMEOUT,
        emits: bool = True,
        log: Path | None = None,
    ) -> None:
        self.prefix = prefix
        self.log = log
        """A file each ended call is appended to (a line of JSON), for another process to read."""
        self.event = event
        self.interval = interval
        self.timeout = timeout
        self.emits = emits
        self.calls: list[Call] = []
        self._stopping = asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()
        self._ticker: asyncio.Task[None] | None = None

    @classmethod
    def read(cls, log: Path, prefix: str, timeout: float = TIMEOUT) -> Load:
        """The calls another process's `Load(log=...)` made so far, to check as this process's."""
        load = cls(prefix, timeout=timeout)
        load.calls = [Call.from_json(line) for line in record_lines(log)]
        return load

    async def __aenter__(self) -> Load:
        self._ticker = asyncio.ensure_future(self._tick())
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stopping.set()
        if self._ticker is not None:
            await self._ticker
        if self._running:
            await asyncio.wait(self._running)

    async def _tick(self) -> None:
        n = 0
        next_at = time.monotonic()
        while not self._stopping.is_set():
            n += 1
            self._start(self._request(f"{self.prefix}-r{n}"))
            if self.emits:
                self._start(self._emit(f"{self.prefix}-e{n}"))
            next_at += self.interval
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), max(next_at - time.monotonic(), 0))

    def _start(self, coro: object) -> None:
        task = asyncio.ensure_future(coro)  # type: ignore[arg-type]
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _request(self, text: str) -> None:
        call = Call("request", text, time.monotonic())
        self.calls.append(call)
        try:
            answer = await walnats_django.request(self.event, text, timeout=self.timeout)
            if answer != text:
                raise AssertionError(f"request {text!r} answered {answer!r}")
        except Exception as exc:  # noqa: BLE001 - every outcome is counted and asserted on
            call.error = exc
        call.ended = time.monotonic()
        self._on_ended(call)

    async def _emit(self, text: str) -> None:
        call = Call("emit", text, time.monotonic())
        self.calls.append(call)
        try:
            await walnats_django.emit(self.event, text, uid=text, wait=True)
        except Exception as exc:  # noqa: BLE001 - every outcome is counted and asserted on
            call.error = exc
        call.ended = time.monotonic()
        self._on_ended(call)

    def _on_ended(self, call: Call) -> None:
        if self.log is not None:
            with open(self.log, "a") as fh:
                fh.write(call.to_json() + "\n")

    # -- what happened ---------------------------------------------------------------------------

    def ended(self, kind: str) -> list[Call]:
        return [call for call in self.calls if call.kind == kind and call.ended]

    def acked(self) -> set[str]:
        """Ids of the emits JetStream acknowledged (PubAck'd): each must be handled."""
        return {call.id for call in self.ended("emit") if call.ok}

    def errors(self, kind: str | None = None, since: float = 0.0) -> collections.Counter[str]:
        """Failed calls (of `kind`, started at or after `since`) by exception type."""
        return collections.Counter(
            type(call.error).__name__
            for call in self.calls
            if call.error is not None and (kind is None or call.kind == kind) and call.started >= since
        )

    def unexpected(self) -> list[str]:
        """Errors a caller must not see during a node fault: anything but `EXPECTED`."""
        return [
            f"{call.kind} {call.id}: {call.error!r}"
            for call in self.calls
            if call.error is not None and not isinstance(call.error, EXPECTED)
        ]

    def undocumented(self) -> list[str]:
        """Errors that are not a walnats-django error at all."""
        return [
            f"{call.kind} {call.id}: {call.error!r}"
            for call in self.calls
            if call.error is not None and not isinstance(call.error, WalnatsError)
        ]

    def late(self) -> list[str]:
        """Calls that waited longer than their timeout (plus `MARGIN`)."""
        return [
            f"{call.kind} {call.id} waited {call.waited:.2f}s ({call.error!r})"
            for call in self.calls
            if call.ended and call.waited > self.timeout + MARGIN
        ]

    def rare_timeouts(self, since: float = 0.0) -> str:
        """Why the calls started at or after `since` failed too often, or "" if they did not.

        A leader handover (lame duck mode, a preferred stepdown) can lose a PubAck or a delivery
        in flight inside nats-server; the caller then gets RequestTimeout (nothing PubAck'd is
        lost). Measured: none on a quiet machine, up to 4 in 2,400 calls with the two cores busy.
        Anything else, or more of them, is a failure.
        """
        failed = self.errors(since=since)
        calls = sum(1 for call in self.calls if call.ended and call.started >= since)
        timeouts = failed.pop("RequestTimeout", 0)
        if failed or timeouts > max(3, calls // 300):
            return f"{dict(self.errors(since=since))} in {calls} calls"
        return ""

    def first_ok(self, kind: str, after: float) -> float | None:
        """When the first call of `kind` that started after `after` succeeded."""
        times = [c.ended for c in self.ended(kind) if c.ok and c.started >= after]
        return min(times, default=None)

    def first_ok_ending_after(
        self, kind: str, after: float, started_before: float = float("inf")
    ) -> float | None:
        """When the first success of `kind` came after `after` (of calls started before `started_before`)."""
        times = [
            c.ended for c in self.ended(kind) if c.ok and c.ended >= after and c.started < started_before
        ]
        return min(times, default=None)

    def last_ok_before(self, kind: str, moment: float) -> float | None:
        times = [c.ended for c in self.ended(kind) if c.ok and c.ended <= moment]
        return max(times, default=None)

    async def wait_ok(self, after: float, timeout: float, kinds: Iterable[str] = ("request", "emit")) -> None:
        """Wait until each kind has succeeded after `after`."""
        wanted = [kind for kind in kinds if kind == "request" or self.emits]
        await until(
            lambda: all(self.first_ok_ending_after(kind, after) for kind in wanted),
            f"requests and emits succeeding after {after:.2f}",
            timeout,
        )

    async def wait_steady(self, count: int = 20, timeout: float = 15.0) -> None:
        """Wait until `count` more requests (and emits) have succeeded."""
        base = {kind: sum(c.ok for c in self.ended(kind)) for kind in ("request", "emit")}
        wanted = [kind for kind in ("request", "emit") if kind == "request" or self.emits]
        await until(
            lambda: all(sum(c.ok for c in self.ended(kind)) >= base[kind] + count for kind in wanted),
            f"{count} more successful requests and emits",
            timeout,
        )

    def summary(self) -> str:
        parts = []
        for kind in ("request", "emit"):
            calls = self.ended(kind)
            if not calls:
                continue
            errors = self.errors(kind)
            shown = ", ".join(f"{count} {name}" for name, count in sorted(errors.items())) or "no errors"
            parts.append(f"{len(calls)} {kind}s: {sum(c.ok for c in calls)} ok, {shown}")
        slowest = max((c.waited for c in self.calls if c.ended), default=0.0)
        return f"{'; '.join(parts)}; slowest call {slowest:.2f}s (timeout {self.timeout:g}s)"


async def handled(record: Path, acked: set[str], prefix: str, timeout: float = 20.0) -> list[str]:
    """The ids the actors recorded for `prefix`, once every PubAck'd id is among them."""

    def lines() -> list[str] | None:
        seen = [line for line in record_lines(record) if line.startswith(prefix + "-")]
        return seen if acked <= set(seen) else None

    try:
        result: list[str] = await until(lines, "every PubAck'd emit handled", timeout)
    except AssertionError:
        seen = {line for line in record_lines(record) if line.startswith(prefix + "-")}
        missing = sorted(acked - seen)
        raise AssertionError(f"{len(missing)} PubAck'd emit(s) never handled: {missing[:20]}") from None
    return result


def duplicates(lines: Sequence[str]) -> dict[str, int]:
    """Ids handled more than once, and how often."""
    return {line: count for line, count in collections.Counter(lines).items() if count > 1}


# -- leaders -------------------------------------------------------------------------------------


def consumer_group(stream: str, consumer: str) -> str:
    """How `LeaderWatch` names a consumer's Raft group."""
    return f"{stream}/{consumer}"


def _info_subject(group: str) -> str:
    stream, _, consumer = group.partition("/")
    if consumer:
        return f"$JS.API.CONSUMER.INFO.{stream}.{consumer}"
    return f"$JS.API.STREAM.INFO.{stream}"


class LeaderWatch:
    """From a thread of its own, the first moment each Raft group has a leader other than `gone`.

    Groups are stream names, or `consumer_group(stream, consumer)`. It asks a node that stays up
    every `every` seconds, without waiting for earlier questions (a group without a leader does
    not answer), so an election is seen within about `every` seconds of the leader's first answer.
    """

    def __init__(
        self, cluster: NatsCluster, via: int, groups: Sequence[str], gone: int, every: float = 0.02
    ) -> None:
        self.url = cluster.node_url(via)
        self.groups = list(groups)
        self.gone = cluster.names[gone]
        self.names = cluster.names
        self.every = every
        self.elected: dict[str, float] = {}
        """Group -> `time.monotonic()` when a leader other than `gone` first answered."""
        self.leaders: dict[str, int] = {}
        """Group -> index of the node that leads it now."""
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), name="leader-watch")

    def __enter__(self) -> LeaderWatch:
        self._thread.start()
        if not self._connected.wait(5):
            raise AssertionError(f"LeaderWatch could not connect to {self.url}")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def elected_at(self, *groups: str) -> float | None:
        """When the last of `groups` had its new leader, or None if one has none yet."""
        times = [self.elected.get(group) for group in groups]
        return None if None in times else max(t for t in times if t is not None)

    async def wait(self, *groups: str, timeout: float = 20.0) -> float:
        """Wait until each of `groups` has a leader other than `gone`; when the last one came."""
        return float(
            await until(lambda: self.elected_at(*groups), f"new leaders for {groups}", timeout, every=0.01)
        )

    async def _run(self) -> None:
        nc = await nats.connect(self.url, dont_randomize=True, max_reconnect_attempts=-1)
        self._connected.set()
        asking: set[asyncio.Task[None]] = set()
        try:
            while not self._stop.is_set() and len(self.elected) < len(self.groups):
                for group in self.groups:
                    if group not in self.elected:
                        task = asyncio.ensure_future(self._ask(nc, group))
                        asking.add(task)
                        task.add_done_callback(asking.discard)
                await asyncio.sleep(self.every)
        finally:
            for task in list(asking):
                task.cancel()
            await nc.close()

    async def _ask(self, nc: Client, group: str) -> None:
        try:
            reply = await nc.request(_info_subject(group), b"", timeout=0.5)
        except (nats.errors.Error, TimeoutError):
            return
        leader = json.loads(reply.data).get("cluster", {}).get("leader")
        if leader and leader != self.gone and group not in self.elected:
            self.elected[group] = time.monotonic()
            self.leaders[group] = self.names.index(leader)


async def place_leaders(cluster: NatsCluster, node: int, stream: str, consumers: Sequence[str] = ()) -> None:
    """Move the leadership of `stream` and of its `consumers` to `node` (a preferred stepdown).

    So that a test decides what a fault interrupts: killing `node` then needs elections for all
    of them, killing another node for none.
    """
    nc = await nats.connect(cluster.node_url(node), dont_randomize=True)
    target = cluster.names[node]
    subjects = {stream: f"$JS.API.STREAM.LEADER.STEPDOWN.{stream}"}
    for consumer in consumers:
        subjects[consumer_group(stream, consumer)] = f"$JS.API.CONSUMER.LEADER.STEPDOWN.{stream}.{consumer}"
    request = json.dumps({"placement": {"preferred": target}}).encode()
    try:
        for group, subject in subjects.items():

            async def led(group: str = group, subject: str = subject) -> bool:
                try:
                    info = json.loads((await nc.request(_info_subject(group), b"", timeout=0.25)).data)
                except nats.errors.Error:
                    return False
                if info.get("cluster", {}).get("leader") == target:
                    return True
                with contextlib.suppress(nats.errors.Error):
                    await nc.request(subject, request, timeout=2)
                return False

            await until(led, f"{target} leading {group}", timeout=15, every=0.05)
    finally:
        await nc.close()
