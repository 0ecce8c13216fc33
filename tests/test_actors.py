"""Actor: validation, walnats 1.2.6 defaults, retry delays and sync/async detection."""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import pytest

from walnats_django import Actor, Event

EVENT = Event("count-words", str).with_response(int)


def count(text: str) -> int:
    return len(text.split())


async def count_async(text: str) -> int:
    return len(text.split())


def make(**options: Any) -> Actor[str, int]:
    return Actor("count", EVENT, count, **options)


def test_defaults_equal_walnats_1_2_6() -> None:
    actor = make()
    assert actor.description is None
    assert actor.ack_wait == 16
    assert actor.max_attempts is None
    assert actor.max_ack_pending == 1000
    assert actor.max_jobs == 16
    assert actor.job_timeout == 32
    assert actor.retry_delay == (0.5, 1, 2, 4)


def test_options_are_kept() -> None:
    actor = make(
        description="counts",
        ack_wait=3.5,
        max_attempts=2,
        max_ack_pending=7,
        max_jobs=1,
        job_timeout=0.25,
        retry_delay=[0, 3],
    )
    assert (
        actor.description,
        actor.ack_wait,
        actor.max_attempts,
        actor.max_ack_pending,
        actor.max_jobs,
        actor.job_timeout,
    ) == ("counts", 3.5, 2, 7, 1, 0.25)
    assert actor.retry_delay == (0, 3)


def test_retry_delay_becomes_a_tuple() -> None:
    actor = make(retry_delay=[1, 2])
    assert type(actor.retry_delay) is tuple
    assert make(retry_delay=(x for x in (5.0,))).retry_delay == (5.0,)


def test_event_must_be_an_event() -> None:
    with pytest.raises(TypeError, match="Actor 'count': event must be an Event, got str"):
        Actor("count", "count-words", count)  # type: ignore[arg-type]


def test_handler_must_be_callable() -> None:
    with pytest.raises(TypeError, match="Actor 'count': handler must be callable"):
        Actor("count", EVENT, "count")  # type: ignore[arg-type]


@pytest.mark.parametrize("field", ["ack_wait", "job_timeout", "max_ack_pending", "max_jobs", "max_attempts"])
@pytest.mark.parametrize("value", [0, -1, True, "3", math.nan, math.inf])
def test_numbers_must_be_positive(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=rf"^Actor 'count': {field} must be a positive number, got "):
        make(**{field: value})


@pytest.mark.parametrize("field", ["max_ack_pending", "max_jobs", "max_attempts"])
def test_counts_must_be_ints(field: str) -> None:
    with pytest.raises(ValueError, match=rf"^Actor 'count': {field} must be an int, got 2\.0\.$"):
        make(**{field: 2.0})


@pytest.mark.parametrize("field", ["ack_wait", "job_timeout"])
def test_seconds_may_be_floats(field: str) -> None:
    assert getattr(make(**{field: 0.1}), field) == 0.1


def test_max_attempts_may_be_none_or_one() -> None:
    assert make(max_attempts=None).max_attempts is None
    assert make(max_attempts=1).max_attempts == 1


@pytest.mark.parametrize("delays", [(-1,), (1, "2"), (True,), (math.nan,), (1, math.inf)])
def test_retry_delay_values_must_be_numbers(delays: tuple[object, ...]) -> None:
    with pytest.raises(ValueError, match=r"^Actor 'count': retry_delay values must be numbers >= 0"):
        make(retry_delay=delays)


@pytest.mark.parametrize("delays", [1, 0.5, "12", None])
def test_retry_delay_must_be_a_sequence(delays: object) -> None:
    with pytest.raises(ValueError, match=r"^Actor 'count': retry_delay must be a sequence of seconds"):
        make(retry_delay=delays)


def test_retry_delay_may_be_empty_or_zero() -> None:
    assert make(retry_delay=()).retry_delay_for(1) == 0.0
    assert make(retry_delay=(0,)).retry_delay_for(3) == 0.0


def test_retry_delay_for_first_failure_uses_the_first_value() -> None:
    actor = make()
    assert [actor.retry_delay_for(attempt) for attempt in range(1, 8)] == [0.5, 1, 2, 4, 4, 4, 4]


def test_retry_delay_for_is_a_float() -> None:
    delay = make(retry_delay=(3,)).retry_delay_for(1)
    assert delay == 3.0
    assert type(delay) is float


def test_retry_delay_for_clamps_unknown_attempts_to_the_first() -> None:
    actor = make(retry_delay=(7, 9))
    assert actor.retry_delay_for(0) == 7
    assert actor.retry_delay_for(-3) == 7
    assert actor.retry_delay_for(2) == 9
    assert actor.retry_delay_for(10**6) == 9


class AsyncCallable:
    async def __call__(self, text: str) -> int:
        return 1


class SyncCallable:
    def __call__(self, text: str) -> int:
        return 1


@pytest.mark.parametrize(
    ("handler", "expected"),
    [
        (count, False),
        (count_async, True),
        (lambda text: 1, False),
        (functools.partial(count_async), True),
        (functools.partial(count), False),
        (AsyncCallable(), True),
        (SyncCallable(), False),
        (len, False),
    ],
)
def test_is_async(handler: Any, expected: bool) -> None:
    assert Actor("count", EVENT, handler).is_async is expected


def test_describe_handler() -> None:
    assert make().describe_handler() == f"{__name__}.count"
    assert Actor("count", EVENT, AsyncCallable()).describe_handler().startswith(f"{__name__}.")


def test_actor_is_frozen_and_compares_by_value() -> None:
    actor: Any = make()
    with pytest.raises(dataclasses.FrozenInstanceError):
        actor.name = "other"
    assert make() == make()
    assert make() != Actor("count", EVENT, count_async)
