"""The outbox in one process: `outbox.emit` writes a row in the caller's transaction, the relay
(`relayoutbox --once`, in-process) publishes rows in order with their uid as Nats-Msg-Id, failed
rows and held-back events do not block the rest, purge, options, and the admin.

Subprocess behaviour (kill -9 mid-batch, several relays, signals, outages) is in test_outbox_relay.py.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import logging

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured, SynchronousOnlyOperation
from django.core.management import CommandError, call_command
from django.db import transaction
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone
from pytest_django.fixtures import Settings as SettingsWrapper

from tests.helpers import delete_streams
from tests.streams import reset, stored
from tests.testapp.outbox_events import OB_FULL, OB_NOTE, OB_OTHER
from walnats_django import CloudEvent, Event, PayloadTypeError, emit_sync, outbox
from walnats_django.outbox import UnregisteredEvent
from walnats_django.outbox.models import OutboxMessage, Status
from walnats_django.outbox.relay import RelayOptions
from walnats_django.testing import NatsServer, free_port
from walnats_django.wire import HEADER_DELAY, HEADER_MSG_ID, HEADER_TRACE

pytestmark = pytest.mark.django_db(transaction=True)


class Boom(Exception):
    """Rolls a transaction back."""


@pytest.fixture
def url(nats_server: NatsServer) -> str:
    """The server, with the test events' streams empty and keeping what arrives."""
    for event in (OB_NOTE, OB_OTHER):
        reset(nats_server.url, event)
    return nats_server.url


def relay(*args: str) -> None:
    call_command("relayoutbox", "--once", *args)


def payloads(url: str, event: Event[str, None]) -> list[str]:
    return [json.loads(message.data) for message in stored(url, event)]


# -- outbox.emit -------------------------------------------------------------------------------


def test_emit_writes_a_pending_row_in_the_callers_transaction() -> None:
    with transaction.atomic():
        User.objects.create(username="buyer")
        uid = outbox.emit(OB_NOTE, "hello", trace_id="trace-1", delay=30)
    row = OutboxMessage.objects.get()
    assert (row.uid, row.event, row.stream) == (uid, "test.outbox-note", "test-outbox-note")
    assert len(uid) == 32
    assert bytes(row.payload) == b'"hello"'
    assert row.headers[HEADER_MSG_ID] == uid
    assert row.headers[HEADER_TRACE] == "trace-1"
    assert float(row.headers[HEADER_DELAY]) == pytest.approx(timezone.now().timestamp() + 30, abs=5)
    assert (row.status, row.attempts, row.sent_at, row.last_error) == (Status.PENDING, 0, None, "")


def test_a_given_uid_or_cloud_event_id_is_the_rows_uid() -> None:
    assert outbox.emit(OB_NOTE, "a", uid="order-9") == "order-9"
    assert outbox.emit(OB_NOTE, "b", meta=CloudEvent(id="ce-9", source="/shop", type="order")) == "ce-9"
    assert [row.uid for row in OutboxMessage.objects.all()] == ["order-9", "ce-9"]


def test_rollback_writes_no_row() -> None:
    def rolled_back() -> None:
        with transaction.atomic():
            User.objects.create(username="buyer")
            outbox.emit(OB_NOTE, "rolled back")
            raise Boom

    with pytest.raises(Boom):
        rolled_back()
    assert not OutboxMessage.objects.exists()
    assert not User.objects.exists()


def test_bad_input_fails_at_the_call_site() -> None:
    with pytest.raises(PayloadTypeError):
        outbox.emit(OB_NOTE, 42)  # type: ignore[arg-type]
    with pytest.raises(UnregisteredEvent, match=r"registry\.add"):
        outbox.emit(Event("test.outbox-unregistered", str), "x")
    assert not OutboxMessage.objects.exists()


def test_emit_without_the_app_installed_says_what_to_add(settings: SettingsWrapper) -> None:
    settings.INSTALLED_APPS = [app for app in settings.INSTALLED_APPS if app != "walnats_django.outbox"]
    with pytest.raises(ImproperlyConfigured, match=r'"walnats_django\.outbox" in INSTALLED_APPS'):
        outbox.emit(OB_NOTE, "x")


async def test_async_code_gets_a_clear_error() -> None:
    with pytest.raises(SynchronousOnlyOperation, match="sync_to_async"):
        outbox.emit(OB_NOTE, "from an event loop")


# -- the relay ---------------------------------------------------------------------------------


