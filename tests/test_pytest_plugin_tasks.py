"""The pytest plugin with Django's Tasks API: a project that uses only `@task`, `enqueue` and
`get_result` (no walnats events) tests its view with `walnats_bus`, in process without NATS and
again with `--walnats-live` against a real server and worker that runs the task queue, in this
process or as `runactors`.

The project's NATS_URL names a port where nothing listens: a run that passes never used the
developer's NATS.
"""

from __future__ import annotations

import pytest

from tests.helpers import write_project

pytest_plugins = ["pytester"]

FILES = {
    "pytest.ini": """
        [pytest]
        pythonpath = .
        asyncio_mode = auto
        asyncio_default_fixture_loop_scope = function
        timeout = 60
        """,
    "taskproj/__init__.py": "",
    "taskproj/settings.py": """
        SECRET_KEY = "plugin-tasks-test"
        INSTALLED_APPS = ["django_tasks", "walnats_django", "shop"]
        DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
        ROOT_URLCONF = "taskproj.urls"
        USE_TZ = True
        WALNATS = {"REQUEST_TIMEOUT": 3.0}
        TASKS = {
            "default": {
                "BACKEND": "walnats_django.tasks.WalnatsBackend",
                "QUEUES": ["default", "slow"],
                "OPTIONS": {"RETRIES": 1, "RETRY_DELAY": 0.1},
            }
        }
        """,
    "taskproj/urls.py": """
        from django.urls import path

        from shop.views import greet, greet_async

        urlpatterns = [path("greet/", greet), path("greet-async/", greet_async)]
        """,
    "shop/__init__.py": "",
    "shop/tasks.py": """
        import os

        from django_tasks import task


        @task
        def greet(name: str) -> str:
            return f"hello {name} from pid {os.getpid()}"


        @task(takes_context=True)
        def flaky(context, name: str) -> int:
            if context.attempt == 1:
                raise ValueError(f"first attempt for {name} fails")
            return context.attempt


        @task(queue_name="slow")
        async def slow_greet(name: str) -> str:
            return f"slowly, hello {name}"
        """,
    "shop/views.py": """
        from django.http import JsonResponse

        from . import tasks


        def greet(request):
            result = tasks.greet.enqueue(request.GET["name"])
            return JsonResponse({"id": result.id})


        async def greet_async(request):
            result = await tasks.greet.aenqueue(request.GET["name"])
            return JsonResponse({"id": result.id})
        """,
    "test_tasks_view.py": """
        import os

        import pytest
        from django_tasks import TaskResultStatus

        from shop.tasks import flaky, greet, slow_greet
        from walnats_django.tasks import wait, wait_sync


        def test_greet_view(client, walnats_bus, pytestconfig):
            assert walnats_bus.live is pytestconfig.getoption("walnats_live")
            answer = client.get("/greet/", {"name": "eve"}).json()
            [result] = walnats_bus.assert_enqueued(greet, times=1, where={"name": "eve"})
            assert result.id == answer["id"]
            assert wait_sync(result, timeout=10).return_value == f"hello eve from pid {os.getpid()}"
            assert greet.get_result(result.id).status == TaskResultStatus.SUCCESSFUL


        async def test_async_greet_view(async_client, walnats_bus):
            answer = (await async_client.get("/greet-async/", {"name": "ann"})).json()
            result = await greet.aget_result(answer["id"])
            assert (await wait(result, timeout=10)).return_value.startswith("hello ann")
            walnats_bus.assert_enqueued(greet, times=1, where={"name": "ann"})


        def test_retries_and_every_queue(walnats_bus):
            retried = wait_sync(flaky.enqueue("bob"), timeout=10)
            assert retried.return_value == 2
            assert [error.exception_class_path for error in retried.errors] == ["builtins.ValueError"]
            assert wait_sync(slow_greet.enqueue("cy"), timeout=10).return_value == "slowly, hello cy"


        @pytest.mark.walnats(live=True, subprocess=True)
        def test_a_runactors_worker_runs_the_queues(walnats_bus):
            result = wait_sync(greet.enqueue("dan"), timeout=10)
            assert result.return_value.startswith("hello dan from pid ")
            assert result.return_value != f"hello dan from pid {os.getpid()}"
            assert wait_sync(slow_greet.enqueue("dan"), timeout=10).return_value == "slowly, hello dan"


        @pytest.mark.walnats(live=True, subprocess=True, actors=["tasks-slow"])
        def test_a_chosen_queue_runs_alone(walnats_worker, walnats_bus):
            assert [actor.name for actor in walnats_worker.actors] == ["tasks-slow"]
            assert walnats_worker.args[-2:] == ["--queue", "slow"]
            assert wait_sync(slow_greet.enqueue("eli"), timeout=10).return_value == "slowly, hello eli"
        """,
}


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """The project written into pytester's directory; NATS_URL names a port where nothing listens."""
    write_project(pytester, monkeypatch, FILES, "taskproj.settings")
    return pytester


def test_task_tests_run_in_process_without_nats(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NATS_SERVER_BIN", str(project.path / "no-nats-server"))  # none could start
    result = project.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "test_tasks_view.py::test_greet_view",
        "test_tasks_view.py::test_async_greet_view",
        "test_tasks_view.py::test_retries_and_every_queue",
    )
    result.assert_outcomes(passed=3)


def test_task_tests_run_live_on_workers_that_run_the_queues(project: pytest.Pytester) -> None:
    """The same tests with --walnats-live: the plugin's server, an in-process worker running the
    task queues (and the runactors subprocess the last two tests ask for)."""
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "--walnats-live", "test_tasks_view.py")
    result.assert_outcomes(passed=5)
