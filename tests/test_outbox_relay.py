"""`manage.py relayoutbox` as its own process on a file database shared with the test: killed
between publishing a batch and committing it, it loses and duplicates nothing; two relays at
once store each row once and stop on SIGTERM; NATS down is logged once and the relay resumes by
itself; a database without the outbox table is a clear error.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connections

from tests.helpers import CommandProcess, Relays, await_line, until
from tests.outbox_rows import sent_rows, write_rows
from tests.streams import reset_async, stored_async
from tests.testapp.outbox_events import OB_BULK
from walnats_django.testing import NatsServer

RELAY = "relay"
"""The file database of tests/settings.py that the relay subprocesses use too."""

pytestmark = pytest.mark.django_db(transaction=True, databases=[RELAY])

StartRelay = Callable[..., CommandProcess]


@pytest.fixture
def relay_db() -> str:
    """The path of the test database behind the "relay" alias."""
    return str(connections[RELAY].settings_dict["NAME"])


@pytest.fixture
def start_relay(relay_db: str, nats_server: NatsServer) -> Iterator[StartRelay]:
    """Start `relayoutbox --database relay <args>` subprocesses; all are killed at the end."""
    relays = Relays(RELAY, DJANGO_SETTINGS_MODULE="tests.settings")

    def start(*args: str, nats_url: str | None = None, database_path: str = relay_db) -> CommandProcess:
        return relays.start(*args, NATS_URL=nats_url or nats_server.url, WALNATS_TEST_RELAY_DB=database_path)

    yield start
    relays.stop()


def all_sent(count: int) -> Callable[[], Coroutine[Any, Any, bool]]:
    """For `until`: whether `count` rows are marked sent."""

    async def check() -> bool:
        return await sent_rows(RELAY) == count

    return check


async def stored_uids(url: str) -> list[str | None]:
    return [message.uid for message in await stored_async(url, OB_BULK)]


async def exit_code(process: CommandProcess) -> int:
    return await asyncio.to_thread(process.wait)


async def test_a_relay_killed_between_publishing_and_committing_loses_and_duplicates_nothing(
    nats_server: NatsServer, relay_db: str, start_relay: StartRelay
) -> None:
    await reset_async(nats_server.url, OB_BULK)
    uids = await write_rows(RELAY, 2000, "row")
    # While the test holds SQLite's write lock, the relay reads a batch and publishes it, but its
    # commit fails ("database is locked"): it is stuck in the window where a crash could lose or
    # duplicate, and stays there (it retries the batch) until the kill.
    lock = sqlite3.connect(relay_db, isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")
    try:
        first = start_relay("--batch-size", "500")
        await await_line(first, "Outbox relay: database 'relay' unavailable")
        first.process.kill()
        assert await exit_code(first) == -signal.SIGKILL
        assert await stored_uids(nats_server.url) == uids[:500], "the first batch was published"
        assert await sent_rows(RELAY) == 0, "and not committed: the relay died mid-batch"
    finally:
        lock.execute("ROLLBACK")
        lock.close()

    second = start_relay("--once", "--batch-size", "500")
    assert await exit_code(second) == 0, second.log()
    assert await stored_uids(nats_server.url) == uids, "every row once, in order"
    assert await sent_rows(RELAY) == 2000


async def test_two_relays_at_once_store_each_row_once_and_stop_on_sigterm(
    nats_server: NatsServer, start_relay: StartRelay
) -> None:
    await reset_async(nats_server.url, OB_BULK)
    uids = await write_rows(RELAY, 1000, "pair")
    relays = [start_relay("--batch-size", "50") for _ in range(2)]
    for relay in relays:  # both run (their signal handlers in place) before either may finish
        await await_line(relay, "Outbox relay started")
    await until(all_sent(1000), "every row sent", timeout=60)
    for relay in relays:
        relay.signal(signal.SIGTERM)
    for relay in relays:
        assert await exit_code(relay) == 0, relay.log()
        assert "Received SIGTERM, shutting down gracefully" in relay.log()
    stored = await stored_uids(nats_server.url)
    assert len(stored) == 1000
    assert set(stored) == set(uids)


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A server of this test's own, so stopping it does not disturb other tests."""
    with NatsServer(store_dir=tmp_path / "store") as server:
        yield server


async def test_nats_down_is_logged_once_and_the_relay_resumes_by_itself(
    own_server: NatsServer, start_relay: StartRelay
) -> None:
    await reset_async(own_server.url, OB_BULK)
    own_server.stop()
    uids = await write_rows(RELAY, 100, "outage")
    relay = start_relay("--batch-size", "20", nats_url=own_server.url)
    await await_line(relay, "Outbox relay: NATS unavailable")
    retried = await await_line(relay, "Outbox relay: NATS still unavailable")
    await await_line(relay, "Outbox relay: NATS still unavailable", since=relay.lines.index(retried) + 1)
    own_server.start()
    await await_line(relay, "Outbox relay: NATS is back")
    await until(all_sent(100), "every row sent", timeout=30)
    relay.signal(signal.SIGTERM)
    assert await exit_code(relay) == 0, relay.log()
    assert relay.log().count("NATS unavailable") == 1, "logged once per outage, not per row or retry"
    assert await stored_uids(own_server.url) == uids


@pytest.mark.django_db(databases=[])
def test_a_database_without_the_outbox_table_is_a_clear_error(
    tmp_path: Path, start_relay: StartRelay
) -> None:
    relay = start_relay("--once", database_path=str(tmp_path / "empty.sqlite3"))
    assert relay.wait() == 1
    assert "run `manage.py migrate walnats_outbox --database relay`" in relay.log()
