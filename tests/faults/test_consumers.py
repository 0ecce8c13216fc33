"""A consumer deleted under a running worker: noticed and re-created within seconds, or, with
`--no-register`, a clear CommandError and a non-zero exit.

Measurements are printed: run with `pytest -s` to see them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import nats
from nats.js.errors import NotFoundError

import walnats_django
from tests.helpers import StartWorker, await_line, registered_actor, until
from tests.testapp.fault_events import FB_LOST, FB_NOREG
from walnats_django.client import get_connection
from walnats_django.jetstream import ensure_consumer, ensure_stream


async def test_deleted_consumer_is_noticed_and_recreated(start_worker: StartWorker, raw: nats.NATS) -> None:
    worker = start_worker("--actor", "fb-lost")
    assert await walnats_django.request(FB_LOST, "before", timeout=5) == "before"
    js = raw.jetstream()
    since = worker.mark()
    started = time.monotonic()
    await js.delete_consumer(FB_LOST.stream_name, "fb-lost")
    line = await await_line(worker, "Consumer gone actor=fb-lost", since, timeout=10)
    noticed_in = time.monotonic() - started
    assert "re-creating" in line

    async def exists() -> bool:
        try:
            await js.consumer_info(FB_LOST.stream_name, "fb-lost")
        except NotFoundError:
            return False
        return True

    await until(exists, "the consumer is re-created")
    recreated_in = time.monotonic() - started
    assert await walnats_django.request(FB_LOST, "after", timeout=5) == "after"
    assert worker.process.poll() is None
    assert noticed_in < 5
    print(
        f"\n[10] consumer deletion noticed after {noticed_in:.2f}s, re-created after {recreated_in:.2f}s, "
        "next request answered"
    )
    worker.signal()
    assert await asyncio.to_thread(worker.wait) == 0


async def test_deleted_consumer_with_no_register_exits_with_a_clear_error(
    start_worker: StartWorker, raw: nats.NATS
) -> None:
    conn = await get_connection(2)
    await ensure_stream(conn.js, FB_NOREG)
    await ensure_consumer(conn.js, registered_actor("fb-noreg"))
    worker = start_worker("--actor", "fb-noreg", "--no-register")
    assert await walnats_django.request(FB_NOREG, "before", timeout=5) == "before"
    started = time.monotonic()
    await raw.jetstream().delete_consumer(FB_NOREG.stream_name, "fb-noreg")
    code = await asyncio.to_thread(worker.wait, 15)
    exited_in = time.monotonic() - started
    assert code != 0
    log = worker.log()
    assert "CommandError: consumer 'fb-noreg' on stream 'faults-b-noreg' is gone" in log
    assert "--no-register" in log
    assert "Traceback" not in log
    print(
        f"\n[10] --no-register worker exited {code} after {exited_in:.2f}s: "
        f"{next(x for x in worker.lines if 'CommandError' in x)}"
    )


async def test_no_register_without_consumer_exits_with_a_clear_error(start_worker: StartWorker) -> None:
    conn = await get_connection(2)
    await ensure_stream(conn.js, FB_NOREG)
    with contextlib.suppress(NotFoundError):
        await conn.js.delete_consumer(FB_NOREG.stream_name, "fb-noreg")
    worker = start_worker("--actor", "fb-noreg", "--no-register", wait=False)
    code = await asyncio.to_thread(worker.wait, 15)
    assert code != 0
    assert "CommandError: consumer 'fb-noreg' on stream 'faults-b-noreg' is gone" in worker.log()
