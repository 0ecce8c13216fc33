"""Fixtures: a real nats-server per session and real `runactors` subprocesses."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from walnats_django.connection import close_connection
from walnats_django.testing import NatsServer

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """A real `nats-server -js` on a free loopback port; NATS_URL points at it."""
    server = NatsServer(store_dir=tmp_path_factory.mktemp("nats-store"))
    server.start()
    old = os.environ.get("NATS_URL")
    os.environ["NATS_URL"] = server.url
    yield server
    server.cleanup()
    if old is None:
        os.environ.pop("NATS_URL", None)
    else:
        os.environ["NATS_URL"] = old


@pytest_asyncio.fixture(autouse=True)
async def _close_walnats_connection() -> AsyncIterator[None]:
    """Each test's event loop gets its own connection; close it with the loop."""
    yield
    await close_connection()


class CommandProcess:
    """A `manage.py <command>` subprocess whose output lines can be awaited."""

    timeout = 15.0
    """Default seconds for `wait_for_line`."""
    wait_timeout = 30.0
    """Default seconds for `wait`."""

    def __init__(self, command: str, args: list[str], env: dict[str, str]) -> None:
        self.args = args
        self.lines: list[str] = []
        self._new: queue.Queue[str] = queue.Queue()
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", command, *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            self._new.put(line)

    def mark(self) -> int:
        """A position in the log; pass it as `since` to ignore older lines."""
        return len(self.lines)

    def wait_for_line(self, needle: str, timeout: float | None = None, since: int = 0) -> str:
        """Block until a log line containing `needle` appears at or after line `since`."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        seen = since
        while True:
            for line in self.lines[seen:]:
                if needle in line:
                    return line
            seen = len(self.lines)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no line with {needle!r} within {timeout}s; log:\n" + self.log())
            try:
                self._new.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                if self.process.poll() is not None and seen == len(self.lines):
                    raise AssertionError(
                        f"process exited {self.process.returncode} before {needle!r}:\n" + self.log()
                    ) from None

    def log(self) -> str:
        return "\n".join(self.lines)

    def signal(self, sig: int = signal.SIGTERM) -> None:
        self.process.send_signal(sig)

    def wait(self, timeout: float | None = None) -> int:
        code = self.process.wait(self.wait_timeout if timeout is None else timeout)
        self._reader.join(timeout=5)
        return code

    def stop(self) -> None:
        """Kill the process if it still runs."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class WorkerProcess(CommandProcess):
    """A `manage.py runactors` subprocess."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        super().__init__("runactors", args, env)


@pytest.fixture(scope="session")
def record_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where test actors write their side effects."""
    return tmp_path_factory.mktemp("records")


@pytest.fixture(scope="session")
def start_worker(nats_server: NatsServer, record_dir: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """Start `runactors` subprocesses (waits for the start-up line); all killed at the end."""
    started: list[WorkerProcess] = []

    def start(*args: str, wait: bool = True, extra_env: dict[str, str] | None = None) -> WorkerProcess:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "NATS_URL": nats_server.url,
            "WALNATS_TEST_RECORD_DIR": str(record_dir),
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }
        worker = WorkerProcess(list(args), env)
        started.append(worker)
        if wait:
            worker.wait_for_line("Worker started")
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture(scope="session")
def worker(start_worker: Callable[..., WorkerProcess]) -> WorkerProcess:
    """One shared worker running the example and test actors that answer quickly."""
    return start_worker(
        "--actor", "count-words", "--actor", "send-welcome", "--actor", "echo", "--actor", "fail"
    )
