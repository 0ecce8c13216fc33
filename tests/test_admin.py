"""The admin's "Registered events" page against a real nats-server (or none at all)."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils.html import escape
from nats.js.errors import NotFoundError
from pytest_django.fixtures import Settings as SettingsWrapper

import walnats_django
from walnats_django import Actor, Event, Limits, registry
from walnats_django.admin import NOT_CREATED, scrub
from walnats_django.admin.drift import APPLIED_AT_START, SERVER_ONLY
from walnats_django.client import close_connection, get_connection
from walnats_django.introspection import ConsumerStats, StreamStats, consumer_stats, stream_stats
from walnats_django.jetstream import consumer_config, ensure_consumer, ensure_stream, stream_config
from walnats_django.servers import redact
from walnats_django.sync import run_sync
from walnats_django.testing import NatsServer, free_port

pytestmark = pytest.mark.django_db

URL = "/admin/walnats_django/registeredevent/"


def handle_stats(text: str) -> None:
    """Never runs: no worker hosts the admin test actors."""


def handle_unborn(number: int) -> str:
    """Never runs."""
    return str(number)


def handle_half(text: str) -> None:
    """Never runs."""


# Registered only while a test runs (fixture `admin_events`); no runactors process knows them,
# so their consumers get no worker and the numbers stay exactly what the tests make them.
STATS: Event[str, None] = Event("test.admin-stats", str, description="Admin test: a stream with a consumer.")
STATS_ACTOR = Actor(
    "admin-stats",
    STATS,
    handle_stats,
    description="Counts nothing.",
    ack_wait=3,
    max_attempts=7,
    max_ack_pending=50,
    max_jobs=4,
    job_timeout=9,
    retry_delay=(0.25, 1),
)
UNBORN: Event[int, str] = Event(
    "test.admin-unborn", int, limits=Limits(age=2 * 86400, messages=10)
).with_response(str)
UNBORN_ACTOR = Actor("admin-unborn", UNBORN, handle_unborn)
HALF: Event[str, None] = Event("test.admin-half", str)
HALF_ACTOR = Actor("admin-half", HALF, handle_half)
ADMIN_ITEMS: tuple[Event[Any, Any] | Actor[Any, Any], ...] = (
    STATS,
    STATS_ACTOR,
    UNBORN,
    UNBORN_ACTOR,
    HALF,
    HALF_ACTOR,
)


@pytest.fixture
def admin_events() -> Iterator[None]:
    for item in ADMIN_ITEMS:
        registry.add(item)
    yield
    for item in ADMIN_ITEMS:
        registry.remove(item)


@pytest.fixture
def fresh_connection() -> Iterator[None]:
    """Close the shared sync-side connection so the test's WALNATS settings take effect."""
    run_sync(close_connection())
    yield
    run_sync(close_connection())


async def _delete_stream(name: str) -> None:
    conn = await get_connection(2)
    with contextlib.suppress(NotFoundError):
        await conn.js.delete_stream(name)


@pytest.fixture
def jetstream_state(nats_server: NatsServer, fresh_connection: None, admin_events: None) -> Iterator[None]:
    """STATS: stream + consumer + 2 unhandled messages; HALF: stream only; UNBORN: nothing."""

    async def prepare() -> None:
        for event in (STATS, UNBORN, HALF):
            await _delete_stream(event.stream_name)
        conn = await get_connection(2)
        await ensure_stream(conn.js, STATS)
        await ensure_consumer(conn.js, STATS_ACTOR)
        await ensure_stream(conn.js, HALF)
        # wait=True: returns once JetStream stored the message, so the counts are settled.
        await walnats_django.emit(STATS, "one", wait=True)
        await walnats_django.emit(STATS, "two", wait=True)

    async def clean() -> None:
        for event in (STATS, HALF):
            await _delete_stream(event.stream_name)

    run_sync(prepare())
    yield
    run_sync(clean())


def event_row(content: str, event: Event[Any, Any]) -> str:
    """The overview's row of `event`."""
    match = re.search(
        rf'<tr class="event" data-event="{re.escape(event.name)}"[^>]*>(.*?)</tr>', content, re.S
    )
    assert match, f"no row for event {event.name!r}"
    return match.group(1)


def actor_row(content: str, name: str, css_class: str = "actor") -> str:
    match = re.search(rf'<tr class="{css_class}" data-actor="{re.escape(name)}">(.*?)</tr>', content, re.S)
    assert match, f"no {css_class} row for actor {name!r}"
    return match.group(1)


def setting_row(content: str, label: str) -> str:
    match = re.search(
        rf'<tr class="setting[^"]*" data-setting="{re.escape(label)}">(.*?)</tr>', content, re.S
    )
    assert match, f"no setting {label!r}"
    return match.group(0)