def test_relay_publishes_pending_rows_in_order_with_their_uid(url: str) -> None:
    notes = [outbox.emit(OB_NOTE, f"note {number}") for number in range(7)]
    others = [outbox.emit(OB_OTHER, f"other {number}") for number in range(3)]
    relay("--batch-size", "3")
    assert [message.uid for message in stored(url, OB_NOTE)] == notes
    assert [message.uid for message in stored(url, OB_OTHER)] == others
    assert payloads(url, OB_NOTE) == [f"note {number}" for number in range(7)]
    rows = list(OutboxMessage.objects.all())
    assert {(row.status, row.attempts) for row in rows} == {(Status.SENT, 1)}
    assert all(row.sent_at is not None for row in rows)
    relay()
    assert len(stored(url, OB_NOTE)) == 7, "sent rows are not published again"


def test_a_row_stored_before_a_crash_is_stored_once(url: str) -> None:
    """A relay that published a row and died before its commit: the next one publishes the row
    again with the same Nats-Msg-Id, and JetStream keeps one copy (a duplicate counts as sent)."""
    uid = outbox.emit(OB_NOTE, "once")
    emit_sync(OB_NOTE, "once", uid=uid, wait=True)
    relay()
    assert [message.uid for message in stored(url, OB_NOTE)] == [uid]
    assert OutboxMessage.objects.get().status == Status.SENT


def test_failed_rows_are_marked_and_do_not_block_the_rest(url: str, caplog: pytest.LogCaptureFixture) -> None:
    first = outbox.emit(OB_NOTE, "first")
    gone = OutboxMessage.objects.create(uid="gone-1", event="test.outbox-gone", stream="x", payload=b"1")
    too_large = outbox.emit(OB_NOTE, "x" * 2_000_000)
    last = outbox.emit(OB_NOTE, "last")
    relay()
    assert [message.uid for message in stored(url, OB_NOTE)] == [first, last]
    failed = {row.uid: row for row in OutboxMessage.objects.filter(status=Status.FAILED)}
    assert set(failed) == {"gone-1", too_large}
    assert "'test.outbox-gone' is not registered" in failed["gone-1"].last_error
    assert "PayloadTooLarge" in failed[too_large].last_error
    assert all(row.attempts == 1 for row in failed.values())
    warnings = [r.getMessage() for r in caplog.records if r.name == "walnats_django.outbox"]
    assert sum("failed for good" in line and f"id={gone.id}" in line for line in warnings) == 1


def test_a_missing_stream_holds_back_its_event_only(url: str) -> None:
    waiting = [outbox.emit(OB_OTHER, "waits"), outbox.emit(OB_OTHER, "waits too")]
    sent = outbox.emit(OB_NOTE, "goes")
    asyncio.run(delete_streams(url, OB_OTHER.stream_name))
    relay()
    assert [message.uid for message in stored(url, OB_NOTE)] == [sent]
    held = OutboxMessage.objects.filter(uid__in=waiting)
    assert {row.status for row in held} == {Status.PENDING}
    assert "runactors" in held.first().last_error  # type: ignore[union-attr]
    assert [row.attempts for row in held] == [1, 0], "the event's later row waited behind the first"
    reset(url, OB_OTHER)
    relay()
    assert [message.uid for message in stored(url, OB_OTHER)] == waiting


def test_a_full_stream_holds_back_its_event_only(nats_server: NatsServer, url: str) -> None:
    reset(url, OB_FULL)
    full = [outbox.emit(OB_FULL, f"full {n}") for n in range(3)]
    notes = [outbox.emit(OB_NOTE, f"note {n}") for n in range(2)]
    relay()
    assert [message.uid for message in stored(url, OB_FULL)] == full[:2]
    assert [message.uid for message in stored(url, OB_NOTE)] == notes
    third = OutboxMessage.objects.get(uid=full[2])
    assert third.status == Status.PENDING
    assert "maximum messages" in third.last_error.lower()
    reset(url, OB_FULL)  # an empty stream again: the actors caught up
    relay()
    assert [message.uid for message in stored(url, OB_FULL)] == full[2:]


