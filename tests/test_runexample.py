"""`manage.py runexample` end to end: real nats-server, real workers, real uvicorn, real HTTP."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from tests.helpers import CommandProcess
from walnats_django.testing import free_port

READY_LINE = "Press Ctrl+C to stop."


class RunExample(CommandProcess):
    """`manage.py runexample` as a subprocess whose output lines can be awaited."""

    timeout = 60.0
    wait_timeout = 60.0

    def __init__(self, *args: str, data_dir: Path) -> None:
        env = {k: v for k, v in os.environ.items() if k != "NATS_URL"}  # start the embedded server
        env.update(
            DJANGO_SETTINGS_MODULE="project.settings",
            PYTHONUNBUFFERED="1",
            DATABASE_URL=f"sqlite:///{data_dir / 'db.sqlite3'}",
        )
        super().__init__("runexample", ["--data-dir", str(data_dir), *args], env)

    def pids(self, timeout: float = 10.0) -> dict[str, int]:
        """The children's pids from the `pids:` line ({} if none within `timeout`)."""
        try:
            line = self.wait_for_line("| pids: ", timeout)
        except AssertionError:
            return {}
        return {name: int(pid) for name, pid in re.findall(r"([\w.-]+)=(\d+)", line.split("pids:", 1)[1])}


def post(url: str, payload: object) -> tuple[int, object]:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())


def assert_gone(pids: dict[str, int]) -> None:
    """No child process, nor anything in its process group, is left (each leads its own group)."""
    alive = []
    for name, pid in pids.items():
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            continue
        alive.append(f"{name} (pgid {pid})")
    assert not alive, f"still running: {alive}"


Start = Callable[..., RunExample]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    """Start runexample with its database and NATS store in tmp_path; all killed at the end."""
    started: list[RunExample] = []

    def run(*args: str) -> RunExample:
        process = RunExample(*args, data_dir=tmp_path)
        started.append(process)
        return process

    yield run
    for process in started:
        process.stop()
        for pid in process.pids(timeout=0).values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


def test_runexample_end_to_end(start: Start, tmp_path: Path) -> None:
    port, nats_port = free_port(), free_port()
    runexample = start("--port", str(port), "--nats-port", str(nats_port), "--workers", "1")
    runexample.wait_for_line(READY_LINE)
    pids = runexample.pids()
    assert set(pids) == {"nats-server", "actors.1", "web"}

    assert post(f"http://127.0.0.1:{port}/count-words", {"text": "some random text"}) == (200, {"count": 3})
    assert post(f"http://127.0.0.1:{port}/sign-up", {"email": "ada@example.com", "name": "Ada"}) == (
        202,
        {"accepted": True},
    )
    runexample.wait_for_line("Welcomed email=ada@example.com")  # the actor wrote to the shared DB
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/static/admin/css/base.css", timeout=10) as css:
        assert css.status == 200, "the admin is styled without DEBUG"
        assert css.headers["Content-Type"].startswith("text/css")

    runexample.process.send_signal(signal.SIGINT)
    assert runexample.wait() == 0, runexample.log()
    assert runexample.lines[-1].endswith("Stopped cleanly."), runexample.log()
    assert_gone(pids)
    assert (tmp_path / "nats" / "jetstream").is_dir(), "the JetStream store lives in --data-dir"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_sigterm_stops_cleanly_too(start: Start) -> None:
    runexample = start("--port", str(free_port()), "--nats-port", str(free_port()), "--workers", "2")
    runexample.wait_for_line(READY_LINE)
    pids = runexample.pids()
    assert set(pids) == {"nats-server", "actors.1", "actors.2", "web"}
    runexample.process.send_signal(signal.SIGTERM)
    assert runexample.wait() == 0, runexample.log()
    assert_gone(pids)


def test_child_dying_stops_everything_with_an_error(start: Start) -> None:
    runexample = start("--port", str(free_port()), "--nats-port", str(free_port()), "--workers", "1")
    runexample.wait_for_line(READY_LINE)
    pids = runexample.pids()
    os.kill(pids["actors.1"], signal.SIGKILL)
    assert runexample.wait() == 1, runexample.log()
    assert f"actors.1 (pid {pids['actors.1']}) exited unexpectedly with code -9" in runexample.log()
    assert_gone(pids)


def test_nats_port_in_use_is_a_clear_error(start: Start) -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        busy_port = busy.getsockname()[1]
        runexample = start("--port", str(free_port()), "--nats-port", str(busy_port))
        assert runexample.wait() == 1
    assert f"Port {busy_port} is in use" in runexample.log()
    assert "NATS_URL=nats://127.0.0.1:" in runexample.log()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "0"], "is not a TCP port"),
        (["--nats-port", "70000"], "is not a TCP port"),
        (["--port", "http"], "is not an integer"),
        (["--workers", "0"], "must be a positive number, got 0"),
    ],
)
def test_arguments_are_validated(args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("runexample", *args)


def test_in_memory_database_is_refused() -> None:
    """tests.settings uses in-memory SQLite, which separate processes cannot share."""
    with pytest.raises(CommandError, match="in-memory SQLite"):
        call_command("runexample", "--port", str(free_port()), "--nats-port", str(free_port()))
