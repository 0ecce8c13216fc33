"""`manage.py relayoutbox`: publish the outbox's committed rows to NATS JetStream."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections

from walnats_django.conf import walnats_settings
from walnats_django.management.commands.runactors import positive_float, positive_int
from walnats_django.management.console import log_to_console
from walnats_django.outbox.models import OutboxMessage
from walnats_django.outbox.relay import Relay, RelayOptions, logger

DEFAULTS = RelayOptions()


class Command(BaseCommand):
    help = (
        "Publish the outbox's rows (written by walnats_django.outbox.emit) to NATS JetStream, "
        "each with its uid as Nats-Msg-Id, until stopped. Several relays may run at once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size",
            type=positive_int,
            default=DEFAULTS.batch_size,
            help=f"Rows per transaction (default {DEFAULTS.batch_size}).",
        )
        parser.add_argument(
            "--interval",
            type=positive_float,
            default=DEFAULTS.interval,
            help=f"Seconds to wait for new rows when none are pending (default {DEFAULTS.interval:g}).",
        )
        parser.add_argument(
            "--once",
            action="store_true",
            help="Relay what is pending, then exit (cron jobs, tests); exit 1 if NATS or the "
            "database is unavailable.",
        )
        parser.add_argument(
            "--purge-after",
            type=positive_float,
            default=DEFAULTS.purge_after,
            metavar="SECONDS",
            help=f"Delete sent rows older than this (default a week: {DEFAULTS.purge_after:g}).",
        )
        parser.add_argument(
            "--idle-timeout",
            type=positive_float,
            default=DEFAULTS.idle_timeout,
            metavar="SECONDS",
            help="PostgreSQL only: seconds a batch transaction may sit idle before PostgreSQL ends "
            "the session (a dead or frozen relay) and other relays publish its rows again (JetStream "
            "keeps one copy). A live relay runs SELECT 1 between publishes once half this time has "
            "passed, so it need not cover a whole batch, only one publish (at most WALNATS "
            "REQUEST_TIMEOUT) plus half of itself: keep it above twice REQUEST_TIMEOUT. "
            f"Default {DEFAULTS.idle_timeout:g}.",
        )
        parser.add_argument(
            "--database",
            default=DEFAULT_DB_ALIAS,
            help='The database whose outbox to relay (default "default").',
        )

    def handle(self, *args: Any, **options: Any) -> None:
        log_to_console(options["verbosity"], sys.stderr)
        database = options["database"]
        if database not in connections:
            raise CommandError(f"--database {database!r} is not in settings.DATABASES.")
        table = OutboxMessage._meta.db_table
        if table not in connections[database].introspection.table_names():
            raise CommandError(
                f"The outbox table {table} does not exist in database {database!r}: run "
                f"`manage.py migrate walnats_outbox --database {database}`."
            )
        idle_timeout = options["idle_timeout"]
        if (
            connections[database].vendor == "postgresql"
            and idle_timeout < 2 * walnats_settings.REQUEST_TIMEOUT
        ):
            logger.warning(
                "--idle-timeout %gs is under twice REQUEST_TIMEOUT (%gs): PostgreSQL may end this relay's "
                "session during one slow publish, and the batch is published again; raise --idle-timeout",
                idle_timeout,
                walnats_settings.REQUEST_TIMEOUT,
            )
        relay = Relay(
            RelayOptions(
                database=database,
                batch_size=options["batch_size"],
                interval=options["interval"],
                once=options["once"],
                purge_after=options["purge_after"],
                idle_timeout=options["idle_timeout"],
            )
        )
        with _stopped_by_signals(relay):
            # Logged once SIGINT/SIGTERM are ours: a supervisor may stop us from now on.
            logger.info(
                "Outbox relay started database=%s batch_size=%d interval=%gs",
                database,
                options["batch_size"],
                options["interval"],
            )
            summary = relay.run()
        logger.info("Outbox relay stopped sent=%d failed=%d", summary.sent, summary.failed)
        if summary.outage is not None:
            pending = OutboxMessage.objects.using(database).pending().count()
            raise CommandError(f"{summary.outage}; {pending} row(s) still pending: run it again later.")


@contextmanager
def _stopped_by_signals(relay: Relay) -> Iterator[None]:
    """SIGINT/SIGTERM: finish the batch and stop; a second one exits at once."""
    if threading.current_thread() is not threading.main_thread():
        yield  # call_command from a thread: signals are not ours to take
        return
    seen = 0

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal seen
        seen += 1
        name = signal.Signals(signum).name
        if seen == 1:
            logger.info("Received %s, shutting down gracefully (press Ctrl+C again to force)", name)
            # From another thread: the handler may interrupt this one inside the Event's lock.
            threading.Thread(target=relay.stop, name="relayoutbox-stop").start()
        else:
            logger.warning("Received %s again, exiting now", name)
            sys.stderr.flush()
            os._exit(1)

    previous = {signum: signal.signal(signum, on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
