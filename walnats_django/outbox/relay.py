"""The outbox relay: publish committed outbox rows in order, each with its uid as Nats-Msg-Id.

Each batch is one transaction: lock pending rows (`select_for_update(skip_locked=True)`, so
several relays share the work), publish each and await its PubAck, mark the published rows
sent, commit. A relay killed before the commit leaves its rows pending; the next one publishes
them again with the same Nats-Msg-Id, and JetStream stores each once (within the stream's
duplicate window, 2 minutes by default).

On PostgreSQL a batch transaction also sets `idle_in_transaction_session_timeout`: a relay whose
host dies or freezes mid-batch would otherwise hold its rows' locks until TCP keepalive notices
(hours), and the other relays would skip them that long. PostgreSQL ends its session instead.
A live relay runs `SELECT 1` between publishes once half that timeout has passed since its last
statement, so however long a batch takes to publish, only a frozen relay (or one publish longer
than half the timeout) looks idle. A relay that loses its session (resumed after a freeze, or
the server restarted) warns and goes on.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from django.db import (
    DEFAULT_DB_ALIAS,
    DatabaseError,
    InterfaceError,
    OperationalError,
    close_old_connections,
    connections,
    transaction,
)
from django.db.models import F
from django.utils import timezone

from ..errors import WalnatsError
from ..publisher import publish_encoded_sync
from ..registry import registry
from ..validation import positive_number_problem
from ..wire import HEADER_MSG_ID
from .models import OutboxMessage, OutboxQuerySet, Status
from .troubles import Trouble
from .verdicts import Verdict, verdict

logger = logging.getLogger("walnats_django.outbox")

PURGE_EVERY = 60.0
"""Seconds between purges of old sent rows (sooner if --purge-after is shorter)."""
UPDATE_CHUNK = 500
"""Row ids per UPDATE, well below every database's limit on query parameters."""
MAX_TIMEOUT_MS = 2**31 - 1
"""The largest value PostgreSQL's timeout settings take (an int of milliseconds, about 24 days)."""


@dataclasses.dataclass(frozen=True)
class RelayOptions:
    """What `manage.py relayoutbox` passes on."""

    database: str = DEFAULT_DB_ALIAS
    batch_size: int = 100
    """Rows per transaction."""
    interval: float = 1.0
    """Seconds to wait when nothing is pending."""
    once: bool = False
    """Relay what is pending, then return (cron jobs, tests); return at the first outage."""
    purge_after: float | None = 7 * 24 * 3600.0
    """Delete sent rows older than this many seconds (None: keep them)."""
    idle_timeout: float = 60.0
    """PostgreSQL only: seconds a batch transaction may sit idle before PostgreSQL ends the session
    (a dead or frozen relay) and frees its rows for another relay. A live relay keeps its session
    busy between publishes, so this need not cover a whole batch, only one publish (each at most
    WALNATS REQUEST_TIMEOUT) plus half of itself: keep it above twice REQUEST_TIMEOUT."""

    def __post_init__(self) -> None:
        for name, integer, none_ok in (
            ("batch_size", True, False),
            ("interval", False, False),
            ("purge_after", False, True),
            ("idle_timeout", False, False),
        ):
            problem = positive_number_problem(
                getattr(self, name), integer=integer, none_ok=none_ok, what=f"RelayOptions.{name}"
            )
            if problem is not None:
                raise ValueError(problem)


@dataclasses.dataclass
class Summary:
    """What a relay run did."""

    sent: int = 0
    failed: int = 0
    outage: str | None = None
    """With `once`: why the run stopped early (NATS or the database unavailable)."""


@dataclasses.dataclass
class _Batch:
    taken: int
    sent: list[int] = dataclasses.field(default_factory=list)
    sent_events: set[str] = dataclasses.field(default_factory=set)
    held: dict[str, str] = dataclasses.field(default_factory=dict)
    """Events whose stream could not take a row now, with the reason."""
    failed: int = 0
    outage: str | None = None
    session: object = None
    """The driver's connection the batch runs on, once its transaction began."""
    last_statement: float = 0.0
    """When the batch's latest statement ended (`time.monotonic()`): PostgreSQL's idle time counts
    from there."""
    session_lost: bool = False
    """The database session ended before the commit: nothing was marked, the rows are pending."""


