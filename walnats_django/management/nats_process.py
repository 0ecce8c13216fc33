"""The nats-server process `manage.py natsserver` runs: started, awaited until ready, stopped cleanly.

Its log is read line by line: each line goes to `on_line`, the last few are kept for error
messages, and "Server is ready" says that clients (and JetStream) are served.
"""

from __future__ import annotations

import re
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from ..errors import ProcessExited
from ..testing import OutputLines

READY_LINE = "Server is ready"
VERSION = re.compile(r"Version:\s+(\S+)")
LAST_LINES = 20
"""How many log lines an error message shows."""


class NatsServerProcess:
    """`nats-server -js` on `host:port` with its store in `store_dir`, logging to a pipe."""

    def __init__(
        self,
        binary: str,
        *,
        host: str,
        port: int,
        store_dir: Path,
        debug: bool = False,
        on_line: Callable[[str], None] | None = None,
    ) -> None:
        self.args = [
            binary,
            "-a",
            host,
            "-p",
            str(port),
            "-js",
            "-sd",
            str(store_dir),
            *(["-D"] if debug else []),
        ]
        self.version = "?"
        """The server's version, as its log states it."""
        self.last_lines: deque[str] = deque(maxlen=LAST_LINES)
        self._on_line = on_line
        self._ready = threading.Event()
        self._process: subprocess.Popen[str] | None = None
        self._output: OutputLines | None = None

    def start(self, timeout: float = 30.0) -> None:
        """Start the server; return once it serves clients.

        `ProcessExited` if it exits first, `TimeoutError` if it is not ready within `timeout`
        seconds (it is stopped then); both messages end with its last log lines.
        """
        self._process = subprocess.Popen(
            self.args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
        self._output = OutputLines(self._process, name="nats-server", on_line=self._line, keep=False)
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.05):
            if self._process.poll() is not None:
                self._output.join(timeout=5)
                raise ProcessExited(f"nats-server exited with code {self._process.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"nats-server was not ready within {timeout:g}s:\n{self.log()}")

    def _line(self, line: str) -> None:
        self.last_lines.append(line)
        if not self._ready.is_set():
            if match := VERSION.search(line):
                self.version = match[1]
            if READY_LINE in line:
                self._ready.set()
        if self._on_line is not None:
            self._on_line(line)

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def terminate(self) -> None:
        """Ask the server to shut down (SIGTERM: JetStream flushes its store, then it exits 0)."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float | None = None) -> int:
        """Wait until the server exited and its log is read; its exit code."""
        if self._process is None:
            raise RuntimeError("nats-server was not started.")
        code = self._process.wait(timeout)
        if self._output is not None:
            self._output.join(timeout=5)
        return code

    def stop(self, timeout: float = 30.0) -> int | None:
        """Shut the server down and wait for it; kill it if it is still running after `timeout` s."""
        if self._process is None:
            return None
        self.terminate()
        try:
            return self.wait(timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            return self.wait()

    def log(self) -> str:
        """The last log lines as one text."""
        return "\n".join(self.last_lines)
