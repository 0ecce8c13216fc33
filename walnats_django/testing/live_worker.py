"""A worker for a test: the chosen actors running in this process (a thread) or as `runactors`.

Both are started by `LiveWorkers` (live_workers.py), which waits until their pulls are open.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from ..actors import Actor
from ..client import close_connection
from ..errors import ProcessExited
from ..worker import Worker
from .output import OutputLines

STOP_GRACE = 5.0
"""Seconds running jobs get to finish when a test's worker stops (`--shutdown-timeout`)."""
STOP_MARGIN = 10.0
"""Seconds beyond `STOP_GRACE` a worker gets to exit before it is killed (or given up on)."""
STARTED_LINE = "Worker started"
"""What runactors logs once its streams and consumers exist (before it pulls)."""
STARTUP_TIMEOUT = 30.0
"""Seconds a runactors subprocess gets to import Django and register its consumers."""


class LiveWorker(Protocol):
    """A running test worker; `stop()` ends it gracefully and is safe to call twice."""

    actors: tuple[Actor[Any, Any], ...]
    name: str
    """Names it in reports: `in-process worker` or `runactors pid=<pid>`."""

    def check_alive(self) -> None:
        """Raise the reason if the worker ended by itself."""

    def log(self) -> str:
        """Its output so far ("" for an in-process worker: it logs through this process's logging)."""

    def stop(self) -> None:
        """Stop gracefully; raise if it had failed."""


class InProcessWorker:
    """A `Worker` on an event loop in a thread: same settings, registry and database as the test."""

    name = "in-process worker"

    def __init__(self, actors: Sequence[Actor[Any, Any]]) -> None:
        self.actors = tuple(actors)
        self._worker = Worker(self.actors, shutdown_timeout=STOP_GRACE)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._running = threading.Event()
        self._error: BaseException | None = None
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="walnats-test-worker", daemon=True)
        self._thread.start()
        self._running.wait()

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # noqa: BLE001 - handed to the test by check_alive() and stop()
            self._error = exc

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._running.set()
        try:
            await self._worker.run()
        finally:
            # Async handlers that emit or request use this loop's own publishing connection.
            await close_connection()

    def check_alive(self) -> None:
        if self._error is not None:
            raise self._error
        if not self._thread.is_alive():
            raise RuntimeError("the in-process walnats worker stopped by itself; see the captured log.")

    def log(self) -> str:
        return ""

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        loop = self._loop
        if loop is not None and self._thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop closed in between: stopped already
                loop.call_soon_threadsafe(self._worker.stop)
        self._thread.join(STOP_GRACE + STOP_MARGIN)
        if self._thread.is_alive():
            raise TimeoutError(
                f"the in-process walnats worker did not stop within {STOP_GRACE + STOP_MARGIN:g}s; "
                "a sync handler may be stuck (threads cannot be interrupted)."
            )
        if self._error is not None:
            raise self._error


class SubprocessWorker:
    """`python -m django runactors` with the test run's settings module, NATS server and databases;
    `selection` chooses what it runs (`--actor NAME`, `--queue NAME`; none: everything)."""

    def __init__(
        self,
        actors: Sequence[Actor[Any, Any]],
        *,
        selection: Sequence[str],
        settings_module: str,
        pythonpath: Sequence[str | Path],
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.actors = tuple(actors)
        self.args = [
            sys.executable,
            "-m",
            "django",
            "runactors",
            "--settings",
            settings_module,
            "--verbosity",
            "2",
            "--shutdown-timeout",
            f"{STOP_GRACE:g}",
            *selection,
        ]
        self.process = subprocess.Popen(
            self.args,
            env={
                **(os.environ if env is None else env),
                "DJANGO_SETTINGS_MODULE": settings_module,
                "PYTHONPATH": os.pathsep.join(str(p) for p in pythonpath),
                "PYTHONUNBUFFERED": "1",
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        self.name = f"runactors pid={self.process.pid}"
        self.output = OutputLines(self.process, name=self.name)
        self._stopped = False
        self._wait_for_start_line()

    def _wait_for_start_line(self) -> None:
        """Block until runactors logs its start line: its consumers exist and its signal handlers
        are in place. Another worker's open pull on the same consumer must not pass for this one's."""
        try:
            self.output.wait_for(STARTED_LINE, timeout=STARTUP_TIMEOUT)
        except TimeoutError:
            self.process.kill()
            self.process.wait()
            self.output.join(timeout=5)
            raise TimeoutError(
                f"{self.name} logged no {STARTED_LINE!r} within {STARTUP_TIMEOUT:g}s:\n{self.log()}"
            ) from None
        except ProcessExited:
            self.output.join(timeout=5)
            raise ProcessExited(f"{self.name} exited before it started:\n{self.log()}") from None

    def check_alive(self) -> None:
        code = self.process.poll()
        if code is not None and not self._stopped:
            self.output.join(timeout=5)
            raise ProcessExited(f"{self.name} exited with {code}:\n{self.log()}")

    def log(self) -> str:
        return self.output.log()

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        ended = self.process.poll()
        if ended is not None:
            # A worker that died during the test fails it here, with its log.
            self.output.join(timeout=5)
            raise ProcessExited(f"{self.name} exited with {ended} during the test:\n{self.log()}")
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(STOP_GRACE + STOP_MARGIN)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise TimeoutError(
                f"{self.name} did not stop within {STOP_GRACE + STOP_MARGIN:g}s of SIGTERM; killed it:\n"
                f"{self.log()}"
            ) from None
        finally:
            self.output.join(timeout=5)
        if code != 0:
            raise ProcessExited(f"{self.name} exited with {code} on SIGTERM:\n{self.log()}")
