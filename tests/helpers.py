"""Helpers shared by the test modules: `manage.py` subprocesses, record files, waiting for
workers, JetStream and conditions, in-process workers.

Fixtures live in the conftest.py files; this module holds the plain classes and functions
they and the tests use.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nats
from django.test import override_settings
from nats.js import JetStreamContext
from nats.js.api import ConsumerInfo
from nats.js.errors import NotFoundError

from walnats_django import Actor, registry
from walnats_django.testing import NatsServer, OutputLines, ProcessExited, free_port

if TYPE_CHECKING:
    import pytest

    from walnats_django.worker import Worker

ROOT = Path(__file__).resolve().parent.parent
"""The checkout: where manage.py is."""


class CommandProcess:
    """A `manage.py <command>` subprocess whose output lines can be awaited."""

    timeout = 15.0
    """Default seconds for `wait_for_line`."""
    wait_timeout = 30.0
    """Default seconds for `wait`."""

    def __init__(self, command: str, args: list[str], env: dict[str, str]) -> None:
        self.args = args
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", command, *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        self.output = OutputLines(self.process, name=f"manage.py {command}")

    @property
    def lines(self) -> list[str]:
        """The output lines so far."""
        return self.output.lines

    def mark(self) -> int:
        """A position in the log; pass it as `since` to ignore older lines."""
        return self.output.mark()

    def wait_for_line(self, needle: str, timeout: float | None = None, since: int = 0) -> str:
        """Block until a log line containing `needle` appears at or after line `since`."""
        try:
            index = self.output.wait_for(needle, self.timeout if timeout is None else timeout, since)
        except (TimeoutError, ProcessExited) as exc:
            raise AssertionError(str(exc)) from None
        return self.lines[index]

    def log(self) -> str:
        return self.output.log()

    def signal(self, sig: int = signal.SIGTERM) -> None:
        self.process.send_signal(sig)

    def wait(self, timeout: float | None = None) -> int:
        code = self.process.wait(self.wait_timeout if timeout is None else timeout)
        self.output.join(timeout=5)
        return code

    def stop(self) -> None:
        """Kill the process if it still runs."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class Relays:
    """`manage.py relayoutbox --database DATABASE <args>` subprocesses, with `env` added to this
    process's environment; `stop()` ends them all."""

    def __init__(self, database: str, **env: str) -> None:
        self.database = database
        self.env = env
        self.started: list[CommandProcess] = []

    def start(self, *args: str, **env: str) -> CommandProcess:
        process = CommandProcess(
            "relayoutbox",
            ["--database", self.database, *args],
            {**os.environ, "PYTHONUNBUFFERED": "1", **self.env, **env},
        )
        self.started.append(process)
        return process

    def stop(self) -> None:
        for process in self.started:
            process.stop()


class WorkerProcess(CommandProcess):
    """A `manage.py runactors` subprocess."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        super().__init__("runactors", args, env)


class Workers:
    """`runactors` subprocesses with the test settings, recording to `record_dir`; `stop()` kills all."""

    def __init__(self, record_dir: Path) -> None:
        self.record_dir = record_dir
        self.started: list[WorkerProcess] = []

    def start(self, args: tuple[str, ...], env: dict[str, str], *, wait: bool = True) -> WorkerProcess:
        """Start one with `env` over the defaults; wait for its start-up line unless `wait=False`."""
        worker = WorkerProcess(
            list(args),
            {
                **os.environ,
                "DJANGO_SETTINGS_MODULE": "tests.settings",
                "WALNATS_TEST_RECORD_DIR": str(self.record_dir),
                "PYTHONUNBUFFERED": "1",
                **env,
            },
        )
        self.started.append(worker)
        if wait:
            worker.wait_for_line("Worker started")
        return worker

    def stop(self) -> None:
        """Kill every worker still running."""
        for worker in self.started:
            worker.stop()


StartWorker = Callable[..., WorkerProcess]
"""The `start_worker` fixture: `start_worker(*args, wait=True, extra_env=None)`."""


async def start_workers(
    start_worker: StartWorker, count: int, *args: str, server: NatsServer, env: dict[str, str] | None = None
) -> list[WorkerProcess]:
    """Start `count` workers at once on `server` and wait until each has started."""
    extra_env = {"NATS_URL": server.url, **(env or {})}
    workers = [start_worker(*args, wait=False, extra_env=extra_env) for _ in range(count)]
    await asyncio.gather(*(asyncio.to_thread(w.wait_for_line, "Worker started") for w in workers))
    return workers


async def await_line(worker: CommandProcess, needle: str, since: int = 0, timeout: float = 15.0) -> str:
    """`worker.wait_for_line` without blocking the event loop."""
    return await asyncio.to_thread(worker.wait_for_line, needle, timeout, since)


DEAD_LETTER_LINE = re.compile(
    r"Dead letter recorded actor=(?P<actor>\S+) stream=(?P<stream>\S+) seq=(?P<seq>\d+) "
    r"attempts=(?P<attempts>\d+) dead_letter=(?P<dl>\d+)"
)
"""What a worker logs when it recorded a dead letter."""


def using(server: NatsServer, **extra: Any) -> override_settings:
    """Point the requester (this process) at `server`."""
    return override_settings(WALNATS={"SERVERS": [server.url], **extra})


# -- records: what the test actors wrote (tests/testapp/records.py) ----------------------------


def record_lines(path: Path) -> list[str]:
    """The complete lines of a record file (a line still being written is left out)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    return text.split("\n")[:-1]


