"""The no-actor probe: each acked, unanswered request is checked once, ~20 ms after its PubAck.

The clock is a fake one and the probe is called by hand, so the tests do not depend on timing.
"""

from __future__ import annotations

import asyncio
import time
import types

import pytest
from nats.aio.msg import Msg

from walnats_django.client import probe
from walnats_django.client.mux import RequestMux
from walnats_django.client.pending import Pending
from walnats_django.client.probe import NO_ACTORS_PROBE_AFTER

PUBACK = b'{"stream":"s","seq":1}'


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(probe, "time", types.SimpleNamespace(monotonic=fake.monotonic, time=time.time))
    return fake


def _mux(probed: list[str]) -> RequestMux:
    requests = RequestMux(types.SimpleNamespace(_server_info={"jetstream": True}), "_INBOX.t")  # type: ignore[arg-type]
    requests.probe._probe = lambda pending: probed.append(pending.stream)  # type: ignore[method-assign]
    return requests


def _request(requests: RequestMux, token: str, stream: str, *, expects_answer: bool = True) -> Pending:
    pending = Pending(asyncio.get_running_loop().create_future(), stream, expects_answer)
    requests._pending[token] = pending
    return pending


async def _puback(requests: RequestMux, token: str) -> None:
    await requests._on_inbox(Msg(_client=None, subject=f"_INBOX.t.a{token}", data=PUBACK))  # type: ignore[arg-type]


async def test_each_unanswered_request_is_probed_once(clock: Clock) -> None:
    probed: list[str] = []
    requests = _mux(probed)
    watch = requests.probe
    _request(requests, "1", "first")
    answered = _request(requests, "2", "answered")
    _request(requests, "3", "later")
    await _puback(requests, "1")
    await _puback(requests, "2")
    assert watch._timer is not None, "armed by the first PubAck"
    step = NO_ACTORS_PROBE_AFTER * 0.6
    clock.now += step
    await _puback(requests, "3")
    answered.future.set_result(None)

    clock.now += step
    watch._probe_due()
    assert probed == ["first"]
    assert watch._timer is not None, "re-armed for the later request"
    clock.now += step
    watch._probe_due()
    assert probed == ["first", "later"]
    assert watch._timer is None, "no timer while nothing is left to probe"
    clock.now += NO_ACTORS_PROBE_AFTER
    watch._probe_due()
    assert probed == ["first", "later"], "probed once each"


async def test_requests_before_their_puback_and_emits_are_not_probed(clock: Clock) -> None:
    probed: list[str] = []
    requests = _mux(probed)
    _request(requests, "1", "no-puback-yet")
    emit = _request(requests, "2", "sync-emit", expects_answer=False)
    await _puback(requests, "2")
    assert emit.future.done(), "a waiting emit is done at its PubAck"
    clock.now += 10 * NO_ACTORS_PROBE_AFTER
    requests.probe._probe_due()
    assert probed == []
    assert requests.probe._timer is None
