"""The pytest plugin (walnats_django/testing/pytest_plugin.py), run by pytest on a project of its own.

Each test writes a small Django project (an event with an answer, one without, their actors, a view
that requests one and emits the other, tests using the plugin's fixtures) and runs `pytest` on it
in a subprocess, with NATS_URL pointing at a port where nothing listens: a test that passes there
never used the developer's NATS.
"""

from __future__ import annotations

import subprocess
import sys

import nats
import pytest

from tests.helpers import write_project
from walnats_django.testing import NatsServer

pytest_plugins = ["pytester"]

FILES = {
    "pytest.ini": """
        [pytest]
        pythonpath = .
        asyncio_mode = auto
        asyncio_default_fixture_loop_scope = function
        timeout = 60
        """,
    "liveproj/__init__.py": "",
    "liveproj/settings.py": """
        from pathlib import Path

        SECRET_KEY = "plugin-test"
        INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "walnats_django", "shop"]
        HERE = Path(__file__).parent
        DATABASES = {
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": str(HERE / "db.sqlite3"),
                "TEST": {"NAME": str(HERE / "test-db.sqlite3")},  # a file: a subprocess can share it
            }
        }
        ROOT_URLCONF = "liveproj.urls"
        USE_TZ = True
        WALNATS = {"REQUEST_TIMEOUT": 3.0}
        """,
    "liveproj/urls.py": """
        from django.urls import path

        from shop.views import greet, greet_async

        urlpatterns = [path("greet/", greet), path("greet-async/", greet_async)]
        """,
    "shop/__init__.py": "",
    "shop/events.py": """
        from walnats_django import Event, registry

        GREET = registry.add(Event("plugintest.greet", str).with_response(str))
        NOTED = registry.add(Event("plugintest.noted", str))
        BREAK = registry.add(Event("plugintest.break", str).with_response(str))
        GROUP = registry.add(Event("plugintest.group", str).with_response(int))
        """,
    "shop/actors.py": """
        import os

        from django.contrib.auth.models import Group

        from walnats_django import registry

        from .events import BREAK, GREET, GROUP, NOTED

        NOTES: list[str] = []
        \"\"\"What the noter handled in this process (in-process workers only).\"\"\"


        @registry.actor("plugintest-greeter", GREET)
        def greet(name: str) -> str:
            return f"hello {name} from pid {os.getpid()}"


        @registry.actor("plugintest-noter", NOTED, max_jobs=1)
        def note(text: str) -> None:
            NOTES.append(text)


        @registry.actor("plugintest-grouper", GROUP)
        def make_group(name: str) -> int:
            Group.objects.create(name=name)
            return Group.objects.count()


        @registry.actor("plugintest-breaker", BREAK, max_attempts=1)
        def break_(text: str) -> str:
            raise ValueError(f"boom-from-actor {text}")
        """,
    "shop/views.py": """
        from django.http import JsonResponse

        import walnats_django
        from walnats_django import emit_sync, request_sync

        from .events import GREET, NOTED


        def greet(request):
            name = request.GET["name"]
            answer = request_sync(GREET, name)
            emit_sync(NOTED, f"greeted {name}")
            return JsonResponse({"answer": answer})


        async def greet_async(request):
            name = request.GET["name"]
            answer = await walnats_django.request(GREET, name)
            await walnats_django.emit(NOTED, f"greeted {name}")
            return JsonResponse({"answer": answer})
        """,
    "test_live.py": """
        import os
        import time

        import pytest

        from django.conf import settings
        from django.contrib.auth.models import Group

        from shop import actors
        from shop.events import GREET, GROUP, NOTED
        from walnats_django import emit_sync, request, request_sync


        def test_walnats_uses_the_fixtures_server(nats_server):
            assert os.environ["NATS_URL"] == nats_server.url


        def test_a_request_on_the_first_line_is_answered_at_once(walnats_worker):
            started = time.monotonic()
            assert request_sync(GREET, "ada", timeout=2) == f"hello ada from pid {os.getpid()}"
            assert time.monotonic() - started < 1.0


        @pytest.mark.walnats(actors=["plugintest-greeter"], subprocess=True)
        def test_subprocess_worker(walnats_worker):
            answer = request_sync(GREET, "bob", timeout=2)
            assert answer.startswith("hello bob from pid ")
            assert answer != f"hello bob from pid {os.getpid()}"


        @pytest.mark.walnats(actors=["plugintest-grouper"])
        @pytest.mark.parametrize(
            "mode", ["in-process", pytest.param("subprocess", marks=pytest.mark.walnats(subprocess=True))]
        )
        def test_worker_uses_the_test_database(walnats_worker, transactional_db, mode):
            Group.objects.create(name="made-by-the-test")
            assert request_sync(GROUP, "made-by-the-actor", timeout=2) == 2
            names = sorted(Group.objects.values_list("name", flat=True))
            assert names == ["made-by-the-actor", "made-by-the-test"]
            assert not (settings.HERE / "db.sqlite3").exists()  # the developer's database stays untouched


        async def test_async_request(walnats_worker):
            assert await request(GREET, "cy", timeout=2) == f"hello cy from pid {os.getpid()}"


        def test_factory_starts_the_chosen_actors(walnats_workers):
            worker = walnats_workers.start(["plugintest-greeter"])
            assert [actor.name for actor in worker.actors] == ["plugintest-greeter"]
            assert request_sync(GREET, "di", timeout=2).startswith("hello di")


        @pytest.mark.walnats(actors=["plugintest-noter"])
        def test_leaves_a_message_behind(walnats_worker):
            walnats_worker.stop()
            emit_sync(NOTED, "from-the-test-before", wait=True)  # kept: the noter's consumer exists


        @pytest.mark.walnats(actors=["plugintest-noter"])
        def test_starts_without_the_message_left_behind(walnats_worker):
            emit_sync(NOTED, "from-this-test", wait=True)
            deadline = time.monotonic() + 5
            while "from-this-test" not in actors.NOTES:
                assert time.monotonic() < deadline, actors.NOTES
                time.sleep(0.01)
            assert actors.NOTES == ["from-this-test"]  # one actor job at a time, in stream order
        """,
    "test_view.py": """
        import pytest

        from shop.events import NOTED


        def greet_eve(client, bus, url="/greet/"):
            response = client.get(url, {"name": "eve"})
            assert response.json()["answer"].startswith("hello eve from pid ")
            bus.assert_emitted(NOTED, times=1, where=lambda text: text == "greeted eve")


        def test_greet_view(client, walnats_bus, pytestconfig):
            assert walnats_bus.live is pytestconfig.getoption("walnats_live")
            greet_eve(client, walnats_bus)


        async def test_async_greet_view(async_client, walnats_bus):
            response = await async_client.get("/greet-async/", {"name": "eve"})
            assert response.json()["answer"].startswith("hello eve from pid ")
            walnats_bus.assert_emitted(NOTED, times=1, where=lambda text: text == "greeted eve")


        @pytest.mark.walnats(live=True)
        def test_greet_view_marked_live(client, walnats_bus):
            assert walnats_bus.live
            greet_eve(client, walnats_bus)


        @pytest.mark.walnats(live=False)
        def test_greet_view_marked_in_process(client, walnats_bus):
            assert not walnats_bus.live
            greet_eve(client, walnats_bus)
        """,
    "test_fails.py": """
        import pytest

        from shop.events import BREAK
        from walnats_django import RemoteError, request_sync


        @pytest.mark.walnats(actors=["plugintest-breaker"], subprocess=True)
        def test_fails_and_shows_the_worker_log(walnats_worker):
            with pytest.raises(RemoteError):
                request_sync(BREAK, "x1", timeout=2)
            raise AssertionError("failing on purpose: the report shows the worker's log")


        @pytest.mark.walnats("plugintest-greeter")
        def test_marker_takes_keywords(walnats_worker):
            pass
        """,
}


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """The project written into pytester's directory; NATS_URL names a port where nothing listens."""
    write_project(pytester, monkeypatch, FILES, "liveproj.settings")
    return pytester