def number(html: str, css_class: str) -> int:
    match = re.search(rf'class="[^"]*\b{css_class}\b[^"]*"[^>]*>\s*(?:<a [^>]*>)?(\d+)\s*<', html)
    assert match, f"no {css_class} number in {html!r}"
    return int(match.group(1))


def detail_url(event: Event[Any, Any]) -> str:
    return f"{URL}event/{event.name}/"


def test_url_is_the_model_changelist() -> None:
    assert reverse("admin:walnats_django_registeredevent_changelist") == URL
    assert reverse("admin:walnats_django_registeredevent_detail", args=[STATS.name]) == detail_url(STATS)


@pytest.mark.usefixtures("jetstream_state")
def test_overview_has_a_row_per_event_with_live_sums(admin_client: Client, nats_server: NatsServer) -> None:
    response = admin_client.get(URL)
    assert response.status_code == 200
    content = response.content.decode()
    assert "Registered events" in content
    assert f"Live numbers from NATS at <code>{nats_server.url}</code>" in content
    assert "unreachable" not in content

    for event in registry.events:
        row = event_row(content, event)
        assert f'href="{escape(detail_url(event))}"' in row
        assert f"<code>{escape(event.subject)}</code>" in row
        for actor in registry.actors_for(event):
            assert f'data-actor="{escape(actor.name)}"' in row
    assert {a.name for a in registry.actors} <= set(re.findall(r'data-actor="([^"]+)"', content))

    stats = event_row(content, STATS)
    assert "Admin test: a stream with a consumer." in stats
    assert '<code title="str">str</code>' in stats
    assert "no answer" in stats
    assert '<span class="actor-count">1 actor</span>' in stats
    assert number(stats, "backlog") == 2
    assert number(stats, "in-progress") == 0
    assert number(stats, "redelivered") == 0
    assert number(stats, "dead-letters") == 0
    assert number(stats, "replicas") == 1
    assert "orphan" not in stats

    unborn = event_row(content, UNBORN)
    assert '<code title="int">int</code> &rarr;' in unborn
    assert '<code title="str">str</code>' in unborn
    assert NOT_CREATED in unborn  # no stream: no numbers

    half = event_row(content, HALF)
    assert number(half, "backlog") == 0
    assert "(no consumer)" in half

    rows = {row.event.name: row for row in response.context["events"]}
    stream = rows[STATS.name].stream
    assert stream == StreamStats(
        messages=2, bytes=stream.bytes, consumers=1, storage="file", replicas=1, leader=stream.leader
    )
    assert stream.leader, "a single node leads its streams too"
    assert stream.followers == ()
    consumer = rows[STATS.name].actors[0].consumer
    assert consumer is not None
    assert consumer == ConsumerStats(2, 0, 0, 0, last_delivery=consumer.last_delivery)
    assert rows[UNBORN.name].stream is None


@pytest.mark.usefixtures("jetstream_state")
def test_event_page_shows_configuration_actors_and_live_numbers(admin_client: Client) -> None:
    response = admin_client.get(detail_url(STATS))
    assert response.status_code == 200
    content = response.content.decode()
    assert "Admin test: a stream with a consumer." in content
    assert "<code>test-admin-stats</code>" in content
    assert number(content, "stream-messages") == 2
    assert number(content, "stream-consumers") == 1
    assert "(1 actor)" in content
    assert "file</span> storage" in content
    assert number(content, "stream-replicas") == 1

    live = actor_row(content, "admin-stats")
    assert "Counts nothing." in live
    assert number(live, "num-pending") == 2
    assert number(live, "num-ack-pending") == 0
    assert number(live, "num-redelivered") == 0
    assert number(live, "num-waiting") == 0
    assert "never" in live  # nothing was delivered yet
    settings = actor_row(content, "admin-stats", "actor-settings")
    assert "tests.test_admin.handle_stats" in settings
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", settings, re.S)]
    assert cells == ["tests.test_admin.handle_stats", "3 s", "7", "50", "4", "9 s", "0.25, 1 s"]

    assert "Subjects" in setting_row(content, "Subjects")
    retention = setting_row(content, "Retention")
    assert retention.count("interest") == 2
    assert "drift" not in retention
    assert 'id="drift-warning"' not in content  # made as the code says: code and server agree
    assert "drift" not in actor_row(content, "admin-stats", "actor-settings")


