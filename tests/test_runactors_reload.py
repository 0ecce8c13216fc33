"""`runactors --reload` on a throwaway project: a code change starts a new worker, a broken edit waits
for the fix, a job running at the change is handed to the new worker, and stop signals still stop."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

import walnats_django
from tests.helpers import ROOT, record_lines, unique, until
from walnats_django import Event
from walnats_django.testing import NatsServer, OutputLines, ProcessExited

SETTINGS = """
SECRET_KEY = "reload-test"
INSTALLED_APPS = ["walnats_django", "reloadapp"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
USE_TZ = True
"""

MANAGE = """
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reloadsite.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
"""

EVENTS = """
from walnats_django import Event, registry

EVENT = registry.add(Event({event!r}, str))
"""

ACTORS = """
import asyncio

from walnats_django import registry

from .events import EVENT


@registry.actor({actor!r}, EVENT)
async def write_marker(text: str) -> None:
    with open({marker!r}, "a") as marker:
        marker.write(f"{version} start " + text + "\\n")
    if text.startswith("slow"):
        await asyncio.sleep(60)
    with open({marker!r}, "a") as marker:
        marker.write(f"{version} " + text + "\\n")
"""

StartSupervisor = Callable[..., "Supervisor"]
WORKER_STARTED = re.compile(r"Worker started pid=(\d+)")


class ReloadProject:
    """A project with one app whose actor appends "<version> <text>" to a marker file."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.event = Event(unique("reload-test"), str)
        self.actor = unique("reload-actor")
        self.marker = root / "marker.txt"
        (root / "reloadsite").mkdir()
        (root / "reloadsite" / "__init__.py").write_text("")
        (root / "reloadsite" / "settings.py").write_text(SETTINGS)
        (root / "manage.py").write_text(MANAGE)
        (root / "reloadapp").mkdir()
        (root / "reloadapp" / "__init__.py").write_text("")
        (root / "reloadapp" / "events.py").write_text(EVENTS.format(event=self.event.name))
        self.write_actor("v1")

    def write_actor(self, version: str) -> None:
        source = ACTORS.format(actor=self.actor, marker=str(self.marker), version=version)
        (self.root / "reloadapp" / "actors.py").write_text(source)

    def break_actor(self) -> None:
        (self.root / "reloadapp" / "actors.py").write_text("def broken(:\n")

    async def handled(self, line: str, timeout: float = 15) -> None:
        await until(lambda: line in record_lines(self.marker), f"{line!r} in the marker file", timeout)


class Supervisor:
    """`python manage.py runactors --reload` of a ReloadProject, its output (the children's too) read."""

    def __init__(self, project: ReloadProject, server: NatsServer, *args: str) -> None:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(project.root), str(ROOT)]),
            "NATS_URL": server.url,
            "PYTHONUNBUFFERED": "1",
            # The edits keep a file's size and may land within its mtime second: no stale .pyc.
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        env.pop("DJANGO_SETTINGS_MODULE", None)
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "runactors", "--reload", *args],
            cwd=project.root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        self.output = OutputLines(self.process, name="runactors --reload")

    async def line(self, needle: str, since: int = 0, timeout: float = 20) -> str:
        try:
            index = await asyncio.to_thread(self.output.wait_for, needle, timeout, since)
        except (TimeoutError, ProcessExited) as exc:
            raise AssertionError(str(exc)) from None
        return self.output.lines[index]

    async def worker_started(self, since: int = 0) -> int:
        """Wait for a worker's start line and its code watcher; the worker's pid."""
        line = await self.line("Worker started", since)
        await self.line("Watching for file changes with", since)
        match = WORKER_STARTED.search(line)
        assert match, line
        return int(match[1])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def project(tmp_path: Path) -> ReloadProject:
    return ReloadProject(tmp_path)


@pytest.fixture
def start_supervisor(project: ReloadProject, nats_server: NatsServer) -> Iterator[StartSupervisor]:
    started: list[Supervisor] = []

    def start(*args: str) -> Supervisor:
        supervisor = Supervisor(project, nats_server, *args)
        started.append(supervisor)
        return supervisor

    yield start
    for supervisor in started:
        supervisor.stop()


