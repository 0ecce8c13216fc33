"""`emit_on_commit`: nothing on rollback, once after commit with the returned uid as Nats-Msg-Id,
call order, savepoints, errors at the call site and at commit, and callers in async code.

emit_on_commit waits for the PubAck, so once a later emit_on_commit outside any transaction has
returned, an earlier message that was going to be stored is stored: no waiting for absence.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.core.exceptions import SynchronousOnlyOperation
from django.db import transaction
from django.test import override_settings

from tests.streams import reset, reset_async, stored, stored_async
from walnats_django import CloudEvent, Event, InvalidHeader, NatsUnavailable, PayloadTypeError, emit_on_commit
from walnats_django.testing import NatsServer, free_port
from walnats_django.wire import HEADER_DELAY, HEADER_TRACE

ON_COMMIT = Event("test.on-commit", str)

pytestmark = pytest.mark.django_db(transaction=True)


class Boom(Exception):
    """Rolls a transaction back."""


@pytest.fixture
def url(nats_server: NatsServer) -> str:
    """The server, with the event's stream empty and keeping what arrives."""
    reset(nats_server.url, ON_COMMIT)
    return nats_server.url


def payloads(url: str) -> list[str]:
    return [json.loads(message.data) for message in stored(url, ON_COMMIT)]


def test_rollback_publishes_nothing(url: str) -> None:
    def rolled_back() -> None:
        with transaction.atomic():
            emit_on_commit(ON_COMMIT, "rolled back")
            raise Boom

    with pytest.raises(Boom):
        rolled_back()
    emit_on_commit(ON_COMMIT, "marker")
    assert payloads(url) == ["marker"]


def test_commit_publishes_once_with_the_returned_uid_as_msg_id(url: str) -> None:
    with transaction.atomic():
        uid = emit_on_commit(ON_COMMIT, "hello", trace_id="trace-1", delay=60)
        called_at = time.time()
        assert stored(url, ON_COMMIT) == [], "nothing before the commit"
    [message] = stored(url, ON_COMMIT)
    assert message.uid == uid
    assert len(uid) == 32, "a uuid4 hex when no uid is given"
    assert message.data == b'"hello"'
    assert message.headers[HEADER_TRACE] == "trace-1"
    not_before = float(message.headers[HEADER_DELAY])
    assert called_at - 1 < not_before - 60 <= called_at, "the delay counts from the call"
    emit_on_commit(ON_COMMIT, "marker")
    assert payloads(url) == ["hello", "marker"], "exactly once"


def test_given_uid_or_cloud_event_id_is_returned_and_sent(url: str) -> None:
    with transaction.atomic():
        given = emit_on_commit(ON_COMMIT, "a", uid="order-17")
        from_meta = emit_on_commit(ON_COMMIT, "b", meta=CloudEvent(id="ce-17", source="/shop", type="order"))
    assert (given, from_meta) == ("order-17", "ce-17")
    assert [message.uid for message in stored(url, ON_COMMIT)] == ["order-17", "ce-17"]


def test_several_in_one_transaction_publish_in_call_order(url: str) -> None:
    with transaction.atomic():
        for number in range(20):
            emit_on_commit(ON_COMMIT, str(number))
    assert payloads(url) == [str(number) for number in range(20)]


def test_a_rolled_back_savepoint_drops_only_its_events(url: str) -> None:
    with transaction.atomic():
        emit_on_commit(ON_COMMIT, "before")
        with contextlib.suppress(Boom), transaction.atomic():
            emit_on_commit(ON_COMMIT, "in the rolled back savepoint")
            raise Boom
        with transaction.atomic():
            emit_on_commit(ON_COMMIT, "in a released savepoint")
        emit_on_commit(ON_COMMIT, "after")
    assert payloads(url) == ["before", "in a released savepoint", "after"]


def test_outside_a_transaction_it_publishes_at_once(url: str) -> None:
    uid = emit_on_commit(ON_COMMIT, "now")
    assert [message.uid for message in stored(url, ON_COMMIT)] == [uid]


def test_bad_input_fails_at_the_call_site_and_the_transaction_goes_on(url: str) -> None:
    with transaction.atomic():
        with pytest.raises(PayloadTypeError, match=r"test\.on-commit"):
            emit_on_commit(ON_COMMIT, 42)  # type: ignore[arg-type]
        with pytest.raises(InvalidHeader, match="CR, LF"):
            emit_on_commit(ON_COMMIT, "x", trace_id="a\r\nNats-Msg-Id: forged")
        User.objects.create(username="kept")
        emit_on_commit(ON_COMMIT, "good")
    assert User.objects.filter(username="kept").exists()
    assert payloads(url) == ["good"]


def test_nats_down_at_commit_raises_the_typed_error_and_logs_it(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="walnats_django.transactions")
    uids: list[str] = []

    def order() -> None:
        with transaction.atomic():
            User.objects.create(username="committed")
            uids.append(emit_on_commit(ON_COMMIT, "lost"))

    with override_settings(WALNATS={"SERVERS": [f"nats://127.0.0.1:{free_port()}"]}):
        with pytest.raises(NatsUnavailable) as raised:
            order()
        assert any("the transaction is committed" in note for note in raised.value.__notes__)
    assert User.objects.filter(username="committed").exists(), "the error comes after the commit"
    [record] = [r for r in caplog.records if r.name == "walnats_django.transactions"]
    assert record.levelno == logging.ERROR
    assert f"event=test.on-commit uid={uids[0]}" in record.getMessage()
    assert "walnats_django.outbox" in record.getMessage()
    emit_on_commit(ON_COMMIT, "marker")
    assert payloads(url) == ["marker"]


async def test_async_code_gets_a_clear_error() -> None:
    with pytest.raises(SynchronousOnlyOperation, match="sync_to_async"):
        emit_on_commit(ON_COMMIT, "from an event loop")


async def test_a_transaction_run_with_sync_to_async_publishes_at_commit(nats_server: NatsServer) -> None:
    await reset_async(nats_server.url, ON_COMMIT)

    def place_order() -> str:
        with transaction.atomic():
            User.objects.create(username="buyer")
            return emit_on_commit(ON_COMMIT, "from an async view")

    uid = await sync_to_async(place_order)()
    assert [(m.uid, m.data) for m in await stored_async(nats_server.url, ON_COMMIT)] == [
        (uid, b'"from an async view"')
    ]