@pytest.mark.usefixtures("fresh_connection", "admin_events", "nats_server")
def test_event_page_shows_drift_between_code_and_server(admin_client: Client) -> None:
    async def prepare() -> None:
        await _delete_stream(UNBORN.stream_name)
        conn = await get_connection(2)
        # Made by hand: messages=5 where the code says 10, max_bytes the code does not name.
        config = stream_config(UNBORN)
        config.max_msgs, config.max_bytes = 5, 4096
        await conn.js.add_stream(config)
        await conn.js.add_consumer(
            UNBORN.stream_name, consumer_config(UNBORN_ACTOR).evolve(ack_wait=30, max_ack_pending=7)
        )

    run_sync(prepare())
    try:
        content = admin_client.get(detail_url(UNBORN)).content.decode()
        overview = event_row(admin_client.get(URL).content.decode(), UNBORN)
    finally:
        run_sync(_delete_stream(UNBORN.stream_name))
    messages = setting_row(content, "Max messages")
    assert 'class="setting drift"' in messages
    assert '<td class="code-value">10</td>' in messages
    assert "5" in messages
    assert escape(APPLIED_AT_START) in messages
    max_bytes = setting_row(content, "Max bytes")
    assert 'class="setting server-only"' in max_bytes
    assert "unlimited" in max_bytes
    assert "4,096 bytes" in max_bytes
    assert escape(SERVER_ONLY) in max_bytes
    assert "172,800 s (2 days)" in setting_row(content, "Max age")
    assert 'class="setting"' in setting_row(content, "Max age")
    settings = actor_row(content, "admin-unborn", "actor-settings")
    assert "server: 30 s" in settings
    assert "server: 7" in settings
    assert "3 settings differ between the code and the server" in content
    assert "3 settings differ from the server" in overview


@pytest.mark.usefixtures("nats_server", "fresh_connection", "admin_events")
def test_connected_url_is_shown_without_credentials(
    admin_client: Client, nats_server: NatsServer, settings: SettingsWrapper
) -> None:
    # nats-server without auth accepts (and ignores) credentials, so the page is live.
    settings.WALNATS = {"SERVERS": [f"nats://page-user:pa%40ss-9z@127.0.0.1:{nats_server.port}"]}
    content = admin_client.get(URL).content.decode()
    assert f"Live numbers from NATS at <code>nats://***@127.0.0.1:{nats_server.port}</code>" in content
    assert "page-user" not in content
    assert "ss-9z" not in content
    assert "pa%40" not in content


@pytest.mark.usefixtures("fresh_connection", "admin_events")
def test_nats_down_renders_quickly_and_says_so(admin_client: Client, settings: SettingsWrapper) -> None:
    port = free_port()  # nothing listens there
    settings.WALNATS = {"SERVERS": [f"nats://alice:s3cr3t-pw@127.0.0.1:{port}"]}
    started = time.monotonic()
    response = admin_client.get(URL)
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert elapsed < 3
    content = response.content.decode()
    assert "NATS is unreachable" in content
    assert f"<code>nats://***@127.0.0.1:{port}</code>" in content
    assert "s3cr3t-pw" not in content
    assert "alice" not in content
    for event in registry.events:
        assert "unknown" in event_row(content, event)
    for actor in registry.actors:
        assert f'data-actor="{escape(actor.name)}"' in content
    assert NOT_CREATED not in content  # unknown, not "missing"
    assert "Live numbers from NATS" not in content
    detail = admin_client.get(detail_url(STATS))
    assert detail.status_code == 200
    page = detail.content.decode()
    assert "NATS is unreachable" in page
    assert "s3cr3t-pw" not in page
    assert '<td class="code-value">test.admin-stats</td>' in page  # the code's side is still shown
    assert NOT_CREATED not in page


@pytest.mark.usefixtures("fresh_connection")
def test_silent_server_is_bounded_by_the_timeout(admin_client: Client, settings: SettingsWrapper) -> None:
    with socket.socket() as silent:  # accepts TCP connections, never says INFO
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        settings.WALNATS = {"SERVERS": [f"nats://127.0.0.1:{silent.getsockname()[1]}"]}
        started = time.monotonic()
        response = admin_client.get(URL)
        elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert elapsed < 3
    assert "NATS is unreachable" in response.content.decode()


def test_anonymous_is_sent_to_login(client: Client) -> None:
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login") + "?next=")


@pytest.mark.usefixtures("admin_events")
def test_non_staff_user_is_sent_to_login(client: Client, django_user_model: type[User]) -> None:
    user = django_user_model.objects.create_user("plain", password="pw")
    client.force_login(user)
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login") + "?next=")
    assert STATS.name not in response.content.decode()


@pytest.mark.usefixtures("fresh_connection")
def test_any_staff_member_sees_the_page(
    client: Client, django_user_model: type[User], settings: SettingsWrapper
) -> None:
    settings.WALNATS = {"SERVERS": [f"nats://127.0.0.1:{free_port()}"]}
    user = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    client.force_login(user)
    assert client.get(URL).status_code == 200
    assert f'href="{URL}"' in client.get("/admin/").content.decode()


def test_each_action_has_its_own_permission() -> None:
    codenames = set(
        Permission.objects.filter(content_type__app_label="walnats_django").values_list("codename", flat=True)
    )
    assert codenames == {
        "view_registeredevent",
        "send_test_message",
        "delete_orphan_consumer",
        "view_deadletter",
        "replay_deadletter",
        "purge_deadletter",
    }


