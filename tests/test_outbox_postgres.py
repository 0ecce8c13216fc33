"""The outbox on a real PostgreSQL server (tests/postgres.py), relayed by `manage.py relayoutbox`
subprocesses: a committed `outbox.emit()` is published once and a rolled-back one never; three
relays at once (`SELECT ... FOR UPDATE SKIP LOCKED`) publish each of 2,000 rows once; a relay
killed between publishing a batch and committing it loses and duplicates nothing; a relay frozen
there (SIGSTOP) loses its session after `--idle-timeout`, another relay publishes its batch, and
the frozen one carries on once resumed; a live relay whose batch takes longer than `--idle-timeout`
to publish (slow PubAcks) keeps its session; one whose session ends before it took rows warns and
goes on. `--idle-timeout` is checked, and left out on SQLite.

Besides the stream, each test watches the subject with a core NATS subscription: it sees every
publish, including those JetStream's de-duplication keeps out of the stream.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import select
import signal
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any

import nats
import psycopg
import pytest
from asgiref.sync import sync_to_async
from django.core.management import CommandError, call_command
from django.db import connections, transaction
from django.test.utils import CaptureQueriesContext
from nats.aio.client import Client
from nats.aio.msg import Msg
from pytest_django import DjangoDbBlocker

from tests.helpers import CommandProcess, Relays, await_line, unique, until
from tests.outbox_rows import sent_rows, write_rows
from tests.postgres import PostgresServer, database_alias, forget_connection
from tests.streams import reset, reset_async, stored, stored_async
from tests.testapp.outbox_events import OB_BULK, OB_NOTE
from walnats_django import Event, outbox
from walnats_django.outbox.models import OutboxMessage, OutboxQuerySet, Status
from walnats_django.outbox.relay import Relay, RelayOptions
from walnats_django.testing import NatsServer
from walnats_django.wire import HEADER_MSG_ID

PG = "postgres"
"""The database alias, here and in the relays' settings (tests/settings_postgres.py)."""
TABLE = OutboxMessage._meta.db_table

pytestmark = pytest.mark.slow

StartRelay = Callable[..., CommandProcess]


@pytest.fixture(scope="module")
def postgres_url(django_db_blocker: DjangoDbBlocker) -> Iterator[str]:
    """A PostgreSQL server of this module's own, with a migrated outbox, as Django's "postgres"."""
    with PostgresServer() as server:
        url = server.create_database("outbox")
        with database_alias(PG, url), django_db_blocker.unblock():
            call_command("migrate", "walnats_outbox", database=PG, verbosity=0)
            forget_connection(PG)
            yield url


@pytest.fixture
async def outbox_db(postgres_url: str, django_db_blocker: DjangoDbBlocker) -> AsyncIterator[str]:
    """The "postgres" alias with an empty outbox, open to this test."""
    with django_db_blocker.unblock():
        await sync_to_async(OutboxMessage.objects.using(PG).all().delete)()
        yield PG
        await sync_to_async(forget_connection)(PG)


@pytest.fixture
def start_relay(postgres_url: str, nats_server: NatsServer) -> Iterator[StartRelay]:
    """Start `relayoutbox --database postgres <args>` subprocesses (on `nats_url`, the session's
    server by default); all are killed at the end."""
    relays = Relays(
        PG, DJANGO_SETTINGS_MODULE="tests.settings_postgres", WALNATS_TEST_POSTGRES_URL=postgres_url
    )

    def start(*args: str, nats_url: str = nats_server.url) -> CommandProcess:
        return relays.start(*args, NATS_URL=nats_url)

    yield start
    relays.stop()


class Publishes:
    """Every message published on an event's subject, in arrival order, as core NATS delivers it."""

    def __init__(self, url: str, event: Event[Any, Any]) -> None:
        self.url = url
        self.subject = event.name
        self.uids: list[str | None] = []
        self.times: list[float] = []
        """When each arrived (`time.monotonic()`)."""
        self._nc: Client | None = None

    async def __aenter__(self) -> Publishes:
        self._nc = await nats.connect(self.url)
        await self._nc.subscribe(self.subject, cb=self._received)
        await self._nc.flush()
        return self

    async def _received(self, msg: Msg) -> None:
        self.uids.append((msg.headers or {}).get(HEADER_MSG_ID))
        self.times.append(time.monotonic())

    async def drained(self) -> list[str | None]:
        """The uids of every publish so far: drain hands every message already sent our way to the
        callback before it closes, so call it after the publishers got their PubAcks."""
        if self._nc is not None:
            await self._nc.drain()
            self._nc = None
        return self.uids

    async def __aexit__(self, *exc_info: object) -> None:
        if self._nc is not None:
            await self._nc.close()


