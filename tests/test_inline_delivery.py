"""inline(): actors run in process through the real serializers, with the worker's retries (without
sleeping), dead letters, error answers, several actors, chains and job timeouts."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from django.core.exceptions import SynchronousOnlyOperation

import walnats_django
from tests.test_inline_support import (
    BAD_ANSWER,
    BIG_ANSWER,
    BROKEN,
    BROKEN_EMIT,
    CHAIN,
    CHAIN_SYNC,
    ECHO,
    FLAKY,
    FOREVER,
    NOTE,
    ORDER,
    PROFILE,
    REGISTRY,
    SHOUT,
    SLOW,
    SLOW_SYNC,
    Order,
    Profile,
    _forget_calls,  # noqa: F401 - the autouse fixture
    calls,
    ran,
    threads,
)
from walnats_django import Event, RemoteError, RequestTimeout
from walnats_django.registry import Registry
from walnats_django.testing import InlineBus, inline


@pytest.fixture
def bus() -> Iterator[InlineBus]:
    with inline(registry=REGISTRY) as active:
        yield active


# -- serializers -------------------------------------------------------------------------------


def test_the_handler_gets_a_copy_decoded_by_the_serializer(bus: InlineBus) -> None:
    order = Order(id=7, items=["tea"])
    assert walnats_django.request_sync(ORDER, order) == 1
    [seen] = ran("count-items")
    assert seen == Order(id=7, items=["tea", "added by the handler"])
    assert seen is not order
    assert order.items == ["tea"], "the handler's change must not reach the caller's object"
    [message] = bus.emitted(ORDER)
    assert message.data == b'{"id":7,"items":["tea"]}'
    assert message.payload == Order(id=7, items=["tea"])
    assert message.payload is not order


async def test_pydantic_payloads_and_answers_round_trip(bus: InlineBus) -> None:
    answer = await walnats_django.request(PROFILE, Profile(name="Ada", tags=["math"]))
    assert answer == Profile(name="Hello Ada", tags=["math", "greeted"])
    assert isinstance(answer, Profile)
    assert bus.emitted(PROFILE)[0].answer == answer


async def test_primitives_and_bytes_round_trip(bus: InlineBus) -> None:
    assert await walnats_django.request(ECHO, "héllo ☃") == "héllo ☃"
    assert await walnats_django.request(BIG_ANSWER, 3) == b"xxx"
    assert ran("echo") == ["héllo ☃"]


def test_sync_twins_run_sync_handlers_in_the_callers_thread(bus: InlineBus) -> None:
    walnats_django.emit_sync(NOTE, "one")
    assert walnats_django.request_sync(SHOUT, "two") == "TWO"
    assert threads == [threading.get_ident()] * 2
    assert ran("note-async") == ["one"], "async handlers run from sync twins too"


async def test_sync_twins_inside_an_event_loop_are_refused_as_on_the_real_path(bus: InlineBus) -> None:
    with pytest.raises(SynchronousOnlyOperation, match="await request"):
        walnats_django.request_sync(SHOUT, "x")
    with pytest.raises(SynchronousOnlyOperation, match="await emit"):
        walnats_django.emit_sync(NOTE, "x")
    assert calls == []


# -- retries and dead letters ------------------------------------------------------------------


def test_an_emit_is_retried_at_once_until_the_actor_succeeds(bus: InlineBus) -> None:
    started = time.monotonic()
    walnats_django.emit_sync(FLAKY, 2)
    assert time.monotonic() - started < 1.0, "retry_delay is 30 s: retries must not sleep"
    [delivery] = bus.emitted(FLAKY)[0].deliveries
    assert delivery.attempts == 3
    assert delivery.result == 3
    assert [str(e) for e in delivery.errors] == ["flaky run 1", "flaky run 2"]
    assert delivery.succeeded
    assert bus.dead_letters == []


def test_a_request_is_not_retried_when_the_retry_would_come_after_its_deadline(bus: InlineBus) -> None:
    """As a worker decides: retry_delay 30 s is past a 4 s timeout, so the first failure is final."""
    with pytest.raises(RemoteError) as info:
        walnats_django.request_sync(FLAKY, 1, timeout=4)
    assert (info.value.type_name, info.value.remote_message, info.value.actor) == (
        "ConnectionError",
        "flaky run 1",
        "flaky",
    )
    assert len(ran("flaky")) == 1
    assert [letter.attempts for letter in bus.dead_letters] == [1]


def test_a_request_is_retried_while_its_deadline_allows(bus: InlineBus) -> None:
    assert walnats_django.request_sync(FLAKY, 1, timeout=60) == 2


def test_out_of_attempts_a_request_gets_the_error_answer_and_a_dead_letter_is_kept(bus: InlineBus) -> None:
    with pytest.raises(RemoteError) as info:
        walnats_django.request_sync(BROKEN, "abc")
    assert info.value.type_name == "ValueError"
    assert info.value.remote_message == "cannot count 'abc'"
    assert info.value.actor == "broken"
    assert str(info.value) == "ValueError in actor 'broken': cannot count 'abc'"
    assert ran("broken") == ["abc", "abc"], "max_attempts=2"
    [letter] = bus.dead_letters
    assert (letter.event, letter.actor, letter.payload, letter.attempts) == (
        "inline.broken",
        "broken",
        "abc",
        2,
    )
    assert letter.data == b'"abc"'
    assert isinstance(letter.error, ValueError)
    assert letter.error_text == "ValueError: cannot count 'abc'"
    [message] = bus.emitted(BROKEN)
    assert isinstance(message.error, RemoteError)
    assert message.deliveries[0].gave_up


def test_an_emit_whose_actor_gives_up_raises_at_the_caller_by_default(bus: InlineBus) -> None:
    with pytest.raises(KeyError) as info:
        walnats_django.emit_sync(BROKEN_EMIT, "k")
    assert any("gave up after 2 attempt(s)" in note for note in info.value.__notes__)
    assert len(bus.dead_letters) == 1


async def test_with_raise_errors_off_an_emit_failure_is_only_recorded() -> None:
    with inline(registry=REGISTRY, raise_errors=False) as bus:
        await walnats_django.emit(BROKEN_EMIT, "k")
        await walnats_django.emit(ECHO, "still fine")
    assert ran("broken-emit") == ["k", "k"]
    [letter] = bus.dead_letters
    assert isinstance(letter.error, KeyError)
    assert bus.emitted(BROKEN_EMIT)[0].error is None, "the emit itself succeeded"


def test_an_actor_without_max_attempts_stops_at_the_inline_cap() -> None:
    with inline(registry=REGISTRY, raise_errors=False, max_attempts=3) as bus:
        walnats_django.emit_sync(FOREVER, "e")
    assert len(ran("forever")) == 3
    assert bus.dead_letters[0].attempts == 3


def test_the_default_cap_also_bounds_requests_whose_retries_cost_no_time(bus: InlineBus) -> None:
    """retry_delay 0 never reaches the deadline: only the cap ends it (a worker would go on
    until the deadline passed)."""
    with pytest.raises(RemoteError, match="still broken"):
        walnats_django.request_sync(FOREVER, "r")
    assert len(ran("forever")) == 5


def test_an_undecodable_payload_is_a_dead_letter_at_once() -> None:
    """An actor declared with another definition of the event cannot decode it (as in a worker)."""
    registry = Registry()
    sent = registry.add(Event("inline.mismatch", str).with_response(int))
    registry.add(walnats_django.Actor("wants-int", Event("inline.mismatch", int).with_response(int), abs))
    with inline(registry=registry) as bus, pytest.raises(RemoteError) as info:
        walnats_django.request_sync(sent, "not a number")
    assert info.value.type_name == "SerializationError"
    assert info.value.actor == "wants-int"
    [letter] = bus.dead_letters
    assert letter.attempts == 1
    assert letter.payload is None
    assert letter.data == b'"not a number"'


def test_an_answer_that_cannot_be_encoded_is_an_error_answer(bus: InlineBus) -> None:
    with pytest.raises(RemoteError) as info:
        walnats_django.request_sync(BAD_ANSWER, "x")
    assert info.value.type_name == "SerializationError"
    assert "cannot encode answer of actor 'bad-answer'" in info.value.remote_message
    assert bus.dead_letters == [], "the job itself succeeded"


def test_an_answer_over_max_payload_is_an_error_answer() -> None:
    with inline(registry=REGISTRY, max_payload=1000), pytest.raises(RemoteError) as info:
        walnats_django.request_sync(BIG_ANSWER, 1001)
    assert info.value.type_name == "PayloadTooLarge"
    assert "the answer takes 1001 bytes, over the server's max_payload of 1000" in info.value.remote_message


# -- several actors, chains ----------------------------------------------------------------------


def test_every_actor_of_an_event_runs_in_registration_order(bus: InlineBus) -> None:
    walnats_django.emit_sync(NOTE, "both")
    [message] = bus.emitted(NOTE)
    assert [d.actor.name for d in message.deliveries] == ["note-sync", "note-async"]
    assert message.results == {"note-sync": None, "note-async": None}
    assert [name for name, _ in calls] == ["note-sync", "note-async"]


def test_a_request_with_several_actors_gets_the_first_success() -> None:
    registry = Registry()
    event = registry.add(Event("inline.many", str).with_response(str))

    def fails(text: str) -> str:
        raise LookupError("not me")

    registry.add(walnats_django.Actor("first-fails", event, fails, max_attempts=1))
    registry.add(walnats_django.Actor("second-answers", event, str.upper))
    registry.add(walnats_django.Actor("third-answers", event, str.lower))
    with inline(registry=registry) as bus:
        assert walnats_django.request_sync(event, "Hi") == "HI"
    assert bus.emitted(event)[0].results == {"second-answers": "HI", "third-answers": "hi"}


def test_a_request_whose_actors_all_fail_gets_the_first_actors_error() -> None:
    registry = Registry()
    event = registry.add(Event("inline.all-fail", str).with_response(str))

    def one(text: str) -> str:
        raise LookupError("one")

    def two(text: str) -> str:
        raise ValueError("two")

    registry.add(walnats_django.Actor("one", event, one, max_attempts=1))
    registry.add(walnats_django.Actor("two", event, two, max_attempts=1))
    with inline(registry=registry) as bus, pytest.raises(RemoteError) as info:
        walnats_django.request_sync(event, "x")
    assert (info.value.type_name, info.value.actor) == ("LookupError", "one")
    assert [letter.actor for letter in bus.dead_letters] == ["one", "two"]


async def test_handlers_that_emit_and_request_chain_in_process(bus: InlineBus) -> None:
    assert await walnats_django.request(CHAIN, "up") == "UP"
    bus.assert_emitted(NOTE, times=1, where=lambda text: text == "up noted")
    bus.assert_emitted(SHOUT, times=1)
    assert ran("note-async") == ["up noted"]
    assert [m.event.name for m in bus.messages] == ["inline.chain", "inline.note", "inline.shout"]


def test_sync_handlers_chain_in_the_callers_thread(bus: InlineBus) -> None:
    assert walnats_django.request_sync(CHAIN_SYNC, "deep") == "DEEP"
    # chain-sync, then note-sync and shout, which it started: all in this thread.
    assert threads == [threading.get_ident()] * 3
    assert ran("note-sync") == ["deep noted"]


async def test_sync_handlers_chain_in_one_thread_from_async_code(bus: InlineBus) -> None:
    assert await walnats_django.request(CHAIN_SYNC, "deep") == "DEEP"
    assert len(threads) == 3
    assert len(set(threads)) == 1, "thread-sensitive: the whole chain shares one thread (one DB connection)"


async def test_a_failure_deep_in_a_chain_reaches_the_outermost_caller() -> None:
    registry = Registry()
    outer = registry.add(Event("inline.outer", str).with_response(str))
    registry.add(BROKEN_EMIT)
    registry.add(next(a for a in REGISTRY.actors if a.name == "broken-emit"))

    async def emits_broken(text: str) -> str:
        await walnats_django.emit(BROKEN_EMIT, text)  # does not raise in the handler, as on the wire
        return "answered"

    registry.add(walnats_django.Actor("emits-broken", outer, emits_broken))
    with inline(registry=registry) as bus, pytest.raises(KeyError):
        await walnats_django.request(outer, "x")
    assert bus.emitted(outer)[0].deliveries[0].result == "answered"
    with inline(registry=registry, raise_errors=False) as bus:
        assert await walnats_django.request(outer, "x") == "answered"
    assert len(bus.dead_letters) == 1


# -- timeouts ----------------------------------------------------------------------------------


async def test_an_async_handler_past_job_timeout_is_cancelled_and_fails(bus: InlineBus) -> None:
    started = time.monotonic()
    with pytest.raises(RemoteError) as info:
        await walnats_django.request(SLOW, 5.0)
    assert time.monotonic() - started < 2.0, "job_timeout 0.2 s cancels the 5 s sleep"
    assert (info.value.type_name, info.value.remote_message) == (
        "TimeoutError",
        "job_timeout of 0.2s exceeded",
    )


def test_a_sync_handler_past_job_timeout_fails_once_it_returns(bus: InlineBus) -> None:
    with pytest.raises(RemoteError) as info:
        walnats_django.request_sync(SLOW_SYNC, 0.3)
    assert (info.value.type_name, info.value.remote_message) == (
        "TimeoutError",
        "job_timeout of 0.2s exceeded",
    )
    assert ran("slow-sync") == [0.3]


def test_a_request_answered_after_its_timeout_raises_request_timeout(bus: InlineBus) -> None:
    with pytest.raises(RequestTimeout, match=r"no answer within 0\.1s"):
        walnats_django.request_sync(SLOW_SYNC, 0.15, timeout=0.1)


# -- delays --------------------------------------------------------------------------------------


def test_delayed_emits_wait_for_run_delayed(bus: InlineBus) -> None:
    walnats_django.emit_sync(NOTE, "later", delay=3600)
    walnats_django.emit_sync(NOTE, "now")
    assert ran("note-sync") == ["now"]
    [held] = bus.held
    assert held.payload == "later"
    assert held.held
    assert held.delayed_until is not None
    assert held.delayed_until > time.time() + 3000
    assert [m.payload for m in bus.emitted(NOTE)] == ["later", "now"], "stored, but not delivered yet"
    assert bus.run_delayed() == 1
    assert ran("note-sync") == ["now", "later"]
    assert not held.held
    assert bus.run_delayed() == 0


async def test_arun_delayed_runs_held_emits_from_async_code(bus: InlineBus) -> None:
    await walnats_django.emit(NOTE, "later", delay=60)
    with pytest.raises(SynchronousOnlyOperation, match="arun_delayed"):
        bus.run_delayed()
    assert await bus.arun_delayed() == 1
    assert ran("note-async") == ["later"]


def test_emits_delayed_while_running_delayed_ones_wait_for_the_next_call() -> None:
    registry = Registry()
    tick = registry.add(Event("inline.tick", int))

    async def again(n: int) -> None:
        calls.append(("tick", n))
        await walnats_django.emit(tick, n + 1, delay=10)

    registry.add(walnats_django.Actor("again", tick, again))
    with inline(registry=registry) as bus:
        walnats_django.emit_sync(tick, 1, delay=10)
        assert bus.run_delayed() == 1
        assert bus.run_delayed() == 1
    assert ran("tick") == [1, 2]


def test_a_delayed_request_runs_at_once(bus: InlineBus) -> None:
    """The caller waits for the answer, and inline does not simulate time."""
    assert walnats_django.request_sync(SHOUT, "x", delay=3600) == "X"


def test_a_delay_too_short_to_matter_is_not_held(bus: InlineBus) -> None:
    """A worker naks only delays over 1 ms."""
    walnats_django.emit_sync(NOTE, "now", delay=0)
    assert ran("note-sync") == ["now"]
    assert bus.held == []


def test_each_attempt_gets_a_freshly_decoded_payload() -> None:
    """As each redelivery is decoded again: a failed attempt's changes do not leak into the next."""
    registry = Registry()
    event = registry.add(Event("inline.mutates", Order))

    def mutate_then_fail_once(order: Order) -> None:
        calls.append(("mutates", list(order.items)))
        order.items.append("changed")
        if len(calls) == 1:
            raise ValueError("first attempt fails")

    registry.add(walnats_django.Actor("mutates", event, mutate_then_fail_once, retry_delay=(0,)))
    with inline(registry=registry):
        walnats_django.emit_sync(event, Order(id=1, items=["a"]))
    assert ran("mutates") == [["a"], ["a"]]


def test_an_actor_giving_up_on_a_delayed_emit_raises_from_run_delayed(bus: InlineBus) -> None:
    walnats_django.emit_sync(BROKEN_EMIT, "later", delay=60)
    with pytest.raises(KeyError):
        bus.run_delayed()
    assert [letter.payload for letter in bus.dead_letters] == ["later"]