def test_admin_index_lists_the_page(admin_client: Client) -> None:
    content = admin_client.get("/admin/").content.decode()
    assert f'href="{URL}"' in content
    assert "Registered events" in content
    assert f'href="{URL}add/"' not in content
    app_index = admin_client.get("/admin/walnats_django/")
    assert app_index.status_code == 200
    assert f'href="{URL}"' in app_index.content.decode()


@pytest.mark.usefixtures("fresh_connection")
def test_page_is_get_only_and_has_no_object_views(admin_client: Client, settings: SettingsWrapper) -> None:
    settings.WALNATS = {"SERVERS": [f"nats://127.0.0.1:{free_port()}"]}
    assert admin_client.post(URL).status_code == 405
    assert admin_client.post(detail_url(STATS)).status_code == 405
    for suffix in ("add/", "1/change/", "1/delete/", "1/history/", "1/", "event/no.such-event/"):
        assert admin_client.get(URL + suffix).status_code == 404, suffix


def test_no_table_is_created_or_needed() -> None:
    tables = connection.introspection.table_names()
    assert "walnats_django_registeredevent" not in tables
    assert "walnats_django_deadletter" not in tables
    call_command("makemigrations", "walnats_django", check=True, dry_run=True, verbosity=0)


def test_worker_and_publisher_do_not_import_the_admin() -> None:
    forbidden = ("walnats_django.admin", "walnats_django.models", "django.contrib.admin", "project.example")
    code = (
        f"FORBIDDEN = {forbidden!r}\n"
        "import sys, walnats_django.worker, walnats_django.publisher, walnats_django.introspection\n"
        "bad = [m for m in sys.modules if m.startswith(FORBIDDEN)]\n"
        "assert not bad, bad\n"
    )
    subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        cwd=str(Path(__file__).parent.parent),
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"},
    )


def test_redaction() -> None:
    assert redact("nats://u:p@ss@host:4222") == "nats://***@host:4222"
    assert redact("tls://token@h:1, nats://h2:2") == "tls://***@h:1, nats://h2:2"
    assert redact("nats://host:4222/x@y") == "nats://host:4222/x@y"


def test_scrub_hides_configured_secrets(settings: SettingsWrapper) -> None:
    settings.WALNATS = {
        "SERVERS": ["nats://ann:pw%2Fx@h:1"],
        "CONNECT_OPTIONS": {"token": "tok-123", "user": "ann"},
    }
    text = scrub("auth failed for ann with pw/x and tok-123 at nats://ann:pw%2Fx@h:1")
    assert "ann" not in text
    assert "pw/x" not in text
    assert "tok-123" not in text
    assert "pw%2F" not in text


@pytest.mark.usefixtures("jetstream_state")
async def test_introspection_functions() -> None:
    conn = await get_connection(2)
    stream = await stream_stats(conn.js, STATS)
    assert stream is not None
    assert (stream.messages, stream.consumers) == (2, 1)
    consumer = await consumer_stats(conn.js, STATS_ACTOR)
    assert consumer == ConsumerStats(2, 0, 0, 0)
    assert consumer is not None
    assert consumer.last_delivery is None
    assert await stream_stats(conn.js, UNBORN) is None
    assert await consumer_stats(conn.js, UNBORN_ACTOR) is None
    assert await consumer_stats(conn.js, HALF_ACTOR) is None


@pytest.fixture(scope="module")
def plain_server() -> Iterator[NatsServer]:
    """A core NATS server without JetStream."""
    with NatsServer(jetstream=False) as server:
        yield server


@pytest.mark.usefixtures("fresh_connection", "admin_events")
def test_every_page_says_when_jetstream_is_off(
    admin_client: Client, plain_server: NatsServer, settings: SettingsWrapper
) -> None:
    settings.WALNATS = {"SERVERS": [plain_server.url]}
    pages = {
        URL: "unknown",
        detail_url(STATS): '<td class="code-value">test.admin-stats</td>',
        URL + "orphans/": "Orphan consumers cannot be listed without NATS.",
        "/admin/walnats_django/deadletter/": "Dead letters cannot be listed without NATS.",
        "/admin/walnats_django/deadletter/1/": "Dead letter 1 cannot be shown without NATS.",
        URL + "send/": "Send a test message",
    }
    for url, text in pages.items():
        response = admin_client.get(url)
        assert response.status_code == 200, url
        content = response.content.decode()
        assert text in content, url
        if not url.endswith("send/"):
            assert "JetStream did not answer, so no live numbers are shown" in content, url
            assert "runs without JetStream" in content, url
    with pytest.raises(CommandError, match="runs without JetStream; start it with `nats-server -js`"):
        call_command("orphans")
