"""When the puller asks for more messages: half a batch (or half the free slots) at a time."""

from __future__ import annotations

import types

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