async def wait_lines(
    path: Path, count: int, timeout: float = 10.0, keep: Callable[[str], bool] = lambda line: True
) -> list[str]:
    """Wait until the record file has at least `count` lines that `keep` accepts; return them."""

    def enough() -> list[str] | None:
        lines = [line for line in record_lines(path) if keep(line)]
        return lines if len(lines) >= count else None

    return await until(enough, f"{count} line(s) in {path.name}", timeout)


# -- waiting for conditions --------------------------------------------------------------------


async def until(check: Callable[[], Any], what: str, timeout: float = 10.0, every: float = 0.02) -> Any:
    """Poll `check` (a function, or one returning a coroutine) until its result is truthy and
    return that; fail with "not within ...: `what`" after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        await asyncio.sleep(every)


async def eventually(condition: Callable[[], object], timeout: float) -> bool:
    """Poll `condition` until it is truthy; False if `timeout` seconds passed first (so that
    `assert await eventually(...), "message"` fails with the test's own message)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


# -- JetStream ---------------------------------------------------------------------------------


async def settled(js: JetStreamContext, stream: str, consumer: str, timeout: float = 10.0) -> ConsumerInfo:
    """The consumer's info once nothing is pending or unacked (acks are applied asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        info: ConsumerInfo = await js.consumer_info(stream, consumer)
        if info.num_ack_pending == 0 and info.num_pending == 0:
            return info
        if time.monotonic() > deadline:
            raise AssertionError(f"consumer {consumer} not settled within {timeout}s: {info}")
        await asyncio.sleep(0.05)


def deliveries(info: ConsumerInfo) -> int:
    """How many deliveries the consumer made in all (redeliveries included)."""
    return info.delivered.consumer_seq if info.delivered and info.delivered.consumer_seq else 0


async def delete_streams(url: str, *names: str) -> None:
    """Delete streams (those that exist) on the server at `url`."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        for name in names:
            with contextlib.suppress(NotFoundError):
                await js.delete_stream(name)
    finally:
        await nc.close()


def registered_actor(name: str) -> Actor[Any, Any]:
    """The test app's actor named `name`."""
    return next(a for a in registry.actors if a.name == name)


def unique(prefix: str) -> str:
    """`prefix` plus a random suffix: a payload or uid no other test run uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# -- in-process workers ------------------------------------------------------------------------


async def start_in_process(worker: Worker) -> asyncio.Task[None]:
    """Run `worker` on this loop; return once every actor has its pull subscription."""
    task = asyncio.ensure_future(worker.run())
    deadline = time.monotonic() + 10
    while not (worker._loops and all(r.puller._sub is not None for r in worker._loops)):
        if task.done():
            task.result()
        assert time.monotonic() < deadline, "the worker did not start"
        await asyncio.sleep(0.01)
    return task


async def stop_in_process(worker: Worker, task: asyncio.Task[None], timeout: float = 20) -> None:
    """Stop a worker started by `start_in_process` and wait (up to `timeout` seconds) for it."""
    worker.stop()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(task, timeout)


def write_project(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, files: dict[str, str], settings: str
) -> None:
    """Write `files` (dedented) into pytester's directory for a project on `settings`, with
    NATS_URL naming a port where nothing listens (the plugin must never use it on its own)."""
    for name, text in files.items():
        path = pytester.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", settings)
    monkeypatch.setenv("NATS_URL", f"nats://127.0.0.1:{free_port()}")