@sync_to_async
def sent_once() -> list[tuple[str, int]]:
    """Every row's (uid, attempts) if all are sent, else []: attempts counts committed batches."""
    rows = OutboxMessage.objects.using(PG).order_by("id")
    if rows.exclude(status=Status.SENT).exists():
        return []
    return list(rows.values_list("uid", "attempts"))


@sync_to_async
def outbox_rows() -> list[tuple[str, str]]:
    """Every row's (uid, status)."""
    return list(OutboxMessage.objects.using(PG).values_list("uid", "status"))


def all_sent(count: int) -> Callable[[], Coroutine[Any, Any, bool]]:
    """For `until`: whether `count` rows are marked sent."""

    async def check() -> bool:
        return await sent_rows(PG) == count

    return check


async def stored_uids(url: str, event: Event[Any, Any] = OB_BULK) -> list[str | None]:
    return [message.uid for message in await stored_async(url, event)]


async def exit_code(process: CommandProcess) -> int:
    return await asyncio.to_thread(process.wait)


class RolledBack(Exception):
    """Raised to roll a test transaction back."""


class SlowLink:
    """A TCP proxy to a NATS server that hands clients what the server sends `delay` seconds late,
    as a loaded cluster's PubAcks come: each publish that awaits one takes at least `delay`."""

    def __init__(self, server: NatsServer, delay: float) -> None:
        self.server = server
        self.delay = delay
        self.url = ""
        self._listener: asyncio.Server | None = None
        self._links: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> SlowLink:
        self._listener = await asyncio.start_server(self._link, "127.0.0.1", 0)
        self.url = f"nats://127.0.0.1:{self._listener.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._listener is not None
        self._listener.close()
        for link in self._links:
            link.cancel()
        await asyncio.gather(*self._links, return_exceptions=True)

    async def _link(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._links.add(task)
        host, port = self.server.url.removeprefix("nats://").rsplit(":", 1)
        try:
            server_reader, server_writer = await asyncio.open_connection(host, int(port))
            with contextlib.suppress(ConnectionError):
                await asyncio.gather(
                    self._pipe(client_reader, server_writer, 0.0),
                    self._pipe(server_reader, client_writer, self.delay),
                )
            server_writer.close()
        finally:
            client_writer.close()
            self._links.discard(task)

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
        """Copy `reader` to `writer`, each chunk `delay` seconds after it came, in order."""
        loop = asyncio.get_running_loop()
        chunks: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def forward() -> None:
            while True:
                due, data = await chunks.get()
                if not data:
                    break
                await asyncio.sleep(due - loop.time())
                writer.write(data)
                await writer.drain()
            writer.close()

        forwarder = asyncio.create_task(forward())
        try:
            while data := await reader.read(65536):
                chunks.put_nowait((loop.time() + delay, data))
            chunks.put_nowait((0.0, b""))
            await forwarder
        finally:
            forwarder.cancel()


async def test_a_committed_emit_is_published_once_and_a_rolled_back_one_never(
    outbox_db: str, nats_server: NatsServer, start_relay: StartRelay
) -> None:
    await reset_async(nats_server.url, OB_NOTE)
    dropped = unique("dropped")

    @sync_to_async
    def emit_twice() -> str:
        with transaction.atomic(using=PG):
            kept = outbox.emit(OB_NOTE, "kept", using=PG)
        with contextlib.suppress(RolledBack), transaction.atomic(using=PG):
            outbox.emit(OB_NOTE, "dropped", using=PG, uid=dropped)
            raise RolledBack
        return kept

    kept = await emit_twice()
    async with Publishes(nats_server.url, OB_NOTE) as publishes:
        for _ in range(2):  # the second run finds nothing left to publish
            relay = start_relay("--once")
            assert await exit_code(relay) == 0, relay.log()
        assert await publishes.drained() == [kept], "published once, by the first run"
    stored = await stored_async(nats_server.url, OB_NOTE)
    assert [(message.uid, message.data) for message in stored] == [(kept, b'"kept"')]
    assert await outbox_rows() == [(kept, Status.SENT)], "the rolled-back row was never written"


async def test_an_idle_timeout_under_twice_the_request_timeout_is_warned_about(
    outbox_db: str, start_relay: StartRelay
) -> None:
    short = start_relay("--once", "--idle-timeout", "7")  # REQUEST_TIMEOUT is 4 s
    assert await exit_code(short) == 0, short.log()
    assert "--idle-timeout 7s is under twice REQUEST_TIMEOUT (4s)" in short.log()
    enough = start_relay("--once", "--idle-timeout", "8")
    assert await exit_code(enough) == 0, enough.log()
    assert "under twice REQUEST_TIMEOUT" not in enough.log()


async def test_three_relays_at_once_publish_each_of_2000_rows_once(
    outbox_db: str, nats_server: NatsServer, start_relay: StartRelay
) -> None:
    await reset_async(nats_server.url, OB_BULK)
    relays = [start_relay("--batch-size", "50", "--interval", "0.05") for _ in range(3)]
    for relay in relays:  # all three poll before the rows appear, so they compete for them
        await await_line(relay, "Outbox relay started")
    async with Publishes(nats_server.url, OB_BULK) as publishes:
        uids = await write_rows(PG, 2000, "trio")
        await until(all_sent(2000), "every row sent", timeout=60)
        published = await publishes.drained()
    for relay in relays:
        relay.signal(signal.SIGTERM)
    sent_by_relay: list[int] = []
    for relay in relays:
        assert await exit_code(relay) == 0, relay.log()
        stopped = relay.wait_for_line("Outbox relay stopped")
        sent_by_relay.append(int(stopped.split("sent=")[1].split()[0]))
    twice = [uid for uid, times in collections.Counter(published).items() if times > 1]
    assert twice == [], "no row is published by two relays: each batch's rows are locked"
    assert collections.Counter(published) == collections.Counter(uids), "every row published"
    stored = await stored_uids(nats_server.url)
    assert collections.Counter(stored) == collections.Counter(uids), "and stored once"
    assert sum(sent_by_relay) == 2000, sent_by_relay
    assert sum(1 for sent in sent_by_relay if sent) >= 2, f"the relays shared the work: {sent_by_relay}"


@contextlib.asynccontextmanager
async def held_before_its_commit(
    postgres_url: str, start_relay: StartRelay, *args: str
) -> AsyncIterator[tuple[CommandProcess, int]]:
    """A relay started while the test holds the outbox table in SHARE mode, which lets it lock its
    batch (FOR UPDATE takes ROW SHARE) and publish it, but blocks the UPDATE that marks it sent
    (ROW EXCLUSIVE): yields the relay and its backend's pid once that UPDATE waits; the lock
    goes at exit."""
    async with (
        await psycopg.AsyncConnection.connect(postgres_url) as lock,
        lock.transaction(),
    ):
        await lock.execute(f'LOCK TABLE "{TABLE}" IN SHARE MODE')
        relay = start_relay(*args)
        backend = await until(
            lambda: relay_waiting_for_lock(postgres_url), "the relay's UPDATE waits", timeout=30
        )
        yield relay, backend


async def relay_waiting_for_lock(url: str) -> int | None:
    """The pid of the backend whose UPDATE of the outbox waits for a lock (the relay marking its
    batch sent), if there is one."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as connection:
        cursor = await connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE %s",
            (f'UPDATE "{TABLE}"%',),
        )
        row = await cursor.fetchone()
    return None if row is None else int(row[0])


async def backend_gone(url: str, pid: int) -> bool:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as connection:
        cursor = await connection.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,))
        return await cursor.fetchone() is None


async def test_a_relay_killed_between_publishing_and_committing_loses_and_duplicates_nothing(
    outbox_db: str, postgres_url: str, nats_server: NatsServer, start_relay: StartRelay
) -> None:
    await reset_async(nats_server.url, OB_BULK)
    uids = await write_rows(PG, 2000, "row")
    async with Publishes(nats_server.url, OB_BULK) as publishes:
        # It publishes 500 rows, then waits where a crash could lose or duplicate them, until the kill.
        async with held_before_its_commit(postgres_url, start_relay, "--batch-size", "500") as held:
            first, backend = held
            assert await stored_uids(nats_server.url) == uids[:500], "the first batch was published"
            first.process.kill()
            assert await exit_code(first) == -signal.SIGKILL
        # PostgreSQL notices the lost client once its UPDATE gets the lock, and rolls it back.
        await until(lambda: backend_gone(postgres_url, backend), "the killed relay's backend ended")
        assert await sent_rows(PG) == 0, "not committed: the relay died mid-batch"

        second = start_relay("--once", "--batch-size", "500")
        assert await exit_code(second) == 0, second.log()
        published = await publishes.drained()
    assert await stored_uids(nats_server.url) == uids, "every row once, in order"
    assert await sent_rows(PG) == 2000
    assert published == uids[:500] + uids, "the killed relay's batch was published again"


async def test_a_relay_frozen_mid_batch_loses_its_session_and_its_batch_is_published_by_another(
    outbox_db: str, postgres_url: str, nats_server: NatsServer, start_relay: StartRelay
) -> None:
    """A frozen relay keeps its rows locked only for --idle-timeout: PostgreSQL then ends its
    session, another relay publishes the batch, and the frozen one, resumed, warns and goes on."""
    await reset_async(nats_server.url, OB_BULK)
    uids = await write_rows(PG, 400, "frozen")
    async with Publishes(nats_server.url, OB_BULK) as publishes:
        # 100 rows publish in well under the 1 s (about 0.05 s here; 500 took up to 0.36 s).
        relay_args = ("--batch-size", "100", "--idle-timeout", "1")
        async with held_before_its_commit(postgres_url, start_relay, *relay_args) as held:
            frozen, backend = held
            assert await stored_uids(nats_server.url) == uids[:100], "the first batch was published"
            assert "lost the session" not in frozen.log(), "publishing 100 rows took over 1 s"
            frozen.signal(signal.SIGSTOP)
        # The UPDATE gets the lock and ends while the relay is frozen: its session now idles in
        # the batch transaction, holding the rows' locks, until PostgreSQL ends it.
        await until(lambda: backend_gone(postgres_url, backend), "PostgreSQL ended the frozen session")
        assert await sent_rows(PG) == 0, "the frozen relay's UPDATE was rolled back"

        other = start_relay("--once", "--batch-size", "500")
        assert await exit_code(other) == 0, other.log()
        assert await stored_uids(nats_server.url) == uids, "every row once, in order"

        since = frozen.mark()
        frozen.signal(signal.SIGCONT)
        warning = await await_line(frozen, "lost the session of database=postgres mid-batch", since=since)
        published = await publishes.drained()
    assert "100 published row(s) were not marked sent and will be published again" in warning, warning
    assert "longer than --idle-timeout=1s" in warning, warning
    assert frozen.process.poll() is None, f"the resumed relay goes on:\n{frozen.log()}"
    frozen.signal(signal.SIGTERM)
    assert await exit_code(frozen) == 0, frozen.log()
    assert "Traceback" not in frozen.log(), frozen.log()
    assert published == uids[:100] + uids, "the frozen relay's batch was published again"
    assert await stored_uids(nats_server.url) == uids, "and stored once"
    assert await sent_once() == [(uid, 1) for uid in uids], "every row marked sent by one batch"


async def test_a_live_relay_keeps_its_session_through_a_batch_longer_than_the_idle_timeout(
    outbox_db: str, nats_server: NatsServer, start_relay: StartRelay
) -> None:
    """Publishing 300 rows over a link that makes each PubAck 8 ms late takes over 2 s, twice
    --idle-timeout: the relay keeps its session busy between publishes, so the batch commits.
    Without that, PostgreSQL ends every batch's session and the relay republishes it forever."""
    await reset_async(nats_server.url, OB_BULK)
    uids = await write_rows(PG, 300, "slow")
    async with SlowLink(nats_server, delay=0.008) as link, Publishes(nats_server.url, OB_BULK) as publishes:
        relay = start_relay("--batch-size", "300", "--idle-timeout", "1", nats_url=link.url)

        async def done() -> bool:
            assert "lost the session" not in relay.log(), relay.log()
            return await sent_rows(PG) == 300

        await until(done, "every row sent", timeout=30)
        published = await publishes.drained()
    assert publishes.times[-1] - publishes.times[0] > 2.0, "the batch outlasted --idle-timeout twice"
    assert published == uids, "every row published once, in order"
    assert await sent_once() == [(uid, 1) for uid in uids], "marked sent by one batch"
    relay.signal(signal.SIGTERM)
    assert await exit_code(relay) == 0, relay.log()
    assert "lost the session" not in relay.log(), relay.log()


def wait_until_the_server_ends_the_session(timeout: float) -> None:
    """Return once PostgreSQL has closed this thread's "postgres" session (its socket turns
    readable: the server's farewell, then EOF)."""
    readable, _, _ = select.select([connections[PG].connection.fileno()], [], [], timeout)
    assert readable, f"PostgreSQL kept the idle session open over {timeout}s"


class RelayPausedBeforeTakingRows(Relay):
    """A relay whose first batch stalls after setting the idle timeout and before taking rows, until
    PostgreSQL has ended its session."""

    paused = False

    def _locked(self, rows: OutboxQuerySet) -> OutboxQuerySet:
        if not self.paused:
            self.paused = True
            wait_until_the_server_ends_the_session(timeout=10)
        return super()._locked(rows)


async def test_a_session_ended_before_the_batch_took_rows_is_warned_about_and_the_relay_goes_on(
    outbox_db: str, nats_server: NatsServer, caplog: pytest.LogCaptureFixture
) -> None:
    """PostgreSQL ends a session idle in a transaction with InternalError (SQLSTATE 25P03), not
    OperationalError; with no rows taken yet, the relay still treats it as a lost session."""
    caplog.set_level(logging.WARNING, logger="walnats_django.outbox")
    await reset_async(nats_server.url, OB_BULK)
    uids = await write_rows(PG, 3, "paused")
    relay = RelayPausedBeforeTakingRows(RelayOptions(database=PG, once=True, idle_timeout=0.2))

    summary = await sync_to_async(relay.run)()

    assert relay.paused
    assert (summary.sent, summary.failed, summary.outage) == (3, 0, None), summary
    assert await stored_uids(nats_server.url) == uids
    assert await sent_once() == [(uid, 1) for uid in uids]
    [warning] = [record.getMessage() for record in caplog.records if record.name == "walnats_django.outbox"]
    assert "lost the session of database=postgres mid-batch (InternalError: " in warning, warning
    assert "idle-in-transaction timeout" in warning, "the exception's text is kept"
    assert "0 published row(s) were not marked sent" in warning, warning
    assert "longer than --idle-timeout=0.2s" in warning, "names an idle timeout as a cause"
    assert "or the server ended it (a restart or failover)" in warning, "and a server that ended it"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("0", "the value must be a positive number, got 0.0."),
        ("-1", "the value must be a positive number, got -1.0."),
        ("abc", "'abc' is not a number"),
    ],
)
def test_a_bad_idle_timeout_is_refused(value: str, problem: str) -> None:
    with pytest.raises(CommandError) as refused:
        call_command("relayoutbox", "--once", "--idle-timeout", value)
    assert str(refused.value) == f"Error: argument --idle-timeout: {problem}"


