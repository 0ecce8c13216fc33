"""The no-actor probe: each acked, unanswered request is checked once, ~20 ms after its PubAck.

The clock is a fake one and the probe is called by hand, so the tests do not depend on timing.
"""

from __future__ import annotations

import asyncio
import time
import types

import pytest
from nats.aio.msg import Msg

from walnats_django import connection
from walnats_django.connection import NO_ACTORS_PROBE_AFTER, Connection, _Pending

PUBACK = b'{"stream":"s","seq":1}'


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(connection, "time", types.SimpleNamespace(monotonic=fake.monotonic, time=time.time))
    return fake


def _connection(probed: list[str]) -> Connection:
    conn = Connection(types.SimpleNamespace(jetstream=lambda: None), "_INBOX.t")  # type: ignore[arg-type]
    conn._probe_actors = lambda pending: probed.append(pending.stream)  # type: ignore[method-assign]
    return conn


def _request(conn: Connection, token: str, stream: str, *, expects_answer: bool = True) -> _Pending:
    pending = _Pending(asyncio.get_running_loop().create_future(), stream, expects_answer)
    conn._pending[token] = pending
    return pending


async def _puback(conn: Connection, token: str) -> None:
    await conn._on_inbox(Msg(_client=None, subject=f"_INBOX.t.a{token}", data=PUBACK))  # type: ignore[arg-type]


async def test_each_unanswered_request_is_probed_once(clock: Clock) -> None:
    probed: list[str] = []
    conn = _connection(probed)
    _request(conn, "1", "first")
    answered = _request(conn, "2", "answered")
    _request(conn, "3", "later")
    await _puback(conn, "1")
    await _puback(conn, "2")
    assert conn._probe_timer is not None, "armed by the first PubAck"
    step = NO_ACTORS_PROBE_AFTER * 0.6
    clock.now += step
    await _puback(conn, "3")
    answered.future.set_result(None)

    clock.now += step
    conn._probe_slow_requests()
    assert probed == ["first"]
    assert conn._probe_timer is not None, "re-armed for the later request"
    clock.now += step
    conn._probe_slow_requests()
    assert probed == ["first", "later"]
    assert conn._probe_timer is None, "no timer while nothing is left to probe"
    clock.now += NO_ACTORS_PROBE_AFTER
    conn._probe_slow_requests()
    assert probed == ["first", "later"], "probed once each"


async def test_requests_before_their_puback_and_emits_are_not_probed(clock: Clock) -> None:
    probed: list[str] = []
    conn = _connection(probed)
    _request(conn, "1", "no-puback-yet")
    emit = _request(conn, "2", "sync-emit", expects_answer=False)
    await _puback(conn, "2")
    assert emit.future.done(), "a sync emit is done at its PubAck"
    clock.now += 10 * NO_ACTORS_PROBE_AFTER
    conn._probe_slow_requests()
    assert probed == []
    assert conn._probe_timer is None
