"""The admin's "Dead letters": newest first with filters, escaped payloads, a page per letter, and
replay and purge behind a confirmation page and their own permissions, against a real nats-server
and a real worker (the replayed message is handled)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.admin.models import CHANGE, DELETION, LogEntry
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.utils.html import escape
from pytest_django.fixtures import Settings as SettingsWrapper

from tests.adminapp import bus
from tests.adminapp.fixtures import admin_bus, admin_worker  # noqa: F401
from tests.helpers import unique, wait_lines
from walnats_django import deadletters
from walnats_django.client import close_connection, get_connection
from walnats_django.errors import DeadLetterError
from walnats_django.sync import run_sync
from walnats_django.testing import free_port

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("admin_bus", "admin_worker")]

URL = "/admin/walnats_django/deadletter/"


async def _record(event: str, actor: str, stream: str, error: str, payload: bytes) -> int:
    conn = await get_connection(2)
    letter = deadletters.make(
        event=event,
        actor=actor,
        stream=stream,
        stream_seq=1,
        attempts=2,
        error=error,
        headers={"Walnats-Trace": "trace-1"},
        payload=payload,
        published_us=int(unique("").rsplit("-", 1)[1], 16),  # a new Nats-Msg-Id each time
    )
    return await deadletters.record(conn.js, letter, conn.nc.max_payload)


def record(event: str, actor: str, stream: str, error: str, payload: bytes) -> int:
    return run_sync(_record(event, actor, stream, error, payload))


async def _exists(seq: int) -> bool:
    conn = await get_connection(2)
    try:
        await deadletters.get(conn.js, seq)
    except DeadLetterError:
        return False
    return True


def exists(seq: int) -> bool:
    return run_sync(_exists(seq))


@pytest.fixture
def letters() -> Iterator[dict[str, int]]:
    """Three dead letters of the admin app's events, and none other of theirs."""

    async def prepare() -> None:
        await close_connection()
        conn = await get_connection(2)
        await deadletters.ensure_stream(conn.js)
        for event in bus.EVENTS:
            await deadletters.purge(conn.js, event=event.name)

    run_sync(prepare())
    job = bus.JOB
    found = {
        "script": record(
            job.name, "admin-job", job.stream_name, "ValueError: bad <b>", b'"<script>alert(1)</script>"'
        ),
        "binary": record(
            bus.GREET.name, "admin-greet", bus.GREET.stream_name, "TypeError: no", b"\xff\x00\x01"
        ),
        "json": record(job.name, "admin-job", job.stream_name, "KeyError: 'a'", b'{"a":1,"b":[2,3]}'),
    }
    yield found
    run_sync(close_connection())


def rows(content: str) -> list[int]:
    return [int(seq) for seq in re.findall(r'<tr class="dead-letter" data-seq="(\d+)"', content)]


