"""Dead letters as messages: what `to_message` writes, `from_message` reads back."""

from __future__ import annotations

import dataclasses

from walnats_django import deadletters
from walnats_django.wire import HEADER_MSG_ID


def _letter(published_us: int) -> deadletters.DeadLetter:
    return deadletters.make(
        event="orders.created",
        actor="bill",
        stream="orders-created",
        stream_seq=1,
        attempts=3,
        error="ValueError: no",
        headers={"Walnats-Trace": "t-1"},
        payload=b'"order 7"',
        published_us=published_us,
    )


def test_round_trip_keeps_every_field() -> None:
    letter = _letter(1_796_054_785_140_132)
    headers, body = letter.to_message(max_payload=1 << 20)
    assert deadletters.DeadLetter.from_message(headers, body, seq=9) == dataclasses.replace(letter, seq=9)


def test_msg_id_tells_apart_messages_of_a_recreated_stream_with_the_same_sequence() -> None:
    first, again, recreated = _letter(1_000_000), _letter(1_000_000), _letter(2_000_000)

    def msg_id(letter: deadletters.DeadLetter) -> str:
        return letter.to_message(max_payload=1 << 20)[0][HEADER_MSG_ID]

    assert msg_id(first) == msg_id(again), "a retried recording is de-duplicated"
    assert msg_id(first) != msg_id(recreated)
