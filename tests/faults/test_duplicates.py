"""Duplicate uids: a request with a uid already used raises DuplicateRequest at once (the
PubAck says so), a duplicate emit succeeds without being handled again, and of two concurrent
requests with one uid exactly one is answered. Measurements are printed: run with `pytest -s` to see them.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

import walnats_django
from tests.helpers import WorkerProcess, record_lines, unique
from tests.testapp.fault_events import FB_DUP
from walnats_django import DuplicateRequest


async def test_duplicate_uid_raises_duplicate_request_at_once(
    fb_worker: WorkerProcess, record_dir: Path
) -> None:
    uid = unique("uid")
    first, second, third = unique("first"), unique("second"), unique("third")
    assert await walnats_django.request(FB_DUP, first, uid=uid, timeout=5) == first
    started = time.monotonic()
    with pytest.raises(DuplicateRequest, match="uid"):
        await walnats_django.request(FB_DUP, second, uid=uid, timeout=5)
    duplicate_ms = (time.monotonic() - started) * 1000
    assert duplicate_ms < 500, "the PubAck says duplicate: no waiting for the timeout"
    # A duplicate *emit* is success: the uid exists to make re-emits safe. It is still not handled.
    await walnats_django.emit(FB_DUP, second, uid=uid, wait=True)
    assert await walnats_django.request(FB_DUP, third, uid=unique("uid"), timeout=5) == third
    handled = record_lines(record_dir / "fb-dup")
    assert handled.count(first) == 1
    assert second not in handled
    print(f"\n[13] duplicate uid: DuplicateRequest after {duplicate_ms:.1f} ms")


async def test_concurrent_requests_with_one_uid_one_answer_one_duplicate(fb_worker: WorkerProcess) -> None:
    uid = unique("uid")
    results = await asyncio.gather(
        *(walnats_django.request(FB_DUP, f"c{i}", uid=uid, timeout=5) for i in range(2)),
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in results) == ["DuplicateRequest", "str"], results
