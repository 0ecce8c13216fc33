"""`manage.py runexample`: the example project end to end with one command.

Starts an embedded nats-server with JetStream (unless NATS_URL is set), applies migrations,
then runs `runactors` worker processes and uvicorn serving the ASGI app, and forwards their
output with a name prefix. Ctrl-C or SIGTERM stops the web server, then the actors, then
NATS. If any of them dies on its own, everything else is stopped and the command fails.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper
from django.db import connections

from walnats_django.conf import walnats_settings
from walnats_django.management.commands.runactors import positive_int
from walnats_django.management.ports import port_is_free, port_number, url_host
from walnats_django.testing import NatsServer, OutputLines

#: Printed once the web server accepts connections and every worker reported in.
READY_LINE = "Press Ctrl+C to stop."
#: What a `runactors` process logs once its streams and consumers are in place.
WORKER_STARTED = "Worker started"
READY_TIMEOUT = 60.0
POLL_INTERVAL = 0.1
#: uvicorn's own limit for in-flight requests at shutdown; we wait a bit longer, then kill.
WEB_GRACEFUL_SHUTDOWN = 10
#: Seconds a process gets beyond its own graceful shutdown before it is killed.
KILL_MARGIN = 10.0


class Output:
    """Thread-safe, line-flushed writing of prefixed lines to the command's stdout."""

    def __init__(self, out: OutputWrapper, width: int) -> None:
        self._out = out
        self._width = width
        self._lock = threading.Lock()

    def line(self, name: str, text: str) -> None:
        with self._lock:
            try:
                for part in text.splitlines() or [""]:
                    self._out.write(f"{name:<{self._width}} | {part}")
                self._out.flush()
            except (OSError, ValueError):
                pass  # stdout closed or a broken pipe: keep supervising anyway


class Child:
    """A subprocess in its own process group whose output is forwarded line by line."""

    def __init__(
        self,
        name: str,
        args: list[str],
        *,
        env: dict[str, str],
        cwd: Path,
        ready_marker: str | None,
        output: Output,
    ) -> None:
        self.name = name
        self.args = args
        self.env = env
        self.cwd = cwd
        self.ready_marker = ready_marker
        self.output = output
        self.ready = threading.Event()
        self.process: subprocess.Popen[str] | None = None
        self._output: OutputLines | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        # Own process group: a terminal's Ctrl-C reaches only runexample, which then sends
        # each child exactly one SIGTERM (a second signal makes runactors and uvicorn force-quit).
        self.process = subprocess.Popen(
            self.args,
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            bufsize=1,
            process_group=0,
        )
        if self.ready_marker is None:
            self.ready.set()
        # Lines are forwarded, not kept: runexample may run for days.
        self._output = OutputLines(self.process, name=self.name, on_line=self._forward, keep=False)

    def _forward(self, line: str) -> None:
        if self.ready_marker is not None and self.ready_marker in line:
            self.ready.set()
        self.output.line(self.name, line)

    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def send(self, sig: int) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)

    def finish(self) -> None:
        """After exit: let the reader forward what is left in the pipe."""
        if self._output is not None:
            self._output.join(timeout=5)


