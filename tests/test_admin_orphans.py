"""Orphan consumers: a consumer left by a renamed actor makes the event reject new messages once its
limits are reached (measured here with a real worker acking everything), the admin and
`manage.py orphans` flag it, and deleting it (after confirmation) lets the event accept messages again."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from django.contrib.admin.models import DELETION, LogEntry
from django.contrib.auth.models import Permission, User
from django.core.management import CommandError, call_command
from django.test import Client
from nats.js.api import AckPolicy, ConsumerConfig
from nats.js.errors import NotFoundError

import walnats_django
from tests.adminapp import bus
from tests.adminapp.fixtures import admin_bus, admin_worker  # noqa: F401
from tests.helpers import settled, until
from walnats_django import orphans
from walnats_django.client import close_connection, get_connection
from walnats_django.errors import PublishRejected
from walnats_django.jetstream import consumer_config
from walnats_django.sync import run_sync

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("admin_bus", "admin_worker")]

STREAM = bus.LIMITED.stream_name
OLD = "admin-keep-old"
"""What the live actor `admin-keep` was called before it was renamed."""
ORPHANS_URL = "/admin/walnats_django/registeredevent/orphans/"
OVERVIEW = "/admin/walnats_django/registeredevent/"


async def _consumers() -> set[str]:
    conn = await get_connection(2)
    return {info.name for info in await conn.js.consumers_info(STREAM)}


def consumers() -> set[str]:
    return run_sync(_consumers())


async def _messages() -> int:
    conn = await get_connection(2)
    return int((await conn.js.stream_info(STREAM)).state.messages)


@pytest.fixture
def renamed() -> Iterator[None]:
    """LIMITED's stream emptied, and a consumer by hand as the actor's old name left it behind."""

    async def prepare() -> None:
        await close_connection()
        conn = await get_connection(2)
        await conn.js.purge_stream(STREAM)
        await conn.js.add_consumer(STREAM, consumer_config(bus.KEEP_ACTOR).evolve(durable_name=OLD))

    async def clean() -> None:
        conn = await get_connection(2)
        with contextlib.suppress(NotFoundError):
            await conn.js.delete_consumer(STREAM, OLD)
        await conn.js.purge_stream(STREAM)
        await close_connection()

    run_sync(prepare())
    yield
    run_sync(clean())


@pytest.mark.usefixtures("renamed")
def test_an_orphan_makes_the_event_reject_messages_and_deleting_it_fixes_that(
    admin_client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    limit = bus.LIMITED.limits.messages
    assert limit == 20
    for number in range(limit):
        walnats_django.emit_sync(bus.LIMITED, number, wait=True)

    async def handled() -> None:
        conn = await get_connection(2)
        await settled(conn.js, STREAM, "admin-keep")

    run_sync(handled())  # the live actor acknowledged every message...
    assert run_sync(_messages()) == limit  # ...but the stream keeps them all for the orphan
    with pytest.raises(PublishRejected, match="maximum messages exceeded"):
        walnats_django.emit_sync(bus.LIMITED, limit, wait=True)

    overview = admin_client.get(OVERVIEW).content.decode()
    assert f"1 orphan consumer: <code>{OLD}</code>" in overview
    detail = admin_client.get(f"{OVERVIEW}event/{bus.LIMITED.name}/").content.decode()
    assert f'<tr class="orphan" data-consumer="{OLD}">' in detail
    assert "1 orphan consumer on this stream" in detail

    call_command("orphans")
    listing = capsys.readouterr().out
    assert f"event={bus.LIMITED.name} stream={STREAM} consumer={OLD} pending=20 ack_pending=0" in listing
    assert "1 orphan consumer(s). Delete them with `manage.py orphans --delete`." in listing
    assert OLD in consumers()

    call_command("orphans", "--delete", "--yes")
    assert f"Deleted consumer {OLD} of stream {STREAM}." in capsys.readouterr().out
    assert consumers() == {"admin-keep"}
    run_sync(until(lambda: _messages_is_zero(), "the stream drops what the live actor acknowledged"))
    walnats_django.emit_sync(bus.LIMITED, limit + 1, wait=True)  # accepted again


async def _messages_is_zero() -> bool:
    return await _messages() == 0


@pytest.mark.usefixtures("renamed")
def test_the_admin_deletes_an_orphan_after_confirmation(admin_client: Client) -> None:
    page = admin_client.get(ORPHANS_URL).content.decode()
    assert f'<tr class="orphan" data-consumer="{OLD}" data-stream="{STREAM}">' in page
    assert f'value="{STREAM}/{OLD}"' in page
    assert 'admin-keep"' not in page.split('id="orphans"')[1], "a registered actor's consumer is no orphan"

    confirm = admin_client.post(ORPHANS_URL, {"consumer": [f"{STREAM}/{OLD}"]})
    assert confirm.status_code == 200
    text = confirm.content.decode()
    assert "Delete this consumer?" in text
    assert "may belong to another service on the same NATS" in text
    assert OLD in consumers(), "nothing is deleted before the confirmation"

    forged = admin_client.post(ORPHANS_URL, {"consumer": [f"{STREAM}/admin-keep"], "post": "yes"})
    assert forged.status_code == 302
    assert "admin-keep" in consumers(), "only consumers that are orphans now can be deleted"

    done = admin_client.post(ORPHANS_URL, {"consumer": [f"{STREAM}/{OLD}"], "post": "yes"})
    assert done.status_code == 302
    assert consumers() == {"admin-keep"}
    entry = LogEntry.objects.get(object_id=f"{STREAM}/{OLD}")
    assert entry.action_flag == DELETION
    assert "Deleted orphan consumer admin-keep-old of event test.admin-limited" in entry.change_message
    assert "Deleted 1 orphan consumer." in admin_client.get(done["Location"]).content.decode()
    assert "No orphan consumers." in admin_client.get(ORPHANS_URL).content.decode()


@pytest.mark.usefixtures("renamed")
def test_deleting_needs_its_permission(django_user_model: type[User]) -> None:
    user = django_user_model.objects.create_user("ops", is_staff=True)
    client = Client()
    client.force_login(user)
    page = client.get(ORPHANS_URL).content.decode()
    assert f'data-consumer="{OLD}"' in page  # every staff member sees them
    assert 'name="consumer"' not in page
    assert client.post(ORPHANS_URL, {"consumer": [f"{STREAM}/{OLD}"], "post": "yes"}).status_code == 403
    assert OLD in consumers()
    user.user_permissions.add(Permission.objects.get(codename="delete_orphan_consumer"))
    client.force_login(django_user_model.objects.get(pk=user.pk))
    assert 'name="consumer"' in client.get(ORPHANS_URL).content.decode()


@pytest.mark.usefixtures("renamed")
def test_the_command_asks_before_deleting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("builtins.input", lambda prompt: "no")
    with pytest.raises(CommandError, match=r"Nothing deleted: not confirmed \(answer 'yes', or pass --yes\)"):
        call_command("orphans", "--delete")
    assert orphans.INTEROP_WARNING in capsys.readouterr().out
    assert OLD in consumers()

    def closed(prompt: str) -> str:
        raise EOFError

    monkeypatch.setattr("builtins.input", closed)
    with pytest.raises(CommandError, match="not confirmed"):
        call_command("orphans", "--delete")
    call_command("orphans", "--delete", "--consumer", "someone-else")
    assert "No orphan consumers." in capsys.readouterr().out
    assert OLD in consumers()

    monkeypatch.setattr("builtins.input", lambda prompt: "yes")
    call_command("orphans", "--delete", "--event", bus.LIMITED.name)
    assert "Deleted 1 orphan consumer(s)." in capsys.readouterr().out
    assert OLD not in consumers()
    call_command("orphans")
    assert capsys.readouterr().out.strip() == "No orphan consumers."


def test_the_command_refuses_bad_options() -> None:
    with pytest.raises(CommandError, match="--yes only makes sense with --delete"):
        call_command("orphans", "--yes")
    with pytest.raises(CommandError, match=r"no event named 'no\.such' is registered"):
        call_command("orphans", "--event", "no.such")


@pytest.mark.usefixtures("renamed")
def test_ephemeral_consumers_are_not_orphans() -> None:
    async def check() -> list[str]:
        conn = await get_connection(2)
        ephemeral = await conn.js.add_consumer(
            STREAM, ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, inactive_threshold=30)
        )
        try:
            found = await orphans.find(conn.js, orphans.registered_pairs([bus.LIMITED.name]))
        finally:
            await conn.js.delete_consumer(STREAM, ephemeral.name)
        return [o.name for o in found]

    assert run_sync(check()) == [OLD]