def process_exists(pid: int) -> bool:
    """Whether the process runs (a zombie that nobody reaped yet counts as exited)."""
    stat = Path(f"/proc/{pid}/stat")
    if Path("/proc/self/stat").exists():
        try:
            return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except FileNotFoundError:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_a_code_change_starts_a_new_worker_with_the_new_code(
    project: ReloadProject, start_supervisor: StartSupervisor
) -> None:
    supervisor = start_supervisor()
    first = await supervisor.worker_started()
    await walnats_django.emit(project.event, "one", wait=True)
    await project.handled("v1 one")

    mark = supervisor.output.mark()
    project.write_actor("v2")
    assert "actors.py changed; stopping the worker" in await supervisor.line("changed; stopping", mark)
    second = await supervisor.worker_started(mark)
    assert second != first
    assert not process_exists(first)
    await walnats_django.emit(project.event, "two", wait=True)
    await project.handled("v2 two")
    assert "v1 two" not in record_lines(project.marker)

    supervisor.process.send_signal(signal.SIGINT)
    assert await asyncio.to_thread(supervisor.process.wait, 30) == 0
    await supervisor.line("Received SIGINT, shutting down gracefully", mark)
    assert not process_exists(second), "the worker process ends with its supervisor"
    assert "Traceback" not in supervisor.output.log()


async def test_a_broken_edit_waits_for_the_fix(
    project: ReloadProject, start_supervisor: StartSupervisor
) -> None:
    supervisor = start_supervisor()
    await supervisor.worker_started()

    mark = supervisor.output.mark()
    project.break_actor()
    await supervisor.line("SyntaxError", mark)
    await supervisor.line("The worker exited with code 1; fix the error above", mark)
    await supervisor.line("Watching for file changes with", mark)
    assert supervisor.process.poll() is None, "the supervisor keeps watching"

    mark = supervisor.output.mark()
    project.write_actor("v3")
    await supervisor.worker_started(mark)
    await walnats_django.emit(project.event, "fixed", wait=True)
    await project.handled("v3 fixed")


async def test_a_job_running_at_the_change_is_run_again_by_the_new_worker(
    project: ReloadProject, start_supervisor: StartSupervisor
) -> None:
    supervisor = start_supervisor("--shutdown-timeout", "0.5")
    await supervisor.worker_started()
    await walnats_django.emit(project.event, "slow-one", wait=True)
    await project.handled("v1 start slow-one")

    mark = supervisor.output.mark()
    project.write_actor("v2")
    await supervisor.line("running jobs get up to 0.5s", mark)
    await supervisor.line("Cancelling 1 job(s) still running after 0.5s; they are handed back", mark)
    await supervisor.worker_started(mark)
    # Handed back with a nak, not left to the 16 s ack_wait: the new worker gets it at once.
    await project.handled("v2 start slow-one", timeout=5)


async def test_sigterm_to_the_supervisor_stops_the_worker_gracefully(
    project: ReloadProject, start_supervisor: StartSupervisor
) -> None:
    supervisor = start_supervisor()
    pid = await supervisor.worker_started()
    supervisor.process.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(supervisor.process.wait, 30) == 0
    await supervisor.line("Received SIGTERM, shutting down gracefully")
    await supervisor.line("Worker stopped handled=")
    assert not process_exists(pid)


async def test_the_worker_stops_when_its_supervisor_is_killed(
    project: ReloadProject, start_supervisor: StartSupervisor
) -> None:
    supervisor = start_supervisor()
    pid = await supervisor.worker_started()
    supervisor.process.kill()
    await supervisor.line("The runactors --reload process is gone; stopping the worker")
    await supervisor.line("Worker stopped handled=")
    await until(lambda: not process_exists(pid), "the orphaned worker process has exited")


def test_reload_and_burst_are_refused_together() -> None:
    with pytest.raises(CommandError, match="--reload and --burst do not go together"):
        call_command("runactors", "--reload", "--burst")