class Supervisor:
    """Start NATS (optional), the actors and the web server; stop them in reverse order."""

    def __init__(
        self,
        *,
        nats: NatsServer | None,
        workers: list[Child],
        web: Child,
        web_check: tuple[str, int],
        output: Output,
        banner: Callable[[], str],
        worker_grace: float,
    ) -> None:
        self.nats = nats
        self.workers = workers
        self.web = web
        self.web_check = web_check
        self.output = output
        self.banner = banner
        self.worker_grace = worker_grace
        self.signals: list[int] = []
        self._signals_before_stop = 0

    @property
    def children(self) -> list[Child]:
        return [*self.workers, self.web]

    def say(self, text: str) -> None:
        self.output.line("runexample", text)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.signals.append(signum)

    def run(self) -> None:
        """Run until a signal (returns) or a failure (raises CommandError)."""
        handled = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in handled}
        failure: str | None = None
        try:
            failure = self._start_and_watch()
        finally:
            problems = self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if failure:
            raise CommandError(f"{failure}; stopped everything.")
        if problems:
            raise CommandError("Stopped, but not cleanly: " + "; ".join(problems))
        self.say("Stopped cleanly.")

    def _start_and_watch(self) -> str | None:
        if self.nats is not None:
            self.say(
                f"Starting nats-server on {self.nats.url} (store {self.nats.store_dir}, "
                f"log {self.nats.log_file})"
            )
            try:
                self.nats.start()
            except (OSError, RuntimeError, TimeoutError) as exc:
                return f"nats-server did not start: {exc}"
        for child in self.children:
            child.start()
        self.say(
            "pids: "
            + " ".join(
                [
                    *([f"nats-server={self.nats.process.pid}"] if self.nats and self.nats.process else []),
                    *(f"{child.name}={child.pid}" for child in self.children),
                ]
            )
        )
        ready = False
        deadline = time.monotonic() + READY_TIMEOUT
        while not self.signals:
            failure = self._check_alive()
            if failure:
                return failure
            if not ready and self._is_ready():
                ready = True
                self.say(self.banner())
            elif not ready and time.monotonic() > deadline:
                ready = True  # warn once, keep running: the workers may be waiting for NATS
                waiting = [c.name for c in self.children if not c.ready.is_set()] or [self.web.name]
                self.say(
                    f"Not ready after {READY_TIMEOUT:g}s, still waiting for: {', '.join(waiting)} "
                    f"(workers log {WORKER_STARTED!r} once connected to NATS). {READY_LINE}"
                )
            time.sleep(POLL_INTERVAL)
        self.say(
            f"Received {signal.Signals(self.signals[0]).name}, stopping "
            "(press Ctrl+C again to kill everything at once)"
        )
        return None

    def _check_alive(self) -> str | None:
        for child in self.children:
            code = child.returncode()
            if code is not None:
                child.finish()
                return f"{child.name} (pid {child.pid}) exited unexpectedly with code {code}"
        if self.nats is not None and self.nats.process is not None:
            code = self.nats.process.poll()
            if code is not None:
                return f"nats-server exited unexpectedly with code {code}; see {self.nats.log_file}"
        return None

    def _is_ready(self) -> bool:
        if not all(child.ready.is_set() for child in self.children):
            return False
        try:
            with socket.create_connection(self.web_check, timeout=0.2):
                return True
        except OSError:
            return False

    def _stop_all(self) -> list[str]:
        """Web first (no new requests), then the actors, then NATS; the problems seen."""
        self._signals_before_stop = len(self.signals)
        problems = self._stop([self.web], WEB_GRACEFUL_SHUTDOWN + KILL_MARGIN)
        problems += self._stop(self.workers, self.worker_grace)
        if self.nats is not None and self.nats.process is not None:
            self.say("Stopping nats-server")
            self.nats.stop(signal.SIGKILL if self._forced else signal.SIGTERM)
        return problems

    @property
    def _forced(self) -> bool:
        """A signal arrived while stopping: kill what is left."""
        return len(self.signals) > self._signals_before_stop

    def _stop(self, children: list[Child], grace: float) -> list[str]:
        running = [c for c in children if c.process is not None and c.returncode() is None]
        for child in running:
            self.say(f"Stopping {child.name} (pid {child.pid})")
            child.send(signal.SIGTERM)
        deadline = time.monotonic() + grace
        while any(c.returncode() is None for c in running) and not self._forced:
            if time.monotonic() > deadline:
                break
            time.sleep(POLL_INTERVAL)
        problems = []
        for child in running:
            assert child.process is not None
            if child.returncode() is None:
                why = "a second signal" if self._forced else f"{grace:g}s"
                problems.append(f"killed {child.name} (pid {child.pid}) after {why}")
                child.send(signal.SIGKILL)
                child.process.wait()
            # uvicorn re-raises the SIGTERM it handled after a graceful shutdown: -15 is clean too.
            elif child.returncode() not in (0, -signal.SIGTERM):
                problems.append(f"{child.name} (pid {child.pid}) exited with code {child.returncode()}")
        for child in children:
            child.finish()
        return problems


