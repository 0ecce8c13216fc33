"""`wait()` on the results bucket (ResultStore.wait_finished): a core subscription on the subject
the bucket republishes the key's stored writes to, then a read, and no JetStream consumer at all.

Consumers cost 2 JetStream API calls per wait, and leftovers once made wait() fail at call 1,001
(the server keeps an ephemeral consumer until its inactive threshold passes and refuses a stream's
1,001st).
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import nats
import pytest
from django.utils import timezone
from nats.js import JetStreamContext

from tests.helpers import unique, until, using
from walnats_django.client import get_connection
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


async def started_waiting(store: ResultStore, result_id: str) -> asyncio.Future[TaskRecord | None]:
    """Start a wait and return once its subscription is in place (it reads the key after)."""
    subscribed = asyncio.Event()
    original = store._read_encoded

    async def read(result_id: str) -> tuple[bytes, int] | None:
        subscribed.set()
        return await original(result_id)

    store._read_encoded = read  # type: ignore[method-assign]
    waiting = asyncio.ensure_future(store.wait_finished(result_id, 10.0))
    await asyncio.wait_for(subscribed.wait(), 5)
    return waiting


async def test_a_wait_follows_the_key_until_finished_without_a_consumer(nats_server: NatsServer) -> None:
    store = ResultStore(unique("wait-follow"), ttl=60)
    record = ready_record()
    revision = await store.write(record, 0)
    assert revision
    waiting = await started_waiting(store, record.id)
    assert await consumer_count(nats_server.url, store) == 0
    revision = await store.write(record.started("w", timezone.now()), revision)
    assert revision
    assert await store.write(record.succeeded(5, timezone.now()), revision)

    found = await waiting

    assert found is not None
    assert found.return_value == 5
    assert await consumer_count(nats_server.url, store) == 0


async def test_a_rejected_write_does_not_end_the_wait(nats_server: NatsServer) -> None:
    """A compare-and-set write JetStream refuses (a stale redelivery's) still reaches a core
    subscription: the wait reads the key before it believes a finished record."""
    store = ResultStore(unique("wait-rejected"), ttl=60)
    record = ready_record()
    revision = await store.write(record, 0)
    assert revision
    waiting = await started_waiting(store, record.id)
    assert await store.write(record.succeeded(99, timezone.now()), revision + 7) is None
    running = await store.write(record.started("w", timezone.now()), revision)
    assert running
    assert await store.write(record.succeeded(3, timezone.now()), running)

    found = await waiting

    assert found is not None
    assert found.status == "SUCCESSFUL"
    assert found.return_value == 3


async def test_a_finished_result_is_read_without_waiting(
    nats_server: NatsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ResultStore(unique("wait-done"), ttl=60)
    record = ready_record().succeeded(7, timezone.now())
    assert await store.write(record, 0)

    async def no_subscribe(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a wait makes no JetStream consumer")

    monkeypatch.setattr(JetStreamContext, "subscribe", no_subscribe)

    found = await store.wait_finished(record.id, 5.0)

    assert found is not None
    assert found.return_value == 7


async def test_a_deleted_key_ends_the_wait_with_none(nats_server: NatsServer) -> None:
    store = ResultStore(unique("wait-deleted"), ttl=60)
    record = ready_record()
    assert await store.write(record, 0)
    waiting = await started_waiting(store, record.id)
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


async def test_an_unknown_id_is_none(nats_server: NatsServer) -> None:
    store = ResultStore(unique("wait-unknown"), ttl=60)
    assert await store.write(ready_record(), 0)  # the bucket exists

    assert await store.wait_finished(unique("id"), 1.0) is None


async def test_a_bucket_made_before_republishing_is_updated_by_the_first_wait(
    nats_server: NatsServer,
) -> None:
    store = ResultStore(unique("wait-old-bucket"), ttl=60)
    nc = await nats.connect(nats_server.url)
    try:
        await nc.jetstream().add_stream(dataclasses.replace(store.config(), republish=None))
    finally:
        await nc.close()
    record = ready_record()
    revision = await store.write(record, 0)
    assert revision
    waiting = await started_waiting(store, record.id)
    await until(lambda: _republishes(nats_server.url, store), "the bucket republishing its writes")
    assert await store.write(record.succeeded(4, timezone.now()), revision)

    found = await waiting

    assert found is not None
    assert found.return_value == 4


async def _republishes(url: str, store: ResultStore) -> bool:
    nc = await nats.connect(url)
    try:
        return (await nc.jetstream().stream_info(store.stream)).config.republish is not None
    finally:
        await nc.close()


async def test_writes_stored_while_the_connection_was_down_end_the_wait_after_it_reconnects(
    tmp_path: Path,
) -> None:
    """The subscription misses what the bucket republished while this process was cut off;
    once reconnected, the wait reads the key again instead of waiting for its timeout."""
    server = NatsServer(store_dir=tmp_path / "store").start()
    try:
        with using(server, CONNECT_OPTIONS={"reconnect_time_wait": 4}):
            store = ResultStore(unique("wait-reconnect"), ttl=60)
            record = ready_record()
            revision = await store.write(record, 0)
            assert revision
            waiting = await started_waiting(store, record.id)
            conn = await get_connection(5)
            server.restart()  # same port and store; this process reconnects after reconnect_time_wait
            nc = await nats.connect(server.url)
            try:
                kv = await nc.jetstream().key_value(store.bucket)
                running = await kv.update(record.id, record.started("w", timezone.now()).encode(), revision)
                await kv.update(record.id, record.succeeded(11, timezone.now()).encode(), running)
            finally:
                await nc.close()
            assert not conn.nc.is_connected, "the writes must land while the waiting connection is down"

            found = await asyncio.wait_for(waiting, 20)

            assert found is not None
            assert found.return_value == 11
            assert conn.nc.stats["reconnects"] == 1
    finally:
        server.cleanup()