def staff(django_user_model: type[User], *codenames: str) -> Client:
    user = django_user_model.objects.create_user(unique("staff"), is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


def test_newest_first_filtered_and_escaped(admin_client: Client, letters: dict[str, int]) -> None:
    content = admin_client.get(URL + "?event=test.admin-job").content.decode()
    assert rows(content) == [letters["json"], letters["script"]]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content
    assert "<script>alert" not in content
    assert "bad &lt;b&gt;" in content
    assert '<option value="KeyError">' in content
    assert '<option value="ValueError">' in content

    only = admin_client.get(URL + "?event=test.admin-job&error=KeyError").content.decode()
    assert rows(only) == [letters["json"]]
    assert '<option value="ValueError">' in only, (
        "the error choices come from the letters without that filter"
    )
    by_actor = admin_client.get(URL + "?actor=admin-greet").content.decode()
    assert rows(by_actor) == [letters["binary"]]
    assert "binary (base64)" in by_actor
    assert "/wAB" in by_actor  # b"\xff\x00\x01" in base64
    none = admin_client.get(URL + "?event=test.admin-limited").content.decode()
    assert "No dead letters match these filters." in none


def test_a_letter_has_its_page(admin_client: Client, letters: dict[str, int]) -> None:
    content = admin_client.get(f"{URL}{letters['json']}/").content.decode()
    assert escape('"b": [\n    2,\n    3\n  ]') in content  # pretty JSON
    assert "Walnats-Trace: trace-1" in content
    assert "; decodes as the event's payload" not in content  # a dict is not a str
    assert "does not decode as the event's payload: the payload must be str, got dict" in content
    assert 'value="replay"' in content
    assert admin_client.get(f"{URL}999999999/").status_code == 404


def test_replay_asks_first_then_the_worker_handles_it(
    admin_client: Client, letters: dict[str, int], record_dir: Path
) -> None:
    seq = letters["script"]
    confirm = admin_client.post(
        URL, {"action": "replay", "seq": [seq], "return_query": "event=test.admin-job"}
    )
    assert confirm.status_code == 200
    page = confirm.content.decode()
    assert "Replay this dead letter?" in page
    assert 'name="post" value="yes"' in page
    assert exists(seq), "nothing happens before the confirmation"

    done = admin_client.post(
        URL, {"action": "replay", "seq": [seq], "post": "yes", "return_query": "event=test.admin-job"}
    )
    assert done.status_code == 302
    assert done["Location"] == URL + "?event=test.admin-job"
    assert not exists(seq)
    run_sync(wait_lines(record_dir / "admin-job", 1, keep=lambda line: line == "<script>alert(1)</script>"))
    entry = LogEntry.objects.get(object_id=str(seq))
    assert entry.action_flag == CHANGE
    assert "Replayed dead letter" in entry.change_message
    messages = admin_client.get(done["Location"]).content.decode()
    assert "Replayed 1 dead letter." in messages


def test_purge_asks_first(admin_client: Client, letters: dict[str, int]) -> None:
    seqs = [letters["json"], letters["binary"]]
    confirm = admin_client.post(URL, {"action": "purge", "seq": seqs})
    assert "Purge these 2 dead letters?" in confirm.content.decode()
    assert all(exists(seq) for seq in seqs)
    done = admin_client.post(URL, {"action": "purge", "seq": seqs, "post": "yes"})
    assert done.status_code == 302
    assert not any(exists(seq) for seq in seqs)
    assert exists(letters["script"])
    assert set(LogEntry.objects.filter(action_flag=DELETION).values_list("object_id", flat=True)) >= {
        str(s) for s in seqs
    }


def test_each_action_needs_its_permission(django_user_model: type[User], letters: dict[str, int]) -> None:
    seq = letters["json"]
    nobody = staff(django_user_model)
    assert nobody.get(URL).status_code == 403
    assert nobody.get(f"{URL}{seq}/").status_code == 403

    viewer = staff(django_user_model, "view_deadletter")
    content = viewer.get(URL).content.decode()
    assert rows(content)
    assert 'name="seq"' not in content  # no checkboxes without an action
    assert viewer.post(URL, {"action": "replay", "seq": [seq], "post": "yes"}).status_code == 403
    assert viewer.post(URL, {"action": "purge", "seq": [seq], "post": "yes"}).status_code == 403

    replayer = staff(django_user_model, "view_deadletter", "replay_deadletter")
    content = replayer.get(URL).content.decode()
    assert 'value="replay"' in content
    assert 'value="purge"' not in content
    assert replayer.post(URL, {"action": "purge", "seq": [seq], "post": "yes"}).status_code == 403
    assert exists(seq)


def test_without_nats_the_page_says_so(admin_client: Client, settings: SettingsWrapper) -> None:
    run_sync(close_connection())
    settings.WALNATS = {"SERVERS": [f"nats://127.0.0.1:{free_port()}"]}
    try:
        response = admin_client.get(URL)
        content = response.content.decode()
        assert response.status_code == 200
        assert "NATS is unreachable" in content
        assert "Dead letters cannot be listed without NATS." in content
        refused = admin_client.post(URL, {"action": "purge", "seq": ["1"], "post": "yes"}, follow=True)
        assert "Nothing was done: " in refused.content.decode()
    finally:
        run_sync(close_connection())


async def test_pages_and_counts() -> None:
    conn = await get_connection(2)
    await deadletters.ensure_stream(conn.js)
    actor = unique("pager")
    seqs = [await _record("test.pager", actor, "test-pager", f"E{i}: x", b"1") for i in range(5)]
    first = await deadletters.newest(conn.js, actor=actor, limit=2)
    assert [letter.seq for letter in first.letters] == seqs[:2:-1][:2]
    assert first.older == seqs[3]
    second = await deadletters.newest(conn.js, actor=actor, limit=2, before=first.older)
    assert [letter.seq for letter in second.letters] == [seqs[2], seqs[1]]
    assert (await deadletters.newest(conn.js, actor=actor, error_type="E0")).letters[0].seq == seqs[0]
    bounded = await deadletters.newest(conn.js, actor=actor, limit=50, scan=3)
    assert [letter.seq for letter in bounded.letters] == seqs[:1:-1]
    assert (await deadletters.counts(conn.js))[("test-pager", actor)] == 5
    await deadletters.purge(conn.js, actor=actor)
    assert ("test-pager", actor) not in await deadletters.counts(conn.js)
