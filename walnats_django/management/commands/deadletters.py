"""`manage.py deadletters list|show|replay|purge`: inspect and recover failed messages."""

from __future__ import annotations

import json
from typing import Any

import nats.errors
from django.core.management.base import BaseCommand, CommandError, CommandParser

from walnats_django import deadletters
from walnats_django.client import close_nats, jetstream_enabled, open_nats
from walnats_django.client.pubacks import jetstream_disabled
from walnats_django.conf import walnats_settings
from walnats_django.errors import WalnatsError
from walnats_django.sync import run_sync


class Command(BaseCommand):
    help = "List, show, replay or purge dead letters (messages that failed for good)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list", help="List dead letters, oldest first.")
        listing.add_argument("--event")
        listing.add_argument("--actor")
        listing.add_argument("--limit", type=int, default=50)
        listing.add_argument("--json", action="store_true", help="One JSON object per line.")
        show = sub.add_parser("show", help="Show one dead letter with its headers and payload.")
        show.add_argument("seq", type=int)
        replay = sub.add_parser("replay", help="Publish again for the failed actor (new Nats-Msg-Id).")
        replay.add_argument("seq", type=int, nargs="*")
        replay.add_argument("--all", action="store_true", help="Replay every (matching) dead letter.")
        replay.add_argument("--event")
        replay.add_argument("--actor")
        purge = sub.add_parser("purge", help="Delete dead letters.")
        purge.add_argument("seq", type=int, nargs="*")
        purge.add_argument("--all", action="store_true", help="Delete every (matching) dead letter.")
        purge.add_argument("--event")
        purge.add_argument("--actor")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            run_sync(self._run(options))
        except (WalnatsError, nats.errors.Error) as exc:
            raise CommandError(f"{type(exc).__name__}: {exc}") from exc

    async def _run(self, options: dict[str, Any]) -> None:
        nc = await open_nats(walnats_settings.CONNECT_TIMEOUT)
        try:
            if not jetstream_enabled(nc):
                raise jetstream_disabled()
            js = nc.jetstream()
            action = options["action"]
            if action == "list":
                await self._list(js, options)
            elif action == "show":
                letter = await deadletters.get(js, options["seq"])
                self.stdout.write(json.dumps(deadletters.summary(letter), indent=2))
            else:
                await self._change(js, action, options)
        finally:
            await close_nats(nc)

    async def _list(self, js: Any, options: dict[str, Any]) -> None:
        letters = await deadletters.list_all(
            js, event=options["event"], actor=options["actor"], limit=options["limit"]
        )
        for letter in letters:
            if options["json"]:
                self.stdout.write(json.dumps(deadletters.summary(letter)))
            else:
                self.stdout.write(
                    f"{letter.seq:>6}  {letter.failed_at}  event={letter.event} "
                    f"actor={letter.actor} seq={letter.stream_seq} "
                    f"attempts={letter.attempts}  {letter.error[:120]}"
                )
        if not letters and not options["json"]:
            self.stdout.write("No dead letters.")

    async def _change(self, js: Any, action: str, options: dict[str, Any]) -> None:
        seqs: list[int] = options["seq"]
        if bool(seqs) == bool(options["all"]):
            raise CommandError(f"{action}: give dead-letter sequence numbers or --all (not both).")
        if options["all"] and action == "purge":
            count = await deadletters.purge(js, event=options["event"], actor=options["actor"])
            self.stdout.write(f"Purged {count} dead letter(s).")
            return
        if options["all"]:
            letters = await deadletters.list_all(js, event=options["event"], actor=options["actor"])
        else:
            letters = [await deadletters.get(js, seq) for seq in seqs]
        for letter in letters:
            if action == "replay":
                new_seq = await deadletters.replay(js, letter)
                self.stdout.write(
                    f"Replayed {letter.seq} to {letter.event} for actor {letter.actor} "
                    f"(stream seq {new_seq})."
                )
            else:
                await deadletters.delete(js, letter.seq)
                self.stdout.write(f"Purged {letter.seq}.")
