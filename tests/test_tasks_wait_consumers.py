"""`wait()` watches a result's key with an ordered consumer (nats-py's KV watch): it must leave no
consumer behind, and must not take nats-py's early "no value" for a missing result.

The server keeps an unsubscribed watch's consumer for nats-py's inactive_threshold (5 minutes)
and refuses a stream's 1,001st consumer, so leftovers made wait() fail after 1,000 calls.
"""

from __future__ import annotations

from typing import Any

import nats
import pytest
from django.utils import timezone
from nats.js import JetStreamContext

from tests.helpers import unique, until
from walnats_django.tasks.records import TaskRecord
from walnats_django.tasks.store import ResultStore
from walnats_django.testing import NatsServer


async def test_a_finished_wait_deletes_its_consumer(nats_server: NatsServer) -> None:
    store = ResultStore(unique("wait-consumers"), ttl=60)
    record = TaskRecord(
        id=unique("id"), task="tests.testapp.tasks.add", backend="default", queue="q", args=[], kwargs={}
    ).succeeded(5, timezone.now())
    assert await store.write(record, 0)

    for _ in range(3):
        found = await store.wait_finished(record.id, 5.0)
        assert found is not None
        assert found.return_value == 5

    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()

        async def no_consumers() -> bool:
            return (await js.stream_info(store.stream)).state.consumer_count == 0

        await until(no_consumers, "the waits' consumers deleted", timeout=5)
    finally:
        await nc.close()


async def test_wait_finds_a_value_that_arrives_after_the_watch_said_there_was_none(
    nats_server: NatsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """nats-py's watch() announces "no values" when the consumer's info shows nothing pending and
    nothing has arrived yet; the server may count the value as delivered before it reaches this
    client (seen once in thousands of benchmark calls). The value then follows the announcement,
    which alone must not make wait() say the result does not exist."""
    store = ResultStore(unique("wait-early"), ttl=60)
    record = TaskRecord(
        id=unique("id"), task="tests.testapp.tasks.add", backend="default", queue="q", args=[], kwargs={}
    ).succeeded(7, timezone.now())
    assert await store.write(record, 0)
    consumer_info = JetStreamContext.PushSubscription.consumer_info

    async def info_sent_before_the_value(self: Any) -> Any:
        info = await consumer_info(self)
        info.num_pending = 0
        self.delivered = 0
        return info

    monkeypatch.setattr(JetStreamContext.PushSubscription, "consumer_info", info_sent_before_the_value)

    found = await store.wait_finished(record.id, 5.0)

    assert found is not None
    assert found.return_value == 7