def test_the_plugin_is_loaded_by_its_entry_point(pytestconfig: pytest.Config) -> None:
    assert pytestconfig.pluginmanager.hasplugin("walnats_django")


def test_importing_the_plugin_touches_neither_settings_nor_nats() -> None:
    code = (
        "import sys, django.conf, walnats_django.testing.pytest_plugin as plugin\n"
        "assert not django.conf.settings.configured\n"
        "assert 'walnats_django.testing.live_worker' not in sys.modules\n"
        "print('ok')\n"
    )
    env = {"PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "ok", done.stderr


def test_live_fixtures_in_process_and_subprocess(project: pytest.Pytester) -> None:
    """One run on a server the plugin starts: workers in process and as runactors, readiness, the
    test database, no message leaking between tests, walnats_bus live, a failed test's report."""
    result = project.runpytest_subprocess(
        "-p", "no:cacheprovider", "--walnats-live", "test_live.py", "test_view.py", "test_fails.py"
    )
    result.assert_outcomes(passed=13, failed=1, errors=1)
    output = result.stdout.str()
    assert "walnats worker log: runactors pid=" in output
    assert "boom-from-actor x1" in output
    assert (
        "@pytest.mark.walnats takes only the keywords actors, live, subprocess; got 'plugintest-greeter'"
        in output
    )


def test_walnats_bus_runs_a_view_test_without_nats(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NATS_SERVER_BIN", str(project.path / "no-nats-server"))  # none could start
    result = project.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "test_view.py::test_greet_view",
        "test_view.py::test_async_greet_view",
        "test_view.py::test_greet_view_marked_in_process",
    )
    result.assert_outcomes(passed=3)


async def test_nats_url_option_uses_that_server(
    project: pytest.Pytester, nats_server: NatsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NATS_SERVER_BIN", str(project.path / "no-nats-server"))  # none could start
    result = project.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--walnats-live",
        f"--walnats-nats-url={nats_server.url}",
        "test_live.py::test_walnats_uses_the_fixtures_server",
        "test_view.py::test_greet_view",
        "test_view.py::test_async_greet_view",
    )
    result.assert_outcomes(passed=3)
    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()
        greeter = await js.consumer_info("plugintest-greet", "plugintest-greeter")
        noter = await js.consumer_info("plugintest-noted", "plugintest-noter")
    finally:
        await nc.close()
    assert greeter.delivered.consumer_seq == 2, "both views' requests went through this server"
    assert noter.delivered.consumer_seq == 2, "and so did their emits"


def test_a_bad_nats_url_option_is_a_usage_error(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess("--walnats-nats-url=http://example.com", "test_fails.py")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "is not a nats://, tls://, ws:// or wss:// URL" in result.stderr.str()


def test_no_nats_server_binary_says_how_to_get_one(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NATS_SERVER_BIN", str(project.path / "missing-nats-server"))
    result = project.runpytest_subprocess(
        "-p", "no:cacheprovider", "test_live.py::test_walnats_uses_the_fixtures_server"
    )
    result.assert_outcomes(errors=1)
    output = result.stdout.str()
    assert 'pip install "walnats-django[server]"' in output
    assert "--walnats-nats-url" in output