class Relay:
    """Publishes the outbox of one database until stopped (or, with `once`, until it is empty)."""

    def __init__(self, options: RelayOptions) -> None:
        self.options = options
        self._stopping = threading.Event()
        self._nats = Trouble("NATS")
        self._database = Trouble(f"database {options.database!r}")
        self._events: dict[str, Trouble] = {}
        self._next_purge = 0.0

    def stop(self) -> None:
        """Finish the batch in progress, then return from `run` (from any thread)."""
        self._stopping.set()

    def run(self) -> Summary:
        """Relay until stopped; with `once`, until nothing can be relayed now."""
        summary = Summary()
        options = self.options
        while not self._stopping.is_set():
            close_old_connections()
            try:
                batch = self._relay_batch()
                self._purge_if_due()
            except (OperationalError, InterfaceError) as exc:  # database gone, restarting, or locked
                wait = self._database.occurred(f"{type(exc).__name__}: {exc}")
                if options.once:
                    summary.outage = f"database {options.database!r} unavailable: {exc}"
                    break
                self._stopping.wait(wait)
                continue
            self._database.ended()
            summary.sent += len(batch.sent)
            summary.failed += batch.failed
            if batch.outage is not None:
                wait = self._nats.occurred(batch.outage)
                if options.once:
                    summary.outage = f"NATS unavailable: {batch.outage}"
                    break
                self._stopping.wait(wait)
            elif batch.session_lost:
                continue  # its rows are pending again: take the next batch at once
            elif batch.taken < options.batch_size:
                if options.once:
                    break
                self._stopping.wait(options.interval)
        self._log_held()
        return summary

    def _relay_batch(self) -> _Batch:
        batch = _Batch(taken=0)
        try:
            self._publish_batch(batch)
        except DatabaseError as exc:
            if not self._session_lost(batch):
                raise  # the database is unavailable (no session yet), or refused one statement
            self._lost_mid_batch(batch, exc)
            return batch
        self._after_commit(batch)
        logger.debug(
            "Outbox batch taken=%d sent=%d failed=%d held=%s",
            batch.taken,
            len(batch.sent),
            batch.failed,
            ",".join(batch.held) or "-",
        )
        return batch

    def _publish_batch(self, batch: _Batch) -> None:
        """In one transaction: lock pending rows, publish them and mark what became of each."""
        held = [name for name, trouble in self._events.items() if trouble.holding()]
        database = self.options.database
        connection = connections[database]
        with transaction.atomic(using=database), connection.execute_wrapper(_clocked(batch)):
            self._limit_idle_time()
            batch.session = connection.connection
            rows = list(self._locked(OutboxMessage.objects.using(database).pending().exclude(event__in=held)))
            batch.taken = len(rows)
            for row in rows:
                if row.event in batch.held:
                    continue  # its earlier row waits: keep the event's order
                self._keep_session_busy(batch)
                problem = self._publish(row)
                if problem is None:
                    batch.sent.append(row.id)
                    batch.sent_events.add(row.event)
                    continue
                decision, reason = problem
                if decision is Verdict.OUTAGE:
                    batch.outage = reason
                    break
                if decision is Verdict.HOLD_EVENT:
                    batch.held[row.event] = reason
                    self._note_attempt(row, reason, status=Status.PENDING)
                else:
                    batch.failed += 1
                    self._note_attempt(row, reason, status=Status.FAILED)
                    logger.warning(
                        "Outbox row failed for good id=%s uid=%s event=%s: %s; fix the cause, then "
                        "retry it in the admin",
                        row.id,
                        row.uid,
                        row.event,
                        reason,
                    )
            self._mark_sent(batch.sent)

    def _limit_idle_time(self) -> None:
        """On PostgreSQL, have the server end this session if it idles in this transaction longer
        than `idle_timeout` (a dead or frozen relay would keep its rows locked for hours)."""
        connection = connections[self.options.database]
        if connection.vendor != "postgresql":
            return
        milliseconds = min(math.ceil(self.options.idle_timeout * 1000), MAX_TIMEOUT_MS)
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL idle_in_transaction_session_timeout = {milliseconds:d}")

    def _keep_session_busy(self, batch: _Batch) -> None:
        """On PostgreSQL, run `SELECT 1` once half of `idle_timeout` has passed since the batch's last
        statement: a live relay's session never idles longer than that plus one publish, however
        long the batch, while a frozen relay's still ends after `idle_timeout`."""
        connection = connections[self.options.database]
        if connection.vendor != "postgresql":
            return
        if time.monotonic() - batch.last_statement < self.options.idle_timeout / 2:
            return
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")

    def _session_lost(self, batch: _Batch) -> bool:
        """Whether the batch's session ended (PostgreSQL's idle timeout, a server gone), not only
        a statement (a deadlock, SQLite's "database is locked")."""
        # When the rollback after a failure fails too, Django drops the connection (and may open
        # a new one at once): the one the batch ran on is gone.
        current = connections[self.options.database].connection
        return batch.session is not None and current is not batch.session

    def _lost_mid_batch(self, batch: _Batch, exc: DatabaseError) -> None:
        """The session ended inside the batch transaction: nothing was committed, its rows (if it
        took any) are pending again, and another relay may already have them. Drop the dead
        connection and go on."""
        logger.warning(
            "Outbox relay: lost the session of database=%s mid-batch (%s: %s); %d published row(s) "
            "were not marked sent and will be published again (JetStream keeps one copy within its "
            "duplicate window). Either the session sat idle in the batch transaction longer than "
            "--idle-timeout=%gs (this relay was frozen, or one publish took over half that long; "
            "then raise --idle-timeout) and PostgreSQL ended it, or the server ended it (a restart "
            "or failover); going on with a new session",
            self.options.database,
            type(exc).__name__,
            " ".join(str(exc).split()),
            len(batch.sent),
            self.options.idle_timeout,
        )
        connections[self.options.database].close()
        batch.sent.clear()
        batch.sent_events.clear()
        batch.failed = 0
        batch.session_lost = True

    def _locked(self, rows: OutboxQuerySet) -> OutboxQuerySet:
        features = connections[self.options.database].features
        if features.has_select_for_update_skip_locked:
            rows = rows.select_for_update(skip_locked=True)
        elif features.has_select_for_update:
            rows = rows.select_for_update()
        # SQLite has neither: its one writer at a time (a relay's commit fails "database is
        # locked" while another writes, and retries) plus the Nats-Msg-Id keep it to one copy.
        return rows[: self.options.batch_size]

    def _publish(self, row: OutboxMessage) -> tuple[Verdict, str] | None:
        """Publish one row and await its PubAck; None when stored (a duplicate counts)."""
        try:
            event = registry.get_event(row.event)
        except LookupError:
            return Verdict.FAILED, (
                f"event {row.event!r} is not registered in this project (removed or renamed?); "
                "register it again to relay the row"
            )
        headers = {**row.headers, HEADER_MSG_ID: row.uid}
        try:
            publish_encoded_sync(event, bytes(row.payload), headers, wait=True)
        except Exception as exc:
            if not isinstance(exc, WalnatsError):
                logger.exception("Outbox row id=%s uid=%s event=%s raised", row.id, row.uid, row.event)
            return verdict(exc), f"{type(exc).__name__}: {exc}"
        return None

    def _note_attempt(self, row: OutboxMessage, reason: str, *, status: Status) -> None:
        OutboxMessage.objects.using(self.options.database).filter(id=row.id).update(
            status=status, attempts=F("attempts") + 1, last_error=reason
        )

    def _mark_sent(self, ids: Sequence[int]) -> None:
        now = timezone.now()
        for chunk in _chunks(ids, UPDATE_CHUNK):
            OutboxMessage.objects.using(self.options.database).filter(id__in=chunk).update(
                status=Status.SENT, sent_at=now, attempts=F("attempts") + 1, last_error=""
            )

    def _after_commit(self, batch: _Batch) -> None:
        if batch.sent:
            self._nats.ended()
        for name in (batch.sent_events & set(self._events)) - set(batch.held):
            self._events.pop(name).ended()
        for name, reason in batch.held.items():
            trouble = self._events.setdefault(name, Trouble(f"event={name}"))
            trouble.occurred(f"{reason}; its rows wait, other events go on")

    def _purge_if_due(self) -> None:
        """Delete old sent rows at the first batch and then every PURGE_EVERY seconds."""
        if self.options.purge_after is None or time.monotonic() < self._next_purge:
            return
        self._next_purge = time.monotonic() + min(PURGE_EVERY, self.options.purge_after)
        cutoff = timezone.now() - datetime.timedelta(seconds=self.options.purge_after)
        deleted, _ = OutboxMessage.objects.using(self.options.database).sent_before(cutoff).delete()
        if deleted:
            logger.info("Purged %d sent outbox row(s) older than %gs", deleted, self.options.purge_after)

    def _log_held(self) -> None:
        for name, trouble in self._events.items():
            if trouble.active:
                logger.warning("Outbox rows of event=%s still wait for its stream", name)


def _clocked(batch: _Batch) -> Callable[..., Any]:
    """An execute wrapper that notes in `batch` when each of its statements ended."""

    def execute(run: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
        try:
            return run(sql, params, many, context)
        finally:
            batch.last_statement = time.monotonic()

    return execute


def _chunks(items: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
