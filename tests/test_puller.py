"""The puller: when it asks for more messages (half a batch, or half the free slots, at a time),
and what it takes for a JetStream status message.
"""

from __future__ import annotations

import json
import types

import nats
import pytest

import walnats_django
from tests.helpers import delete_streams, eventually, start_in_process, stop_in_process
from walnats_django import Actor, Event
from walnats_django.testing import NatsServer
from walnats_django.worker import Worker
from walnats_django.worker.puller import Puller, _Pull


def _puller(batch: int, *, no_wait: bool = False) -> Puller:
    nc = types.SimpleNamespace(new_inbox=lambda: "_INBOX.pull")
    return Puller(
        nc,
        "stream",
        "consumer",
        batch=batch,
        no_wait=no_wait,  # type: ignore[arg-type]
        on_message=lambda msg: None,
        on_status=lambda: None,
        on_lost=lambda reason: None,
        on_unavailable=lambda: None,
    )


def test_pulls_once_half_the_slots_are_free_and_not_requested() -> None:
    puller = _puller(16)
    assert puller.wants(16)
    puller._pulls.append(_Pull(16, expires_at=1e18))
    assert not puller.wants(16), "all slots already requested"
    puller._pulls[0].remaining = 9
    assert not puller.wants(16), "7 free of 16: below half a batch"
    puller._pulls[0].remaining = 8
    assert puller.wants(16)


def test_a_single_free_slot_is_enough_for_a_small_actor() -> None:
    puller = _puller(1)
    assert puller.wants(1)
    puller._pulls.append(_Pull(1, expires_at=1e18))
    assert not puller.wants(1)


def test_burst_mode_pulls_for_any_free_slot() -> None:
    puller = _puller(16, no_wait=True)
    puller._pulls.append(_Pull(15, expires_at=1e18))
    assert puller.wants(16)


def test_an_expired_pull_request_is_worth_a_wake() -> None:
    puller = _puller(16)
    puller._pulls.append(_Pull(16, expires_at=0.0))
    assert puller.wants(16)


async def test_event_with_a_status_meta_header_is_handled(nats_server: NatsServer) -> None:
    """puller.py:98-131: any message with a `Status` header is taken for a JetStream status.

    `meta` may set `Status` (only `Walnats-*`/`Nats-*` are reserved; a walnats 1.2.6 peer may
    set anything), and nats-py parses a `Status: ...` header line into the same dict key as
    the inline status of `NATS/1.0 404`. The puller then treats the event as "pull request
    ended", never calls the handler and never acks: JetStream redelivers it every `ack_wait`,
    forever (or until max_attempts, silently). `Status: 409` + `Description: Consumer
    Deleted` even makes the worker re-create its consumer. A real message has a `$JS.ACK.`
    reply subject; a status message has none.
    """
    event = Event("review.status-meta", str)
    handled: list[str] = []

    async def handler(text: str) -> None:
        handled.append(text)

    worker = Worker([Actor("review-status-meta", event, handler)])
    task = await start_in_process(worker)
    try:
        # walnats-django refuses such meta; a walnats 1.2.6 peer may still send it.
        with pytest.raises(walnats_django.InvalidHeader, match="reserved"):
            await walnats_django.emit(event, "refused", meta={"Status": "draft"}, wait=True)
        raw = await nats.connect(nats_server.url)
        try:
            await raw.jetstream().publish(event.subject, b'"draft order"', headers={"Status": "draft"})
        finally:
            await raw.close()
        assert await eventually(lambda: handled, 3), "an event with a Status header was never handled"
        assert handled == ["draft order"]
    finally:
        await stop_in_process(worker, task)
        await delete_streams(nats_server.url, event.stream_name)


def _status(code: str, description: str = "") -> object:
    headers = {"Status": code, **({"Description": description} if description else {})}
    return types.SimpleNamespace(reply="", headers=headers, subject="_INBOX.pull", data=b"")


