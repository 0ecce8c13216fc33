"""Event and Limits: validation, with_response, subject and stream names, serializers."""

from __future__ import annotations

import dataclasses
import datetime
import math
from typing import Any

import pytest

from walnats_django import Event, Limits
from walnats_django.serializers import DatetimeSerializer, JSONSerializer


class Upper:
    def encode(self, message: str) -> bytes:
        return message.upper().encode()

    def decode(self, data: bytes) -> str:
        return data.decode().lower()


def test_limits_default_to_unlimited() -> None:
    limits = Limits()
    assert dataclasses.astuple(limits) == (None, None, None, None, None)
    assert Event("e", str).limits == Limits()


def test_limits_accept_positive_values() -> None:
    limits = Limits(age=1.5, consumers=2, messages=3, bytes=4, message_size=5)
    assert dataclasses.astuple(limits) == (1.5, 2, 3, 4, 5)
    assert Limits(age=60).age == 60


@pytest.mark.parametrize("field", ["age", "consumers", "messages", "bytes", "message_size"])
@pytest.mark.parametrize("value", [0, -1, True, "10", math.nan, math.inf])
def test_limits_reject_non_positive_or_non_numbers(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=rf"^Limits\.{field} must be a positive number or None"):
        Limits(**{field: value})  # type: ignore[arg-type]


@pytest.mark.parametrize("field", ["consumers", "messages", "bytes", "message_size"])
def test_limits_counts_must_be_ints(field: str) -> None:
    with pytest.raises(ValueError, match=rf"^Limits\.{field} must be an int, got 1\.5\.$"):
        Limits(**{field: 1.5})  # type: ignore[arg-type]


def test_limits_evolve_returns_a_changed_copy() -> None:
    limits = Limits(age=10, messages=5)
    changed = limits.evolve(messages=7)
    assert changed == Limits(age=10, messages=7)
    assert limits.messages == 5
    with pytest.raises(ValueError, match="positive"):
        limits.evolve(age=-1)


def test_limits_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Limits().age = 1  # type: ignore[misc]


def test_event_subject_is_its_name() -> None:
    assert Event("count-words", str).subject == "count-words"
    assert Event("orders.created", str).subject == "orders.created"


@pytest.mark.parametrize(
    ("name", "stream"),
    [
        ("count-words", "count-words"),
        ("orders.created", "orders-created"),
        ("a.b.c", "a-b-c"),
        ("x_y", "x_y"),
    ],
)
def test_stream_name_replaces_dots_with_dashes(name: str, stream: str) -> None:
    assert Event(name, str).stream_name == stream


def test_event_defaults() -> None:
    event = Event("e", int)
    assert event.schema is int
    assert event.serializer is None
    assert event.description is None
    assert event.response_schema is None
    assert event.response_serializer is None
    assert event.has_response is False
    assert event.payload_serializer == JSONSerializer(int)


def test_event_rejects_schema_without_serializer() -> None:
    with pytest.raises(TypeError, match="no default serializer for <class 'set'>"):
        Event("e", set)


def test_event_accepts_any_schema_with_a_custom_serializer() -> None:
    upper = Upper()
    event = Event("e", set, serializer=upper)  # type: ignore[arg-type]
    assert event.payload_serializer is upper


def test_event_rejects_serializer_without_encode_and_decode() -> None:
    class EncodeOnly:
        def encode(self, message: str) -> bytes:
            return message.encode()

    with pytest.raises(TypeError, match=r"serializer of event 'e' needs encode\(\) and decode\(\)"):
        Event("e", str, serializer=EncodeOnly())  # type: ignore[arg-type]


def test_event_rejects_limits_of_another_type() -> None:
    with pytest.raises(TypeError, match="limits of event 'e' must be a Limits instance"):
        Event("e", str, limits={"age": 1})  # type: ignore[arg-type]


def test_event_description_length() -> None:
    assert Event("e", str, description="d" * 4096).description == "d" * 4096
    with pytest.raises(ValueError, match="longer than 4096"):
        Event("e", str, description="d" * 4097)


def test_with_response_makes_a_request_event_copy() -> None:
    base = Event("count-words", str, description="count", limits=Limits(age=5))
    event = base.with_response(int)
    assert event.has_response is True
    assert event.response_schema is int
    assert event.answer_serializer == JSONSerializer(int)
    assert (event.name, event.schema, event.description, event.limits) == (
        "count-words",
        str,
        "count",
        Limits(age=5),
    )
    assert base.has_response is False
    assert base.response_schema is None
    assert event != base


def test_with_response_custom_serializer() -> None:
    upper = Upper()
    event = Event("e", str).with_response(set, upper)  # type: ignore[arg-type]
    assert event.answer_serializer is upper


def test_with_response_none_means_an_empty_answer() -> None:
    event = Event("e", str).with_response(None)
    assert event.has_response
    assert event.answer_serializer.encode(None) == b"null"


def test_with_response_rejects_unsupported_types() -> None:
    with pytest.raises(TypeError, match="no default serializer for <class 'set'>"):
        Event("e", str).with_response(set)


def test_with_response_rejects_bad_serializer() -> None:
    with pytest.raises(TypeError, match=r"response serializer of event 'e' needs encode\(\) and decode\(\)"):
        Event("e", str).with_response(int, object())  # type: ignore[arg-type]


def test_response_schema_not_checked_without_has_response() -> None:
    # Only with_response() (has_response=True) makes the answer type matter.
    event = Event("e", str, response_schema=set)
    assert event.has_response is False


def test_serializers_follow_schema() -> None:
    event = Event("e", datetime.date).with_response(datetime.datetime)
    assert event.payload_serializer == DatetimeSerializer(datetime.date)
    assert event.answer_serializer == DatetimeSerializer(datetime.datetime)


def test_events_compare_by_value() -> None:
    assert Event("e", str) == Event("e", str)
    assert Event("e", str) != Event("e", int)
    assert Event("e", str).with_response(int) == Event("e", str).with_response(int)
    assert Event("e", str).with_response(int) != Event("e", str).with_response(str)
    assert hash(Event("e", str)) == hash(Event("e", str))


def test_event_is_frozen() -> None:
    event: Any = Event("e", str)
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.name = "other"
