"""The admin's "Task queues" and "Task results" pages against a real nats-server and a real worker.

The queues of tests/settings.py: "default" (retries twice) runs in a `runactors --queue default`
for the module; "strict" never gets a worker here, so its tasks stay in its backlog.
"""

from __future__ import annotations

import contextlib
import datetime
import re
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django_tasks import TaskResultStatus, task_backends
from nats.js.errors import NotFoundError
from pytest_django.fixtures import Settings as SettingsWrapper

from tests.helpers import ROOT, StartWorker, WorkerProcess, until
from tests.testapp.tasks import add, always_fails, attempt_and_time, sleeps
from walnats_django import deadletters
from walnats_django.admin import NOT_CREATED
from walnats_django.client import close_connection, get_connection
from walnats_django.jetstream import ensure_consumer, ensure_stream
from walnats_django.sync import run_sync
from walnats_django.tasks import WalnatsBackend, wait_sync
from walnats_django.tasks.admin_results import TaskResultAdmin, error_row
from walnats_django.tasks.compat import TaskError
from walnats_django.tasks.queues import TaskQueue
from walnats_django.tasks.recent import recent_results
from walnats_django.tasks.records import TaskRecord
from walnats_django.tasks.runner import queue_actor
from walnats_django.tasks.store import ResultStore
from walnats_django.testing import NatsServer, free_port

pytestmark = pytest.mark.django_db

QUEUES_URL = "/admin/walnats_django/taskqueue/"
RESULTS_URL = "/admin/walnats_django/taskresult/"
XSS = "<script>alert('x')</script>"


def backend(alias: str) -> WalnatsBackend:
    found = task_backends[alias]
    assert isinstance(found, WalnatsBackend)
    return found


def detail_url(alias: str, result_id: str) -> str:
    return f"{RESULTS_URL}{alias}/{result_id}/"


async def _reset_queue(alias: str, name: str) -> None:
    """Delete the queue's stream, its backend's bucket and dead letters; create stream and consumer
    again as `runactors` does, so tasks can be enqueued with no worker running."""
    js = (await get_connection(2)).js
    queue = TaskQueue(alias, name)
    for stream in (queue.event.stream_name, f"KV_{backend(alias).store.bucket}"):
        with contextlib.suppress(NotFoundError):
            await js.delete_stream(stream)
    await deadletters.ensure_stream(js)
    await js.purge_stream(
        deadletters.STREAM, subject=f"{deadletters.SUBJECT_PREFIX}.{queue.event.stream_name}.>"
    )
    await ensure_stream(js, queue.event)
    await ensure_consumer(js, queue_actor(queue))


def reset_queue(alias: str, name: str) -> None:
    run_sync(_reset_queue(alias, name))
    run_sync(close_connection())


@pytest.fixture(scope="module")
def task_worker(nats_server: NatsServer, start_worker: StartWorker) -> Iterator[WorkerProcess]:
    """Fresh "default" and "strict" queues; a worker for "default" only."""
    reset_queue("default", "default")
    reset_queue("strict", "strict")
    worker = start_worker("--queue", "default")
    yield worker
    worker.stop()

    async def purge() -> None:  # no run_after task of this module is left for later modules
        await (await get_connection(2)).js.purge_stream("tasks-default")

    run_sync(purge())
    run_sync(close_connection())


@pytest.fixture
def empty_strict(task_worker: WorkerProcess) -> None:
    """The "strict" queue, its results and its dead letters emptied (it has no worker)."""
    reset_queue("strict", "strict")


@pytest.fixture
def fresh_connection() -> Iterator[None]:
    """Close the shared sync-side connection so the test's WALNATS settings take effect."""
    run_sync(close_connection())
    yield
    run_sync(close_connection())


def queue_row(content: str, name: str) -> str:
    match = re.search(rf'<tr class="queue" data-queue="{re.escape(name)}">(.*?)</tr>', content, re.S)
    assert match, f"no row for queue {name!r}"
    return match.group(1)