async def test_no_responders_is_not_taken_for_a_deleted_consumer() -> None:
    seen: list[str] = []
    puller = Puller(
        types.SimpleNamespace(new_inbox=lambda: "_INBOX.pull"),  # type: ignore[arg-type]
        "stream",
        "consumer",
        batch=4,
        no_wait=False,
        on_message=lambda msg: None,
        on_status=lambda: seen.append("status"),
        on_lost=lambda reason: seen.append(f"lost {reason}"),
        on_unavailable=lambda: seen.append("unavailable"),
    )
    puller._pulls.append(_Pull(4, expires_at=1e18))
    await puller._on_delivery(_status("503"))  # type: ignore[arg-type]
    assert seen == ["unavailable", "status"], "503 (also a leader election): look before calling it lost"
    assert puller.credits == 0
    await puller._on_delivery(_status("409", "Consumer Deleted"))  # type: ignore[arg-type]
    assert seen[-2:] == ["lost 409 Consumer Deleted", "status"]


def test_pulls_whose_heartbeats_stopped_are_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    from walnats_django.worker import puller as module

    now = [100.0]
    monkeypatch.setattr(module, "time", types.SimpleNamespace(monotonic=lambda: now[0]))
    puller = _puller(4)
    puller._pulls.append(_Pull(4, expires_at=105.0))
    puller._heard_at = 100.0
    silence = module.MISSED_HEARTBEATS * module.PULL_HEARTBEAT
    assert puller.next_expiry() == pytest.approx(silence + 0.05), "woken when heartbeats are overdue"
    now[0] += silence
    assert not puller.drop_silent(), "still within the missed-heartbeat allowance"
    now[0] += 0.1
    assert puller.drop_silent(), "silent for longer: the pull died with its consumer leader"
    assert puller.credits == 0
    assert not puller.drop_silent()


def test_burst_pulls_have_no_heartbeats_to_miss(monkeypatch: pytest.MonkeyPatch) -> None:
    puller = _puller(4, no_wait=True)
    puller._pulls.append(_Pull(4, expires_at=1e18))
    puller._heard_at = -1e9
    assert not puller.drop_silent()


async def test_after_a_silence_pulls_ask_for_quick_heartbeats_until_the_server_is_heard(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """BUG (puller.py): where nothing answers "no responders" (a partition, a node gone without
    closing its connections), a pull that reached no consumer leader was known lost only after two
    missed 0.5 s heartbeats, so a new leader got its first pull up to a second after its election
    (measured in a minority partition: requests answered again 1.01 s after the election)."""
    from walnats_django.worker import puller as module

    now = [100.0]
    monkeypatch.setattr(module, "time", types.SimpleNamespace(monotonic=lambda: now[0]))
    asked: list[float] = []

    async def publish(subject: str, payload: bytes, reply: str = "") -> None:
        asked.append(json.loads(payload)["idle_heartbeat"] / 1e9)

    nc = types.SimpleNamespace(new_inbox=lambda: "_INBOX.pull", is_connected=True, publish=publish)
    puller = Puller(
        nc,  # type: ignore[arg-type]
        "stream",
        "consumer",
        batch=4,
        no_wait=False,
        on_message=lambda msg: None,
        on_status=lambda: None,
        on_lost=lambda reason: None,
        on_unavailable=lambda: None,
    )
    puller._sub = object()  # type: ignore[assignment]
    await puller.top_up(4)
    assert asked == [module.PULL_HEARTBEAT]

    now[0] += module.MISSED_HEARTBEATS * module.PULL_HEARTBEAT + 0.1
    assert puller.drop_silent()
    await puller.top_up(4)
    assert asked[-1] == module.SEEKING_HEARTBEAT, "a pull that may reach no leader is watched closely"
    assert puller.next_expiry() < 0.3

    now[0] += 0.3
    assert puller.drop_silent(), "silent again within a quarter second"
    await puller.top_up(4)
    assert asked[-1] == module.SEEKING_HEARTBEAT

    await puller._on_delivery(_status("100", "Idle Heartbeat"))  # type: ignore[arg-type]
    assert not puller.seeking
    await puller.top_up(12)
    assert asked[-1] == module.PULL_HEARTBEAT, "heard again: heartbeats at the usual pace"
