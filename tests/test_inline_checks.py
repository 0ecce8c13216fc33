"""inline(): the caller sees the real path's errors: type checks, headers, sizes, missing streams,
missing actors, stream limits and uid de-duplication."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

import walnats_django
from tests.test_inline_support import (
    ECHO,
    LONELY,
    NOTE,
    NOWHERE,
    NOWHERE_EMIT,
    QUIET,
    REGISTRY,
    SHOUT,
    SMALL,
    _forget_calls,  # noqa: F401 - the autouse fixture
    calls,
    ran,
)
from walnats_django import (
    CloudEvent,
    DuplicateRequest,
    EventNotRegistered,
    InvalidHeader,
    NoActors,
    NotARequestEvent,
    PayloadTooLarge,
    PayloadTypeError,
    PublishRejected,
)
from walnats_django.testing import InlineBus, inline


@pytest.fixture
def bus() -> Iterator[InlineBus]:
    with inline(registry=REGISTRY) as active:
        yield active


async def test_a_payload_of_the_wrong_type_is_refused_before_anything_is_sent(bus: InlineBus) -> None:
    with pytest.raises(PayloadTypeError, match=r"payload of event 'inline\.echo' must be str, got int"):
        await walnats_django.request(ECHO, 3)  # type: ignore[arg-type]
    assert bus.messages == []


def test_unsafe_headers_are_refused(bus: InlineBus) -> None:
    with pytest.raises(InvalidHeader, match="must not contain CR, LF"):
        walnats_django.emit_sync(NOTE, "x", trace_id="a\r\nInjected: 1")
    with pytest.raises(InvalidHeader, match="reserved"):
        walnats_django.emit_sync(NOTE, "x", meta={"Nats-Msg-Id": "forged"})
    with pytest.raises(InvalidHeader, match="delay must be"):
        walnats_django.request_sync(SHOUT, "x", delay=-1)
    assert bus.messages == []
    assert calls == []


def test_request_on_an_event_without_a_response_type_is_refused(bus: InlineBus) -> None:
    with pytest.raises(NotARequestEvent):
        walnats_django.request_sync(NOTE, "x")


def test_the_largest_message_that_fits_max_payload_passes_and_one_byte_more_is_refused() -> None:
    with inline(registry=REGISTRY, max_payload=100) as bus:
        walnats_django.emit_sync(NOTE, "x" * 98)  # 100 bytes of JSON, no headers
        with pytest.raises(
            PayloadTooLarge, match="takes 101 bytes with headers, over the server's max_payload of 100"
        ):
            walnats_django.emit_sync(NOTE, "x" * 99)  # raised without wait=True too, as before sending
    assert ran("note-sync") == ["x" * 98]
    [refused] = [m for m in bus.messages if not m.stored]
    assert isinstance(refused.error, PayloadTooLarge)


def test_a_request_counts_the_reply_headers_the_real_path_adds() -> None:
    """A request carries Walnats-Reply and Walnats-Deadline: a payload that fits an emit does not."""
    with inline(registry=REGISTRY, max_payload=150), pytest.raises(PayloadTooLarge):
        walnats_django.request_sync(SHOUT, "x" * 100)


def test_the_default_max_payload_is_nats_servers_default() -> None:
    with inline(registry=REGISTRY), pytest.raises(PayloadTooLarge, match="max_payload of 1048576"):
        walnats_django.emit_sync(NOTE, "x" * 1024 * 1024)


def test_an_unregistered_event_is_a_missing_stream() -> None:
    with inline(registry=REGISTRY) as bus:
        with pytest.raises(
            EventNotRegistered, match="no JetStream stream captures subject of stream 'inline-nowhere'"
        ):
            walnats_django.request_sync(NOWHERE, "x")
        with pytest.raises(EventNotRegistered):
            walnats_django.emit_sync(NOWHERE_EMIT, "x", wait=True)
    assert [m.stored for m in bus.messages] == [False, False]
    assert bus.emitted(NOWHERE) == []


def test_an_unregistered_emit_without_wait_is_logged_and_raised_at_the_caller_by_default(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with inline(registry=REGISTRY), pytest.raises(EventNotRegistered):
        walnats_django.emit_sync(NOWHERE_EMIT, "x")
    assert "Inline emit failed stream=inline-nowhere-emit" in caplog.text


def test_an_unregistered_emit_without_wait_is_only_logged_with_raise_errors_off(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A real emit() without wait only logs what its PubAck said."""
    with (
        caplog.at_level(logging.ERROR, "walnats_django.testing"),
        inline(registry=REGISTRY, raise_errors=False) as bus,
    ):
        walnats_django.emit_sync(NOWHERE_EMIT, "x")
    assert "Inline emit failed stream=inline-nowhere-emit" in caplog.text
    assert isinstance(bus.messages[0].error, EventNotRegistered)


