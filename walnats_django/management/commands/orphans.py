"""`manage.py orphans [--delete [--yes]]`: list, and after confirmation delete, orphan consumers."""

from __future__ import annotations

from typing import Any

import nats.errors
from django.core.management.base import BaseCommand, CommandError, CommandParser
from nats.js import JetStreamContext

from walnats_django import orphans
from walnats_django.client import close_nats, jetstream_enabled, open_nats
from walnats_django.client.pubacks import jetstream_disabled
from walnats_django.conf import walnats_settings
from walnats_django.errors import WalnatsError
from walnats_django.introspection import OrphanConsumer
from walnats_django.sync import run_sync


class Command(BaseCommand):
    help = (
        "List durable consumers on registered events' streams that no registered actor owns (left by a "
        "removed or renamed actor, they keep every message until the event rejects new ones); "
        "--delete removes them after confirmation."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--event", action="append", help="Only this event's stream (repeatable).")
        parser.add_argument(
            "--consumer", action="append", help="Only the orphan consumer with this name (repeatable)."
        )
        parser.add_argument("--delete", action="store_true", help="Delete the orphans listed (asks first).")
        parser.add_argument(
            "--yes",
            "--no-input",
            "--noinput",
            dest="yes",
            action="store_true",
            help="Delete without asking (with --delete).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["yes"] and not options["delete"]:
            raise CommandError("--yes only makes sense with --delete.")
        try:
            pairs = orphans.registered_pairs(options["event"])
        except LookupError as exc:
            raise CommandError(str(exc)) from None
        try:
            found = run_sync(self._find(pairs))
        except (WalnatsError, nats.errors.Error) as exc:
            raise CommandError(f"{type(exc).__name__}: {exc}") from exc
        if options["consumer"]:
            found = [o for o in found if o.name in options["consumer"]]
        if not found:
            self.stdout.write("No orphan consumers.")
            return
        for orphan in found:
            self.stdout.write(describe(orphan))
        if not options["delete"]:
            self.stdout.write(
                f"{len(found)} orphan consumer(s). Delete them with `manage.py orphans --delete`. "
                + orphans.INTEROP_WARNING
            )
            return
        if not options["yes"]:
            self.stdout.write(orphans.INTEROP_WARNING)
            try:
                answer = input(f"Type 'yes' to delete these {len(found)} consumer(s): ")
            except EOFError:
                answer = ""
            if answer.strip().lower() != "yes":
                raise CommandError("Nothing deleted: not confirmed (answer 'yes', or pass --yes).")
        try:
            deleted = run_sync(self._delete(pairs, found))
        except (WalnatsError, nats.errors.Error) as exc:
            raise CommandError(f"{type(exc).__name__}: {exc}") from exc
        for orphan in deleted:
            self.stdout.write(f"Deleted consumer {orphan.name} of stream {orphan.stream}.")
        self.stdout.write(f"Deleted {len(deleted)} orphan consumer(s).")

    async def _find(self, pairs: list[Any]) -> list[OrphanConsumer]:
        nc = await open_nats(walnats_settings.CONNECT_TIMEOUT)
        try:
            return await orphans.find(_jetstream(nc), pairs)
        finally:
            await close_nats(nc)

    async def _delete(self, pairs: list[Any], chosen: list[OrphanConsumer]) -> list[OrphanConsumer]:
        nc = await open_nats(walnats_settings.CONNECT_TIMEOUT)
        try:
            js = _jetstream(nc)
            # Looked up again: a consumer an actor took over since the listing is no orphan any more.
            wanted = {(o.stream, o.name) for o in chosen}
            still = [o for o in await orphans.find(js, pairs) if (o.stream, o.name) in wanted]
            return [o for o in still if await orphans.delete(js, o)]
        finally:
            await close_nats(nc)


def _jetstream(nc: Any) -> JetStreamContext:
    if not jetstream_enabled(nc):
        raise jetstream_disabled()
    js: JetStreamContext = nc.jetstream()
    return js


def describe(orphan: OrphanConsumer) -> str:
    """One line per orphan: where it is and what it holds back."""
    last = orphan.stats.last_delivery.isoformat(timespec="seconds") if orphan.stats.last_delivery else "never"
    return (
        f"event={orphan.event} stream={orphan.stream} consumer={orphan.name} "
        f"pending={orphan.stats.num_pending} ack_pending={orphan.stats.num_ack_pending} "
        f"last_delivery={last}"
    )
