"""`wait()` on the results bucket (ResultStore.wait_finished): it reads the key, then follows it with
an ordered consumer that it deletes when done.

The server keeps an ephemeral consumer until its inactive threshold passes (nats-py's KV watch:
5 minutes) and refuses a stream's 1,001st consumer, so leftovers made wait() fail at call 1,001.
"""

from __future__ import annotations

import asyncio
from typing import Any

import nats
import pytest
from django.utils import timezone
from nats.js import JetStreamContext

from tests.helpers import unique, until
from walnats_django.tasks import TaskWaitTimeout
from walnats_django.tasks.records import TaskRecord
from walnats_django.tasks.store import ResultStore
from walnats_django.testing import NatsServer


def ready_record() -> TaskRecord:
    return TaskRecord(
        id=unique("id"), task="tests.testapp.tasks.add", backend="default", queue="q", args=[], kwargs={}
    )


async def consumer_count(url: str, store: ResultStore) -> int:
    nc = await nats.connect(url)
    try:
        return (await nc.jetstream().stream_info(store.stream)).state.consumer_count
    finally:
        await nc.close()


async def test_a_wait_follows_the_key_until_finished_and_deletes_its_consumer(
    nats_server: NatsServer,
) -> None:
    store = ResultStore(unique("wait-follow"), ttl=60)
    record = ready_record()
    revision = await store.write(record, 0)
    assert revision
    waiting = asyncio.ensure_future(store.wait_finished(record.id, 10.0))
    await until(lambda: consumer_count(nats_server.url, store), "the wait's consumer")
    revision = await store.write(record.started("w", timezone.now()), revision)
    assert revision
    assert await store.write(record.succeeded(5, timezone.now()), revision)

    found = await waiting

    assert found is not None
    assert found.return_value == 5
    await until(lambda: _no_consumers(nats_server.url, store), "the wait's consumer deleted", timeout=2)


async def _no_consumers(url: str, store: ResultStore) -> bool:
    return await consumer_count(url, store) == 0


async def test_a_finished_result_is_read_without_a_consumer(
    nats_server: NatsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ResultStore(unique("wait-done"), ttl=60)
    record = ready_record().succeeded(7, timezone.now())
    assert await store.write(record, 0)

    async def no_subscribe(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a finished result needs no watch")

    monkeypatch.setattr(JetStreamContext, "subscribe", no_subscribe)

    found = await store.wait_finished(record.id, 5.0)

    assert found is not None
    assert found.return_value == 7


async def test_a_deleted_key_ends_the_wait_with_none(nats_server: NatsServer) -> None:
    store = ResultStore(unique("wait-deleted"), ttl=60)
    record = ready_record()
    assert await store.write(record, 0)
    waiting = asyncio.ensure_future(store.wait_finished(record.id, 10.0))
    await until(lambda: consumer_count(nats_server.url, store), "the wait's consumer")
    nc = await nats.connect(nats_server.url)
    try:
        kv = await nc.jetstream().key_value(store.bucket)
        await kv.delete(record.id)
    finally:
        await nc.close()

    assert await waiting is None


async def test_a_wait_past_its_timeout_names_the_status(nats_server: NatsServer) -> None:
    store = ResultStore(unique("wait-timeout"), ttl=60)
    record = ready_record()
    assert await store.write(record, 0)

    with pytest.raises(TaskWaitTimeout, match=r"within 0.2s \(status READY\)"):
        await store.wait_finished(record.id, 0.2)
    await until(lambda: _no_consumers(nats_server.url, store), "the wait's consumer deleted", timeout=2)


async def test_an_unknown_id_is_none(nats_server: NatsServer) -> None:
    store = ResultStore(unique("wait-unknown"), ttl=60)
    assert await store.write(ready_record(), 0)  # the bucket exists

    assert await store.wait_finished(unique("id"), 1.0) is None