def result_row(content: str, result_id: str) -> str:
    """The result's row and, when it has errors, the row of its errors below it."""
    rows = re.findall(
        rf'<tr class="result[^"]*" data-result="{re.escape(result_id)}"[^>]*>(.*?)</tr>', content, re.S
    )
    assert rows, f"no row for result {result_id!r}"
    return "\n".join(rows)


def result_ids(content: str) -> list[str]:
    return re.findall(r'<tr class="result" data-result="([^"]+)"', content)


def number(html: str, css_class: str) -> int:
    match = re.search(rf'class="[^"]*\b{css_class}\b[^"]*"[^>]*>\s*(\d+)\s*<', html)
    assert match, f"no {css_class} number in {html!r}"
    return int(match.group(1))


def page(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response
    return response.content.decode()


# -- Task queues --------------------------------------------------------------------------------


@pytest.mark.usefixtures("empty_strict")
def test_backlog_is_what_was_enqueued_with_no_worker(admin_client: Client, nats_server: NatsServer) -> None:
    for seconds in (0.1, 0.2, 0.3):
        sleeps.enqueue(seconds)
    content = page(admin_client, QUEUES_URL)
    assert "Task queues" in content
    assert f"Live numbers from NATS at <code>{nats_server.url}</code>" in content
    strict = queue_row(content, "strict")
    assert "<code>tasks-strict</code> / <code>tasks-strict</code>" in strict
    assert number(strict, "num-pending") == 3
    assert number(strict, "num-ack-pending") == 0
    assert number(strict, "num-redelivered") == 0
    assert number(strict, "num-waiting") == 0, "no worker pulls from strict"
    assert number(strict, "dead-letters") == 0
    assert number(strict, "replicas") == 1
    assert f'href="{RESULTS_URL}?backend=strict&amp;queue=strict"' in strict
    section = content[content.index('id="backend-strict"') :]
    assert "<code>tasks-strict</code>:" in section
    assert number(section, "bucket-results") == 3
    assert "Retries: 0; Retry delay: 1, 5, 30 s; Job timeout: 0.5 s; Ack wait: 1 s" in section
    assert "Result TTL: 600 s" in section


@pytest.mark.usefixtures("task_worker")
def test_in_progress_counts_a_task_waiting_for_run_after(admin_client: Client) -> None:
    result = attempt_and_time.using(run_after=timezone.now() + datetime.timedelta(seconds=60)).enqueue(
        "later"
    )

    async def handed_to_the_worker() -> bool:
        # The only task of this module still in progress once earlier tests' acks have landed.
        js = (await get_connection(2)).js
        info = await js.consumer_info("tasks-default", "tasks-default")
        return (info.num_pending, info.num_ack_pending) == (0, 1)

    run_sync(until(handed_to_the_worker, "the run_after task is in progress"))
    row = queue_row(page(admin_client, QUEUES_URL), "default")
    assert number(row, "num-ack-pending") == 1
    assert number(row, "num-pending") == 0
    content = page(admin_client, f"{RESULTS_URL}?status=READY&backend=default")
    waiting = result_row(content, result.id)
    assert "waits until" in waiting
    assert attempt_and_time.get_result(result.id).status == TaskResultStatus.READY


@pytest.mark.usefixtures("task_worker")
def test_a_queue_not_created_yet_says_so(admin_client: Client, settings: SettingsWrapper) -> None:
    settings.TASKS = {
        **settings.TASKS,
        "default": {**settings.TASKS["default"], "QUEUES": ["default", "admin-unborn"]},
    }
    content = page(admin_client, QUEUES_URL)
    assert NOT_CREATED in queue_row(content, "admin-unborn")
    assert "<code>tasks-admin-unborn</code>" in queue_row(content, "admin-unborn")
    assert NOT_CREATED not in queue_row(content, "default")


# -- Task results -------------------------------------------------------------------------------


@pytest.mark.usefixtures("task_worker")
def test_failed_result_shows_its_errors_escaped(admin_client: Client) -> None:
    result = always_fails.enqueue(XSS)
    wait_sync(result, timeout=15)
    assert result.status == TaskResultStatus.FAILED

    content = page(admin_client, f"{RESULTS_URL}?status=FAILED")
    row = result_row(content, result.id)
    assert "<code>tests.testapp.tasks.always_fails</code>" in row
    assert 'class="task-status status-FAILED">FAILED<' in row
    assert number(row, "attempts") == 3, "RETRIES 2: three attempts"
    assert row.count('<code class="exception-class">builtins.RuntimeError</code>') == 3
    assert row.count("<details>") == 3, "each traceback collapsed"
    assert row.count(f'<span class="exception-message">{escape(f"always fails: {XSS}")}</span>') == 3
    assert escape(f"RuntimeError: always fails: {XSS}") in row, "the traceback's last line"
    assert "raise RuntimeError(f&quot;always fails: {note}&quot;)" in row, "the traceback's source line"
    assert XSS not in content
    assert f'href="{detail_url("default", result.id)}"' in row

    detail = page(admin_client, detail_url("default", result.id))
    assert XSS not in detail
    assert escape(f'[\n  "{XSS}"\n]') in detail, "the arguments as JSON"
    assert detail.count('<li class="task-error">') == 3
    assert detail.count("<details open>") == 1, "the last error open"
    for worker_id in result.worker_ids:
        assert f"<code>{escape(worker_id)}</code>" in detail
    assert "none (FAILED)" in detail, "no return value"

    # The dead letter follows the stored FAILED: wait for it, then the page counts what is there.
    letters = run_sync(until(lambda: _dead_letters("tasks-default", result.id), "the dead letter"))
    queues = page(admin_client, QUEUES_URL)
    assert number(queue_row(queues, "default"), "dead-letters") == letters


async def _dead_letters(actor: str, result_id: str) -> int:
    """How many dead letters `actor` has, once one of them is `result_id`'s (else 0)."""
    js = (await get_connection(2)).js
    letters = await deadletters.list_all(js, actor=actor)
    return len(letters) if any(TaskRecord.decode(d.payload).id == result_id for d in letters) else 0


@pytest.mark.usefixtures("empty_strict")
def test_results_filter_by_status_backend_and_queue(admin_client: Client) -> None:
    done = add.enqueue(2, 3)
    failed = always_fails.enqueue("filters")
    ready = sleeps.enqueue(1.0)  # strict has no worker
    wait_sync(done, timeout=15)
    wait_sync(failed, timeout=15)
    running = _store_running("default")

    def shown(query: str) -> set[str]:
        return set(result_ids(page(admin_client, RESULTS_URL + query))) & {
            done.id,
            failed.id,
            ready.id,
            running,
        }

    assert shown("") == {done.id, failed.id, ready.id, running}
    assert shown("?status=SUCCESSFUL") == {done.id}
    assert shown("?status=FAILED") == {failed.id}
    assert shown("?status=READY") == {ready.id}
    assert shown("?status=RUNNING") == {running}
    assert shown("?backend=strict") == {ready.id}
    assert shown("?backend=default") == {done.id, failed.id, running}
    assert shown("?backend=default&queue=strict") == set()
    assert shown("?queue=strict&status=READY") == {ready.id}

    content = page(admin_client, f"{RESULTS_URL}?status=SUCCESSFUL&backend=default")
    assert '<li><a href="?backend=default">All</a></li>' in content, "status: all, keeping the backend"
    assert '<li class="selected"><a href="?backend=default&amp;status=SUCCESSFUL">default</a></li>' in content
    assert (
        '<li class="selected"><a href="?backend=default&amp;status=SUCCESSFUL">SUCCESSFUL</a></li>' in content
    )
    assert 'href="?">&#10006; Clear all filters' in content
    ids = result_ids(page(admin_client, RESULTS_URL + "?backend=default"))
    assert ids.index(running) < ids.index(failed.id), "newest change first"

    bad = page(admin_client, f"{RESULTS_URL}?status={XSS}")
    assert escape(f"Unknown status {XSS!r} ignored") in bad
    assert XSS not in bad
    assert {done.id, ready.id} <= set(result_ids(bad))


def _store_running(alias: str) -> str:
    """A result RUNNING on a made-up worker, written to the bucket as a worker would."""
    record = TaskRecord(
        id=f"running{time.time_ns()}",
        task="tests.testapp.tasks.add",
        backend=alias,
        queue="default",
        args=[1, 1],
        kwargs={},
        enqueued_at=timezone.now(),
    ).started("admin-test-worker", timezone.now())
    assert run_sync(backend(alias).store.write(record, 0)) is not None
    return record.id


@pytest.mark.usefixtures("task_worker")
def test_detail_shows_every_field_of_a_successful_result(admin_client: Client) -> None:
    result = add.enqueue(20, b=22)
    wait_sync(result, timeout=15)
    content = page(admin_client, detail_url("default", result.id))
    assert f"Result {result.id} of backend default" in content
    assert '<code class="task-path">tests.testapp.tasks.add</code>' in content
    assert 'class="task-status status-SUCCESSFUL">SUCCESSFUL<' in content
    assert '<pre class="args">[\n  20\n]</pre>' in content
    assert '<pre class="kwargs">{\n  &quot;b&quot;: 22\n}</pre>' in content
    assert '<pre class="return-value">42</pre>' in content
    assert f"<code>{escape(result.worker_ids[0])}</code>" in content
    assert result.finished_at is not None
    assert result.finished_at.strftime("%Y-%m-%d %H:%M:%S.%f") in content
    assert 'Errors</th><td><span class="missing">none</span>' in content


@pytest.mark.usefixtures("task_worker")
def test_unknown_results_are_404(admin_client: Client) -> None:
    add.enqueue(0, 0)  # the bucket exists
    assert admin_client.get(detail_url("default", "a" * 32)).status_code == 404
    assert admin_client.get(detail_url("nobackend", "a" * 32)).status_code == 404
    assert admin_client.get(detail_url("default", "no.such")).status_code == 404


@pytest.mark.usefixtures("task_worker")
def test_stored_values_that_are_not_records_are_shown_escaped(admin_client: Client) -> None:
    crafted = TaskRecord(
        id=f"crafted{time.time_ns()}",
        task=f"evil.{XSS}",
        backend="default",
        queue=XSS,
        args=[XSS],
        kwargs={XSS: XSS},
        status="FAILED",
        errors=(TaskError(exception_class_path=XSS, traceback=f"Traceback\n{XSS}\n"),),
        worker_ids=(XSS,),
    )
    assert run_sync(backend("default").store.write(crafted, 0)) is not None
    garbage = f"garbage{time.time_ns()}"
    run_sync(_put_raw("tasks-default", garbage, f"not a record {XSS}".encode()))

    content = page(admin_client, RESULTS_URL + "?backend=default")
    assert XSS not in content
    assert escape(f"evil.{XSS}") in result_row(content, crafted.id)
    assert "not a task record" in result_row(content, garbage)
    detail = page(admin_client, detail_url("default", crafted.id))
    assert XSS not in detail
    assert escape(XSS) in detail
    assert "not a task record" in page(admin_client, detail_url("default", garbage))


async def _put_raw(bucket: str, key: str, value: bytes) -> None:
    js = (await get_connection(2)).js
    await js.publish(f"$KV.{bucket}.{key}", value)


def test_the_list_looks_at_a_bounded_number_of_results(
    admin_client: Client, task_worker: WorkerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    for result in [add.enqueue(n, 0) for n in range(8)]:
        wait_sync(result, timeout=15)
    newest = _store_running("default")
    monkeypatch.setattr(TaskResultAdmin, "results_scanned", 5)
    monkeypatch.setattr(TaskResultAdmin, "results_shown", 3)
    content = page(admin_client, RESULTS_URL + "?backend=default")
    total = run_sync(_messages("KV_tasks-default"))
    assert f"the 5 results that changed last, of {total}, looked through" in content
    assert len(result_ids(content)) == 3
    assert result_ids(content)[0] == newest
    assert "3 results shown" in content


async def _messages(stream: str) -> int:
    js = (await get_connection(2)).js
    return (await js.stream_info(stream)).state.messages


async def test_recent_results_reads_only_the_newest_of_a_large_bucket(nats_server: NatsServer) -> None:
    """3,000 results, each written twice: the newest 200 are looked at, 32 values read for a page of 20."""
    store = ResultStore("admin-bulk", ttl=None)
    await store.ensure()
    js = (await get_connection(2)).js
    try:
        for start in range(0, 3000, 500):
            acks = [
                js.publish(f"$KV.admin-bulk.r{i:05d}", _record(i, "FAILED" if i % 10 == 0 else "SUCCESSFUL"))
                for i in range(start, start + 500)
                for _ in range(2)
            ]
            for ack in acks:
                await ack
        found = await recent_results(js, "bulk", "admin-bulk", scan=200, limit=20, max_bytes=1 << 20)
        assert found is not None
        assert (found.total, found.scanned, found.read, len(found.found)) == (3000, 200, 32, 20)
        assert not found.complete
        assert [r.entry.key for r in found.found] == [f"r{i:05d}" for i in range(2999, 2979, -1)]

        failed = await recent_results(
            js,
            "bulk",
            "admin-bulk",
            scan=200,
            limit=20,
            max_bytes=1 << 20,
            keep=lambda r: r.status == "FAILED",
        )
        assert failed is not None
        assert [r.entry.key for r in failed.found] == [f"r{i:05d}" for i in range(2990, 2799, -10)]
        assert failed.read == 200, "every scanned value read, no more"

        small = await recent_results(js, "bulk", "admin-bulk", scan=200, limit=20, max_bytes=1000)
        assert small is not None
        assert small.out_of_bytes
        assert small.bytes_read <= 1000
        assert 0 < len(small.found) < 20
        assert (await js.stream_info("KV_admin-bulk")).state.consumer_count == 0, "scan consumers deleted"
        assert await recent_results(js, "bulk", "admin-nothing", scan=10, limit=10, max_bytes=1000) is None
    finally:
        await js.delete_stream("KV_admin-bulk")


def _record(i: int, status: str) -> bytes:
    return TaskRecord(
        id=f"r{i:05d}",
        task="tests.testapp.tasks.add",
        backend="bulk",
        queue="default",
        args=[i],
        kwargs={},
        status=status,
    ).encode()


def test_error_rows_keep_the_end_of_long_tracebacks() -> None:
    error = TaskError(
        exception_class_path="builtins.ValueError", traceback="x" * 5000 + "\nValueError: bad\n"
    )
    short = error_row(error, 100)
    assert short.hidden == len(error.traceback) - 100
    assert short.traceback.endswith("ValueError: bad\n")
    assert short.message == "bad"
    assert error_row(error, None).traceback == error.traceback
    for class_path, last_line, message in (
        ("builtins.ValueError", "ValueError", ""),
        (
            "walnats_django.tasks.errors.TaskTimeout",
            "walnats_django.tasks.errors.TaskTimeout: took 1s",
            "took 1s",
        ),
        ("builtins.KeyError", "KeyError: 'x'", "'x'"),
        ("builtins.ValueError", "SomethingElse: chained", "SomethingElse: chained"),
    ):
        found = error_row(
            TaskError(exception_class_path=class_path, traceback=f"Traceback\n{last_line}\n"), None
        )
        assert found.message == message
    assert error_row(error, None).traceback == error.traceback


# -- NATS down, access ------------------------------------------------------------------------------


@pytest.mark.usefixtures("fresh_connection")
def test_nats_down_renders_quickly_and_says_so(admin_client: Client, settings: SettingsWrapper) -> None:
    port = free_port()  # nothing listens there
    settings.WALNATS = {"SERVERS": [f"nats://alice:s3cr3t-pw@127.0.0.1:{port}"]}
    for url in (QUEUES_URL, RESULTS_URL, detail_url("default", "a" * 32)):
        started = time.monotonic()
        content = page(admin_client, url)
        assert time.monotonic() - started < 3
        assert "NATS is unreachable" in content
        assert "s3cr3t-pw" not in content
        assert NOT_CREATED not in content
    content = page(admin_client, QUEUES_URL)
    assert f"<code>nats://***@127.0.0.1:{port}</code>" in content
    assert 'colspan="6" class="missing">unknown<' in queue_row(content, "default")
    assert "Unknown: no live numbers." in page(admin_client, RESULTS_URL)


@pytest.mark.usefixtures("fresh_connection")
def test_jetstream_disabled_says_so(admin_client: Client, settings: SettingsWrapper) -> None:
    with NatsServer(jetstream=False) as plain:
        settings.WALNATS = {"SERVERS": [plain.url]}
        for url in (QUEUES_URL, RESULTS_URL):
            content = page(admin_client, url)
            assert "JetStream did not answer" in content
            assert "start it with `nats-server -js`" in content


def test_anonymous_and_non_staff_are_sent_to_login(client: Client, django_user_model: type[User]) -> None:
    login = reverse("admin:login") + "?next="
    urls = (QUEUES_URL, RESULTS_URL, detail_url("default", "a" * 32))
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(login)
    client.force_login(django_user_model.objects.create_user("plain", password="pw"))
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(login)


@pytest.mark.usefixtures("fresh_connection")
def test_pages_are_get_only_and_have_no_object_views(admin_client: Client, settings: SettingsWrapper) -> None:
    settings.WALNATS = {"SERVERS": [f"nats://127.0.0.1:{free_port()}"]}
    for url in (QUEUES_URL, RESULTS_URL, detail_url("default", "a" * 32)):
        assert admin_client.post(url).status_code == 405, url
    for suffix in ("add/", "1/change/", "1/delete/", "1/history/"):
        assert admin_client.get(QUEUES_URL + suffix).status_code == 404, suffix
        assert admin_client.get(RESULTS_URL + suffix).status_code == 404, suffix


@pytest.mark.usefixtures("fresh_connection")
def test_staff_sees_the_pages_in_the_index_only_with_a_walnats_backend(
    client: Client, django_user_model: type[User], settings: SettingsWrapper
) -> None:
    settings.WALNATS = {"SERVERS": [f"nats://127.0.0.1:{free_port()}"]}
    client.force_login(django_user_model.objects.create_user("staff", password="pw", is_staff=True))
    index = page(client, "/admin/")
    assert f'href="{QUEUES_URL}"' in index
    assert f'href="{RESULTS_URL}"' in index
    assert "Task queues" in index
    assert "Task results" in index
    assert f'href="{QUEUES_URL}add/"' not in index

    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    index = page(client, "/admin/")
    assert f'href="{QUEUES_URL}"' not in index
    assert f'href="{RESULTS_URL}"' not in index
    assert "No task backend is <code>walnats_django.tasks.WalnatsBackend</code>" in page(client, QUEUES_URL)


def test_url_names() -> None:
    assert reverse("admin:walnats_django_taskqueue_changelist") == QUEUES_URL
    assert reverse("admin:walnats_django_taskresult_changelist") == RESULTS_URL
    assert reverse("admin:walnats_django_taskresult_detail", args=["default", "abc"]) == detail_url(
        "default", "abc"
    )


def test_without_django_tasks_the_admin_has_only_registered_events_and_dead_letters() -> None:
    """A project without the Tasks framework (django-tasks not installed) loads the admin as before."""
    code = """
import sys
sys.modules["django_tasks"] = None  # as if not installed: importing it raises ModuleNotFoundError
from django.conf import settings
settings.configure(
    INSTALLED_APPS=["django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes",
                    "django.contrib.sessions", "django.contrib.messages", "walnats_django"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
)
import django
django.setup()
from django.contrib import admin
print(sorted(m._meta.model_name for m in admin.site._registry if m._meta.app_label == "walnats_django"))
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['deadletter', 'registeredevent']"