def test_nats_down_stops_a_once_run_with_rows_left_pending(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    for number in range(20):
        outbox.emit(OB_NOTE, str(number))
    with (
        override_settings(WALNATS={"SERVERS": [f"nats://127.0.0.1:{free_port()}"]}),
        pytest.raises(CommandError, match=r"NATS unavailable.*20 row\(s\) still pending"),
    ):
        relay()
    assert set(OutboxMessage.objects.values_list("status", "attempts")) == {(Status.PENDING, 0)}
    unavailable = [r for r in caplog.records if "NATS unavailable" in r.getMessage()]
    assert len(unavailable) == 1, "logged once, not per row"
    relay()
    assert len(stored(url, OB_NOTE)) == 20


def test_purge_deletes_sent_rows_older_than_purge_after(url: str) -> None:
    long_ago = timezone.now() - datetime.timedelta(hours=2)
    old_sent = OutboxMessage.objects.create(uid="old-sent", event=OB_NOTE.name, stream="s", payload=b"1")
    kept = [
        OutboxMessage.objects.create(uid="new-sent", event=OB_NOTE.name, stream="s", payload=b"1"),
        OutboxMessage.objects.create(uid="old-failed", event=OB_NOTE.name, stream="s", payload=b"1"),
    ]
    OutboxMessage.objects.filter(id=old_sent.id).update(status=Status.SENT, sent_at=long_ago)
    OutboxMessage.objects.filter(id=kept[0].id).update(status=Status.SENT, sent_at=timezone.now())
    OutboxMessage.objects.filter(id=kept[1].id).update(status=Status.FAILED, created_at=long_ago)
    pending = outbox.emit(OB_NOTE, "sent by this run")
    relay("--purge-after", "3600")
    assert sorted(OutboxMessage.objects.values_list("uid", flat=True)) == sorted(
        ["new-sent", "old-failed", pending]
    )


@pytest.mark.parametrize(
    ("option", "value"), [("--batch-size", "0"), ("--interval", "-1"), ("--purge-after", "soon")]
)
def test_bad_options_are_refused(option: str, value: str) -> None:
    with pytest.raises(CommandError, match=option):
        relay(option, value)


@pytest.mark.parametrize("options", [{"batch_size": 0}, {"interval": 0.0}, {"purge_after": -1.0}])
def test_bad_relay_options_are_refused(options: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=f"RelayOptions.{next(iter(options))} must be a positive number"):
        RelayOptions(**options)  # type: ignore[arg-type]


def test_logs_of_the_relay_name_the_database(url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="walnats_django.outbox")
    outbox.emit(OB_NOTE, "x")
    relay()
    lines = [r.getMessage() for r in caplog.records if r.name == "walnats_django.outbox"]
    assert "Outbox relay started database=default batch_size=100 interval=1s" in lines
    assert "Outbox relay stopped sent=1 failed=0" in lines


# -- admin -------------------------------------------------------------------------------------

CHANGELIST = reverse("admin:walnats_outbox_outboxmessage_changelist")


def test_admin_shows_the_backlog_and_filters_by_status(admin_client: Client) -> None:
    for uid in ("p-1", "p-2", "s-1", "f-1"):
        outbox.emit(OB_NOTE, uid, uid=uid)
    OutboxMessage.objects.filter(uid="s-1").update(status=Status.SENT, sent_at=timezone.now())
    OutboxMessage.objects.filter(uid="f-1").update(status=Status.FAILED, last_error="PublishRejected: no")
    content = admin_client.get(CHANGELIST).content.decode()
    assert "Outbox: 2 pending (oldest 0\xa0minutes ago), 1 failed" in content
    assert "pending (2)" in content
    assert "failed (1)" in content
    failed = admin_client.get(CHANGELIST, {"status": "failed"}).content.decode()
    assert [uid for uid in ("p-1", "p-2", "s-1", "f-1") if f'field-uid">{uid}<' in failed] == ["f-1"]


def test_admin_rows_are_read_only_and_failed_ones_can_be_retried(admin_client: Client) -> None:
    for uid in ("s-1", "f-1"):
        outbox.emit(OB_NOTE, uid, uid=uid)
    OutboxMessage.objects.filter(uid="s-1").update(status=Status.SENT, sent_at=timezone.now())
    OutboxMessage.objects.filter(uid="f-1").update(status=Status.FAILED, last_error="PublishRejected: no")
    row = OutboxMessage.objects.get(uid="f-1")
    page = admin_client.get(reverse("admin:walnats_outbox_outboxmessage_change", args=[row.id]))
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert "&quot;f-1&quot;" in page.content.decode(), "the payload is shown"
    assert admin_client.get(reverse("admin:walnats_outbox_outboxmessage_add")).status_code == 403
    response = admin_client.post(
        CHANGELIST,
        {"action": "retry", "_selected_action": list(OutboxMessage.objects.values_list("id", flat=True))},
        follow=True,
    )
    assert "1 failed row(s) queued again" in response.content.decode()
    assert dict(OutboxMessage.objects.values_list("uid", "status")) == {
        "s-1": Status.SENT,
        "f-1": Status.PENDING,
    }
