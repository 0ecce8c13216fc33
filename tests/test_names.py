"""Event and actor names: what NATS subjects, stream and durable consumer names allow."""

from __future__ import annotations

import pytest

from walnats_django.errors import InvalidName
from walnats_django.names import (
    MAX_NAME_LENGTH,
    actor_name_problem,
    event_name_problem,
    is_subject,
    require_valid,
)


@pytest.mark.parametrize(
    "name",
    ["count-words", "user_created", "a", "orders.created", "a.b.c", "A-1_b.C2", "x" * MAX_NAME_LENGTH],
)
def test_valid_event_names(name: str) -> None:
    assert event_name_problem(name) is None


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("", "non-empty str"),
        (None, "non-empty str"),
        (42, "non-empty str"),
        (b"count", "non-empty str"),
        ("x" * (MAX_NAME_LENGTH + 1), "longer than 255"),
        ("count words", "not a safe NATS subject"),
        ("count\twords", "not a safe NATS subject"),
        ("count\r\nPUB x 1", "not a safe NATS subject"),
        ("orders.*", "not a safe NATS subject"),
        ("orders.>", "not a safe NATS subject"),
        (">", "not a safe NATS subject"),
        ("$JS.API.STREAM.PURGE.x", "not a safe NATS subject"),
        (".orders", "not a safe NATS subject"),
        ("orders.", "not a safe NATS subject"),
        ("orders..created", "not a safe NATS subject"),
        ("orders/created", "not a safe NATS subject"),
        ("café", "not a safe NATS subject"),
        ("count-words\n", "not a safe NATS subject"),
        ("_INBOX.abc", "reserved"),
        ("_INBOX", "reserved"),
        ("walnats-internal", "reserved"),
    ],
)
def test_invalid_event_names(name: object, fragment: str) -> None:
    problem = event_name_problem(name)
    assert problem is not None
    assert fragment in problem


def test_event_name_problem_shows_the_name() -> None:
    problem = event_name_problem("bad name")
    assert problem is not None
    assert "'bad name'" in problem


def test_long_name_is_truncated_in_the_message() -> None:
    problem = event_name_problem("y" * 1000)
    assert problem is not None
    assert len(problem) < 200


@pytest.mark.parametrize("name", ["send-email", "send_email", "A1", "x" * MAX_NAME_LENGTH])
def test_valid_actor_names(name: str) -> None:
    assert actor_name_problem(name) is None


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("", "non-empty str"),
        (None, "non-empty str"),
        ("x" * (MAX_NAME_LENGTH + 1), "longer than 255"),
        ("send.email", "durable consumer name"),
        ("send email", "durable consumer name"),
        ("send*", "durable consumer name"),
        ("send>", "durable consumer name"),
        ("a/b", "durable consumer name"),
        ("a\nb", "durable consumer name"),
    ],
)
def test_invalid_actor_names(name: object, fragment: str) -> None:
    problem = actor_name_problem(name)
    assert problem is not None
    assert fragment in problem


@pytest.mark.parametrize("value", ["_INBOX.abc.r1", "count-words", "a.b.c", "x" * MAX_NAME_LENGTH])
def test_is_subject_accepts_literal_subjects(value: str) -> None:
    assert is_subject(value)


@pytest.mark.parametrize(
    "value",
    ["", "_INBOX.*", "_INBOX.>", "a b", "a\r\nb", "a\x00b", "a..b", ".a", "x" * (MAX_NAME_LENGTH + 1)],
)
def test_is_subject_refuses_wildcards_and_control_characters(value: str) -> None:
    assert not is_subject(value)


def test_require_valid() -> None:
    require_valid(None)
    with pytest.raises(InvalidName, match="bad things"):
        require_valid("bad things")
    assert issubclass(InvalidName, ValueError)
