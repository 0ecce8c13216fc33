"""The walnats admin in a real browser (Chromium via Playwright) at 1,280 px: login, the overview,
an event's page, a dead letter replayed and handled, the test-message form, and the task pages.

Everything real: pytest-django's live server, the session's nats-server, a `runactors` worker
hosting the admin app's actors (tests/adminapp) and one running the "default" task queue.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio
from django.contrib.auth.models import User
from django_tasks import TaskResultStatus
from nats.js.errors import NotFoundError

import walnats_django
from tests.adminapp import bus
from tests.adminapp.fixtures import admin_bus, admin_worker  # noqa: F401
from tests.helpers import DEAD_LETTER_LINE, StartWorker, WorkerProcess, await_line, unique, wait_lines
from tests.testapp.tasks import add, always_fails
from walnats_django.client import get_connection
from walnats_django.jetstream import consumer_config
from walnats_django.tasks import wait

from .conftest import PASSWORD, Shoot

if TYPE_CHECKING:
    from playwright.async_api import Page
    from pytest_django.live_server_helper import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("admin_bus", "admin_worker")]

OVERVIEW = "/admin/walnats_django/registeredevent/"
DEAD_LETTERS = "/admin/walnats_django/deadletter/"
SEND = "/admin/walnats_django/registeredevent/send/"
TASK_QUEUES = "/admin/walnats_django/taskqueue/"
ORPHAN = "admin-keep-renamed"


async def log_in(page: Page, live_server: LiveServer, user: User, path: str) -> None:
    """Open `path`, get sent to the login form, log in, land on `path`."""
    await page.goto(live_server.url + path)
    assert "/admin/login/" in page.url
    await page.fill("#id_username", user.get_username())
    await page.fill("#id_password", PASSWORD)
    await page.click("input[type=submit]")
    await page.wait_for_url(re.compile(re.escape(path) + "$"))


@pytest_asyncio.fixture
async def orphan() -> AsyncIterator[None]:
    """A consumer made by hand on LIMITED's stream, as a renamed actor leaves behind."""
    conn = await get_connection(2)
    config = consumer_config(bus.KEEP_ACTOR).evolve(durable_name=ORPHAN)
    await conn.js.add_consumer(bus.LIMITED.stream_name, config)
    yield
    conn = await get_connection(2)
    with contextlib.suppress(NotFoundError):
        await conn.js.delete_consumer(bus.LIMITED.stream_name, ORPHAN)


@pytest.fixture(scope="module")
def task_worker(start_worker: StartWorker) -> Iterator[WorkerProcess]:
    """A `runactors` worker running the "default" task queue (its stream exists once it started)."""
    worker = start_worker("--queue", "default")
    yield worker
    worker.stop()


async def dead_letter(worker: WorkerProcess, record_dir: Path, text: str) -> int:
    """Emit `text` to JOB while its actor is switched off; the dead letter's sequence."""
    bus.broken_switch(record_dir).touch()
    since = worker.mark()
    await walnats_django.emit(bus.JOB, text, wait=True)
    line = await await_line(worker, "Dead letter recorded actor=admin-job", since=since)
    match = DEAD_LETTER_LINE.search(line)
    assert match, line
    return int(match["dl"])


@pytest.mark.usefixtures("orphan")
async def test_login_and_the_overview(
    page: Page,
    live_server: LiveServer,
    superuser: User,
    shoot: Shoot,
    admin_worker: WorkerProcess,  # noqa: F811
    record_dir: Path,
) -> None:
    await dead_letter(admin_worker, record_dir, unique("overview"))
    await log_in(page, live_server, superuser, OVERVIEW)
    assert await page.locator("h1").inner_text() == "Registered events"
    assert "Live numbers from NATS" in await page.locator("#nats-status").inner_text()

    greet = page.locator('tr.event[data-event="test.admin-greet"]')
    assert "1 actor" in await greet.locator("td.actors").inner_text()
    assert "admin-greet" in await greet.inner_text()
    assert await greet.locator("td.backlog").inner_text() == "0"
    job = page.locator('tr.event[data-event="test.admin-job"]')
    assert int(await job.locator("td.dead-letters").inner_text()) >= 1
    limited = page.locator('tr.event[data-event="test.admin-limited"]')
    assert f"1 orphan consumer: {ORPHAN}" in await limited.locator(".orphan-flag").inner_text()
    assert "orphan consumer" in await page.locator("#orphan-warning").inner_text()
    await shoot(page, "overview")


async def test_an_event_page(page: Page, live_server: LiveServer, superuser: User, shoot: Shoot) -> None:
    await log_in(page, live_server, superuser, OVERVIEW)
    await page.click('tr.event[data-event="test.admin-greet"] a.event-link')
    await page.wait_for_url(re.compile(r"/event/test\.admin-greet/$"))
    assert await page.locator("h1").inner_text() == "test.admin-greet"
    subjects = page.locator('tr.setting[data-setting="Subjects"]')
    assert await subjects.locator(".code-value").inner_text() == "test.admin-greet"
    assert (await subjects.locator(".server-value").inner_text()).strip() == "test.admin-greet"
    actor = page.locator('#actors-live tr.actor[data-actor="admin-greet"]')
    assert await actor.locator(".num-pending").inner_text() == "0"
    assert int(await actor.locator(".num-waiting").inner_text()) >= 1, "the worker's pull waits for work"
    settings = page.locator('tr.actor-settings[data-actor="admin-greet"]')
    assert "tests.adminapp.bus.greet" in await settings.inner_text()
    await shoot(page, "event-detail")