async def test_a_request_to_an_event_without_actors_raises_no_actors(bus: InlineBus) -> None:
    with pytest.raises(NoActors, match="stream 'inline-lonely' has no actor consumer"):
        await walnats_django.request(LONELY, "anyone?")
    [message] = bus.emitted(LONELY)
    assert message.stored, "JetStream accepts it, then nobody consumes it"
    assert isinstance(message.error, NoActors)


async def test_an_emit_to_an_event_without_actors_is_accepted_and_dropped(bus: InlineBus) -> None:
    await walnats_django.emit(QUIET, "into the void", wait=True)
    [message] = bus.emitted(QUIET)
    assert message.deliveries == []
    assert message.error is None


def test_a_message_over_the_streams_message_size_is_rejected_by_jetstream(bus: InlineBus) -> None:
    walnats_django.emit_sync(SMALL, "x" * 198, wait=True)  # 200 bytes: the limit
    with pytest.raises(PublishRejected, match="message size exceeds maximum allowed") as info:
        walnats_django.emit_sync(SMALL, "x" * 199, wait=True)
    assert info.value.code == 10054


def test_an_emit_with_a_seen_uid_is_a_duplicate_and_runs_nothing(bus: InlineBus) -> None:
    walnats_django.emit_sync(NOTE, "first", uid="note-1")
    walnats_django.emit_sync(NOTE, "again", uid="note-1", wait=True)  # no error, as JetStream's PubAck
    walnats_django.emit_sync(QUIET, "other stream", uid="note-1")  # de-duplication is per stream
    assert ran("note-sync") == ["first"]
    assert [m.payload for m in bus.emitted(NOTE)] == ["first"]
    assert [(m.payload, m.duplicate) for m in bus.emitted(NOTE, include_duplicates=True)] == [
        ("first", False),
        ("again", True),
    ]
    assert len(bus.emitted(QUIET)) == 1


def test_a_request_with_a_seen_uid_raises_duplicate_request(bus: InlineBus) -> None:
    walnats_django.emit_sync(NOTE, "another stream's sequence")
    assert walnats_django.request_sync(SHOUT, "no uid") == "NO UID"
    assert walnats_django.request_sync(SHOUT, "once", uid="req-1") == "ONCE"
    with pytest.raises(
        DuplicateRequest,
        match=r"already accepted by stream 'inline-shout' \(seq 2\) within the de-duplication window",
    ):
        walnats_django.request_sync(SHOUT, "twice", uid="req-1")
    assert ran("shout") == ["no uid", "once"]
    assert [m.seq for m in bus.messages] == [1, 1, 2, 0]


def test_a_cloudevent_id_is_the_uid(bus: InlineBus) -> None:
    meta = CloudEvent(id="ce-1", source="/tests", type="note")
    walnats_django.emit_sync(NOTE, "a", meta=meta)
    walnats_django.emit_sync(NOTE, "b", meta=meta)
    [message] = bus.emitted(NOTE)
    assert message.uid == "ce-1"
    assert message.meta == {
        "ce-id": "ce-1",
        "ce-source": "/tests",
        "ce-type": "note",
        "ce-specversion": "1.0",
    }
