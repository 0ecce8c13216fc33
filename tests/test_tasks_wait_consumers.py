"""`wait()` watches a result's key with an ordered consumer; it must not leave the consumer behind.

The server keeps an unsubscribed watch's consumer for nats-py's inactive_threshold (5 minutes)
and refuses a stream's 1,001st consumer, so leftovers made wait() fail after 1,000 calls.
"""

from __future__ import annotations

import nats
from django.utils import timezone

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