async def test_a_dead_letter_is_replayed_and_handled(
    page: Page,
    live_server: LiveServer,
    superuser: User,
    shoot: Shoot,
    admin_worker: WorkerProcess,  # noqa: F811
    record_dir: Path,
) -> None:
    text = unique("replay-me")
    seq = await dead_letter(admin_worker, record_dir, text)
    await log_in(page, live_server, superuser, DEAD_LETTERS)
    await page.select_option('select[name="event"]', "test.admin-job")
    await page.click("#dead-letter-filters input[type=submit]")
    await page.wait_for_url(re.compile(r"\?event=test\.admin-job"))
    row = page.locator(f'tr.dead-letter[data-seq="{seq}"]')
    assert text in await row.locator(".letter-payload").inner_text()
    assert "RuntimeError" in await row.locator(".error-type").inner_text()
    assert "switched off" in await row.locator(".letter-error").inner_text()
    await shoot(page, "dead-letters")

    bus.broken_switch(record_dir).unlink()  # the actor works again
    await row.locator('input[name="seq"]').check()
    await page.select_option('select[name="action"]', "replay")
    await page.click("#dead-letter-actions button[type=submit]")
    assert await page.locator("h1").inner_text() == "Replay dead letters?"
    assert text in await page.locator("#confirm-letters").inner_text()
    await shoot(page, "dead-letters-confirm-replay")
    await page.click("#confirm")
    await page.wait_for_url(re.compile(re.escape(DEAD_LETTERS) + r"\?event=test\.admin-job"))
    assert "Replayed 1 dead letter." in await page.locator("ul.messagelist").first.inner_text()
    assert await page.locator(f'tr.dead-letter[data-seq="{seq}"]').count() == 0
    await wait_lines(record_dir / "admin-job", 1, keep=lambda line: line == text)


async def test_the_test_message_form(
    page: Page, live_server: LiveServer, superuser: User, shoot: Shoot
) -> None:
    await log_in(page, live_server, superuser, SEND)

    async def send(mode: str, payload: str) -> None:
        await page.select_option("#id_event", "test.admin-greet")
        await page.check(f'input[name="mode"][value="{mode}"]')
        await page.fill("#id_payload", payload)
        async with page.expect_navigation():
            await page.click("#send")

    await send("request", '"Ada"')
    assert await page.locator("#answer").inner_text() == '"Hello, Ada!"'
    summary = await page.locator("#outcome-summary").inner_text()
    assert re.fullmatch(r"Answered in [\d.]+ ms \(str\):", summary), summary
    await shoot(page, "send-test-message")

    await send("request", "42")
    assert "must be str, got int" in await page.locator(".field-payload .errorlist").inner_text()
    assert await page.locator("#outcome").count() == 0

    await send("request", '"boom"')
    assert await page.locator("#outcome .error-type").inner_text() == "RemoteError"
    assert "cannot greet 'boom'" in await page.locator("#error").inner_text()
    assert re.match(r"Failed after [\d.]+ ms", await page.locator("#outcome-summary").inner_text())
    await shoot(page, "send-test-message-error")


async def style(page: Page, selector: str, prop: str) -> str:
    """The computed `prop` of the first element matching `selector`."""
    value = await page.locator(selector).first.evaluate(f"e => getComputedStyle(e).{prop}")
    assert isinstance(value, str)
    return value


@pytest.mark.usefixtures("task_worker")
async def test_the_task_pages(page: Page, live_server: LiveServer, superuser: User, shoot: Shoot) -> None:
    done = await wait(await add.aenqueue(20, b=22), timeout=15)
    failed = await wait(await always_fails.aenqueue(unique("browser")), timeout=15)
    assert (done.status, failed.status) == (TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED)

    await log_in(page, live_server, superuser, TASK_QUEUES)
    assert await page.locator("h1").inner_text() == "Task queues"
    assert (await page.locator(".breadcrumbs").inner_text()).endswith("\u203a Task queues")
    assert "Live numbers from NATS" in await page.locator("#nats-status").inner_text()
    queue = page.locator('tr.queue[data-queue="default"]')
    assert await queue.locator(".num-pending").inner_text() == "0"
    assert int(await queue.locator(".num-waiting").inner_text()) >= 1, "the worker's pull waits for work"
    number = 'tr.queue[data-queue="default"] td.number'
    assert await style(page, number, "textAlign") == "right", "admin.css is applied"
    await shoot(page, "task-queues")

    await page.locator("#backend-default").get_by_role("link", name="recent results").click()
    await page.wait_for_url(re.compile(r"/taskresult/\?backend=default$"))
    assert await page.locator("h1").inner_text() == "Task results"
    row = page.locator(f'tr.result[data-result="{failed.id}"]')
    assert await row.locator(".task-status").inner_text() == "FAILED"
    errors = page.locator(f'tr.result-errors[data-result="{failed.id}"] li.task-error')
    assert await errors.count() == 3, "RETRIES 2: three attempts"
    assert await style(page, "#result_list", "tableLayout") == "fixed"
    assert await style(page, ".task-status.status-FAILED", "whiteSpace") == "nowrap"
    await shoot(page, "task-results")

    await row.locator("th a").click()
    await page.wait_for_url(re.compile(rf"/taskresult/default/{failed.id}/$"))
    assert await page.locator("h1").inner_text() == f"Task result {failed.id}"
    crumbs = await page.locator(".breadcrumbs").inner_text()
    assert crumbs.endswith(f"\u203a Task results \u203a {failed.id}"), crumbs
    assert await page.locator(".task-errors details[open]").count() == 1, "the last error open"
    assert await style(page, ".walnats-result pre.traceback", "maxHeight") == "512px"
    await shoot(page, "task-result")
