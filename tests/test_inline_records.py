"""inline(): what the bus records, its assertions and their messages, record-only mode and stubs."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

import walnats_django
from tests.test_inline_support import (
    ECHO,
    NOTE,
    ORDER,
    PROFILE,
    REGISTRY,
    SHOUT,
    Order,
    Profile,
    _forget_calls,  # noqa: F401 - the autouse fixture
    calls,
)
from walnats_django import NoActors, RemoteError
from walnats_django.testing import InlineBus, InlineModeError, inline


@pytest.fixture
def bus() -> Iterator[InlineBus]:
    with inline(registry=REGISTRY) as active:
        yield active


def test_a_record_holds_payload_headers_answer_and_deliveries(bus: InlineBus) -> None:
    assert (
        walnats_django.request_sync(SHOUT, "hi", uid="u-1", trace_id="trace-1", meta={"x-tenant": "t1"})
        == "HI"
    )
    [message] = bus.emitted(SHOUT)
    assert message.is_request
    assert message.payload == "hi"
    assert message.data == b'"hi"'
    assert message.uid == "u-1"
    assert message.trace_id == "trace-1"
    assert message.meta == {"x-tenant": "t1"}
    assert "Walnats-Deadline" in message.headers
    assert message.answer == "HI"
    assert message.error is None
    assert message.results == {"shout": "HI"}
    [delivery] = message.deliveries
    assert (delivery.actor.name, delivery.attempts, delivery.result) == ("shout", 1, "HI")
    assert repr(message) == "Emitted('inline.shout', 'hi', uid='u-1', answer='HI')"


def test_emitted_takes_an_event_or_its_name(bus: InlineBus) -> None:
    walnats_django.emit_sync(NOTE, "a")
    assert bus.emitted("inline.note") == bus.emitted(NOTE)
    with pytest.raises(TypeError, match="expected an Event or an event name"):
        bus.emitted(42)  # type: ignore[arg-type]


def test_assert_emitted_returns_the_matching_messages(bus: InlineBus) -> None:
    walnats_django.emit_sync(ORDER, Order(id=1, items=["a"]))
    walnats_django.emit_sync(ORDER, Order(id=2, items=["b", "c"]))
    assert len(bus.assert_emitted(ORDER)) == 2
    assert len(bus.assert_emitted(ORDER, times=2)) == 2
    [second] = bus.assert_emitted(ORDER, times=1, where={"id": 2})
    assert second.payload.items == ["b", "c"]
    assert bus.assert_emitted(ORDER, where=lambda order: len(order.items) == 1)[0].payload.id == 1
    bus.assert_not_emitted(ORDER, where={"id": 3})
    bus.assert_not_emitted(NOTE)


def test_where_reads_keys_of_dict_payloads_and_fields_of_pydantic_models() -> None:
    registry = walnats_django.Registry()
    event = registry.add(walnats_django.Event("inline.dict", dict))
    registry.add(PROFILE)
    with inline(registry=registry) as bus:
        walnats_django.emit_sync(event, {"kind": "a", "n": 1})
        walnats_django.emit_sync(PROFILE, Profile(name="Ada", tags=[]))
    bus.assert_emitted(event, times=1, where={"kind": "a", "n": 1})
    bus.assert_not_emitted(event, where={"kind": "b"})
    bus.assert_emitted(PROFILE, where={"name": "Ada"})


def test_a_failed_assert_emitted_lists_what_was_emitted(bus: InlineBus) -> None:
    walnats_django.emit_sync(ORDER, Order(id=1, items=[]))
    walnats_django.emit_sync(ORDER, Order(id=2, items=[]), uid="o-2")
    with pytest.raises(AssertionError) as info:
        bus.assert_emitted(ORDER, times=1, where={"id": 3})
    assert str(info.value) == (
        "expected event 'inline.order' emitted once where id=3, but it was emitted 2 times (0 matching):\n"
        "  1. Emitted('inline.order', Order(id=1, items=[]))\n"
        "  2. Emitted('inline.order', Order(id=2, items=[]), uid='o-2')"
    )


def test_a_failed_assert_emitted_names_the_events_that_were_emitted_instead(bus: InlineBus) -> None:
    with pytest.raises(AssertionError, match="nothing was emitted at all"):
        bus.assert_emitted(NOTE)
    walnats_django.emit_sync(ECHO, "a")
    walnats_django.emit_sync(ECHO, "b")
    with pytest.raises(AssertionError) as info:
        bus.assert_emitted(NOTE, where=lambda text: True)
    assert str(info.value).startswith("expected event 'inline.note' emitted at least once where ")
    assert str(info.value).endswith("but it was not emitted; the bus saw 'inline.echo' 2 times.")


def test_a_failed_assert_not_emitted_lists_the_messages(bus: InlineBus) -> None:
    walnats_django.emit_sync(NOTE, "oops")
    with pytest.raises(AssertionError) as info:
        bus.assert_not_emitted(NOTE)
    assert "expected event 'inline.note' emitted never, but it was emitted once (1 matching):" in str(
        info.value
    )
    assert "Emitted('inline.note', 'oops')" in str(info.value)


def test_assertion_arguments_are_checked(bus: InlineBus) -> None:
    with pytest.raises(TypeError, match="where= takes a callable"):
        bus.assert_emitted(NOTE, where="oops")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="times must be a whole number"):
        bus.assert_emitted(NOTE, times=-1)


# -- record only, stubs ----------------------------------------------------------------------------


async def test_run_false_records_and_runs_nothing() -> None:
    with inline(registry=REGISTRY, run=False) as bus:
        await walnats_django.emit(NOTE, "kept", wait=True)
        with pytest.raises(NoActors, match=r"inline\(run=False\) runs no actors.*answers="):
            await walnats_django.request(SHOUT, "who answers?")
        await walnats_django.emit(NOTE, "later", delay=60)
        assert await bus.arun_delayed() == 1
    assert calls == []
    bus.assert_emitted(NOTE, times=2)
    assert repr(bus) == "<InlineBus recording: 3 messages, 0 dead letters>"


def test_answers_stub_requests_through_the_real_serializers() -> None:
    @dataclasses.dataclass
    class Seen:
        payloads: list[object]

    seen = Seen([])

    def greet(profile: Profile) -> Profile:
        seen.payloads.append(profile)
        return Profile(name=profile.name.upper(), tags=[])

    answers = {SHOUT: "STUBBED", "inline.echo": ValueError("stubbed failure"), PROFILE: greet}
    with inline(registry=REGISTRY, run=False, answers=answers) as bus:
        assert walnats_django.request_sync(SHOUT, "x") == "STUBBED"
        with pytest.raises(RemoteError) as info:
            walnats_django.request_sync(ECHO, "x")
        answer = walnats_django.request_sync(PROFILE, Profile(name="ada", tags=["t"]))
    assert (info.value.type_name, info.value.remote_message, info.value.actor) == (
        "ValueError",
        "stubbed failure",
        None,
    )
    assert answer == Profile(name="ADA", tags=[])
    assert seen.payloads == [Profile(name="ada", tags=["t"])], "the stub gets the decoded payload"
    assert bus.emitted(SHOUT)[0].answer == "STUBBED"


def test_a_stub_answer_the_response_serializer_refuses_is_an_error_answer() -> None:
    with (
        inline(registry=REGISTRY, answers={ORDER: "not an int"}),
        pytest.raises(walnats_django.SerializationError),
    ):
        walnats_django.request_sync(ORDER, Order(id=1, items=[]))  # decoded as int at the caller


def test_answers_replace_the_actors_in_run_mode_too() -> None:
    with inline(registry=REGISTRY, answers={SHOUT: "stub"}):
        assert walnats_django.request_sync(SHOUT, "x") == "stub"
    assert calls == []


# -- options ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"max_attempts": 0}, ValueError, "inline\\(\\): max_attempts must be"),
        ({"max_payload": 1.5}, ValueError, "inline\\(\\): max_payload must be"),
        ({"live": True, "run": False}, ValueError, "run=False and answers= apply only in process"),
        ({"live": True, "answers": {NOTE: 1}}, ValueError, "apply only in process"),
        ({"registry": object()}, TypeError, "registry must be a walnats_django Registry"),
    ],
)
def test_bad_options_are_refused_when_inline_is_called(
    options: dict[str, object], error: type, message: str
) -> None:
    with pytest.raises(error, match=message):
        inline(**options)  # type: ignore[arg-type]


def test_in_live_mode_the_in_process_parts_say_where_to_look() -> None:
    bus = InlineBus(live=True)
    with pytest.raises(InlineModeError, match=r"bus\.dead_letters .*manage\.py deadletters.*live=True"):
        _ = bus.dead_letters
    with pytest.raises(
        InlineModeError, match=r"bus\.run_delayed\(\) is not available with inline\(live=True\)"
    ):
        bus.run_delayed()
    assert repr(bus) == "<InlineBus live: 0 messages, 0 dead letters>"