class Command(BaseCommand):
    help = (
        "Run the example end to end: embedded nats-server (unless NATS_URL is set), migrations, "
        "`runactors` workers and uvicorn. Ctrl+C stops everything."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--host",
            default="127.0.0.1",
            help="Address uvicorn binds to (default 127.0.0.1; others must be in DJANGO_ALLOWED_HOSTS).",
        )
        parser.add_argument("--port", type=port_number, default=8000, help="HTTP port (default 8000).")
        parser.add_argument(
            "--nats-port",
            type=port_number,
            default=4222,
            help="Port of the embedded nats-server (default 4222; unused with NATS_URL).",
        )
        parser.add_argument(
            "--workers", type=positive_int, default=2, help="Number of `runactors` processes (default 2)."
        )
        parser.add_argument(
            "--data-dir",
            type=Path,
            default=Path(settings.BASE_DIR) / "var",
            help="Where the embedded nats-server keeps its JetStream store (DATA_DIR/nats) "
            "and log, so data survives restarts (default: var/ of the project). "
            "The database is DATABASE_URL's.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        host: str = options["host"]
        port: int = options["port"]
        data_dir: Path = options["data_dir"].resolve()
        base_dir = Path(settings.BASE_DIR)
        if importlib.util.find_spec("uvicorn") is None:
            raise CommandError("uvicorn is not installed; `pip install -r requirements.txt`.")
        database = self._database()
        if not port_is_free(host, port):
            raise CommandError(f"Port {port} on {host} is in use; pass --port.")

        nats_url = os.environ.get("NATS_URL", "").strip()
        nats: NatsServer | None = None
        if not nats_url:
            nats_port: int = options["nats_port"]
            if not port_is_free("127.0.0.1", nats_port):
                raise CommandError(
                    f"Port {nats_port} is in use (a nats-server already running?). Use it with "
                    f"NATS_URL=nats://127.0.0.1:{nats_port}, or pass --nats-port."
                )
            data_dir.mkdir(parents=True, exist_ok=True)
            nats = NatsServer(
                port=nats_port,
                store_dir=data_dir / "nats",
                log_file=data_dir / "nats-server.log",
                own_process_group=True,
            )
            nats_url = nats.url

        call_command("migrate", interactive=False, verbosity=options["verbosity"])
        has_superuser = get_user_model().objects.filter(is_superuser=True).exists()
        connections.close_all()

        env = {
            **os.environ,
            "NATS_URL": nats_url,
            "PYTHONUNBUFFERED": "1",
            "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE") or settings.SETTINGS_MODULE,
        }
        output = Output(self.stdout, width=max(len("runexample"), len(f"actors.{options['workers']}")))
        workers = [
            Child(
                f"actors.{n}",
                [sys.executable, "-m", "django", "runactors"],
                env=env,
                cwd=base_dir,
                ready_marker=WORKER_STARTED,
                output=output,
            )
            for n in range(1, options["workers"] + 1)
        ]
        web = Child(
            "web", self._uvicorn_args(host, port), env=env, cwd=base_dir, ready_marker=None, output=output
        )
        base_url = f"http://{url_host(host)}:{port}"

        def banner() -> str:
            nats_text = (
                f"{nats_url} (embedded, store {nats.store_dir})" if nats else f"{nats_url} (from NATS_URL)"
            )
            admin = (
                ""
                if has_superuser
                else "\n  No admin user yet: create one with `python manage.py createsuperuser`."
            )
            return (
                f"Ready.\n"
                f"  Web:      {base_url}/  (admin: {base_url}/admin/){admin}\n"
                f"  NATS:     {nats_text}\n"
                f"  Actors:   {len(workers)} runactors process(es)\n"
                f"  Database: {database}\n"
                f"  Try:\n"
                f"    curl -X POST {base_url}/count-words -H 'Content-Type: application/json' "
                f'-d \'{{"text": "some random text"}}\'\n'
                f"    curl -X POST {base_url}/sign-up -H 'Content-Type: application/json' "
                f'-d \'{{"email": "ada@example.com", "name": "Ada"}}\'\n'
                f"  {READY_LINE}"
            )

        supervisor = Supervisor(
            nats=nats,
            workers=workers,
            web=web,
            web_check=(url_host(host).strip("[]"), port),
            output=output,
            banner=banner,
            worker_grace=walnats_settings.SHUTDOWN_TIMEOUT + KILL_MARGIN,
        )
        supervisor.run()

    def _database(self) -> str:
        """Describe the default database; make the SQLite file's directory; refuse in-memory."""
        db = settings.DATABASES["default"]
        name = str(db.get("NAME") or "")
        if not db["ENGINE"].endswith("sqlite3"):
            return f"{db['ENGINE'].rsplit('.', 1)[-1]} {name}"
        if name in ("", ":memory:") or "mode=memory" in name:
            raise CommandError(
                "The default database is in-memory SQLite, which the web server and the "
                "actors cannot share; set DATABASE_URL, e.g. sqlite:////tmp/example.sqlite3."
            )
        Path(name).parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite {name}"

    @staticmethod
    def _uvicorn_args(host: str, port: int) -> list[str]:
        module, _, attribute = str(settings.ASGI_APPLICATION).rpartition(".")
        args = [
            sys.executable,
            "-m",
            "uvicorn",
            f"{module}:{attribute}",
            "--host",
            host,
            "--port",
            str(port),
            "--lifespan",
            "on",
            "--timeout-graceful-shutdown",
            str(WEB_GRACEFUL_SHUTDOWN),
        ]
        if importlib.util.find_spec("uvloop") is not None:
            args += ["--loop", "uvloop"]
        if importlib.util.find_spec("httptools") is not None:
            args += ["--http", "httptools"]
        return args