@pytest.mark.parametrize("seconds", [0.0, -1.0])
def test_a_bad_idle_timeout_relay_option_is_refused(seconds: float) -> None:
    with pytest.raises(ValueError, match=r"RelayOptions\.idle_timeout must be a positive number"):
        RelayOptions(idle_timeout=seconds)


async def test_each_postgresql_batch_sets_the_idle_timeout_first(
    outbox_db: str, nats_server: NatsServer
) -> None:
    await reset_async(nats_server.url, OB_BULK)
    await write_rows(PG, 3, "timed")

    @sync_to_async
    def relay_capturing_queries() -> list[str]:
        with CaptureQueriesContext(connections[PG]) as queries:
            call_command(
                "relayoutbox", "--once", "--database", PG, "--batch-size", "2", "--idle-timeout", "2.5"
            )
        return [query["sql"] for query in queries.captured_queries]

    queries = await relay_capturing_queries()
    assert await sent_rows(PG) == 3
    timeouts = [index for index, sql in enumerate(queries) if "idle_in_transaction_session_timeout" in sql]
    assert len(timeouts) == 2, f"one per batch (2 rows, then 1): {queries}"
    for index in timeouts:
        assert queries[index] == "SET LOCAL idle_in_transaction_session_timeout = 2500"
        assert "FOR UPDATE SKIP LOCKED" in queries[index + 1], "set before the rows are locked"


@pytest.mark.django_db(transaction=True)
def test_sqlite_batches_have_no_idle_timeout(nats_server: NatsServer) -> None:
    """SQLite has no such setting (and the SET would fail there): the relay leaves it out."""
    reset(nats_server.url, OB_NOTE)
    uid = outbox.emit(OB_NOTE, "on sqlite")
    with CaptureQueriesContext(connections["default"]) as queries:
        call_command("relayoutbox", "--once", "--idle-timeout", "1")
    assert [message.uid for message in stored(nats_server.url, OB_NOTE)] == [uid]
    assert connections["default"].vendor == "sqlite"
    assert not [query for query in queries.captured_queries if "idle_in_transaction" in query["sql"]]
