"""`manage.py asyncapi`: write the AsyncAPI 3.0 document of the registered events and actors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from walnats_django.asyncapi import AsyncAPIError, Info, build_document, render
from walnats_django.asyncapi.document import DEFAULT_VERSION, default_info
from walnats_django.asyncapi.render import FORMATS


class Command(BaseCommand):
    help = (
        "Write the AsyncAPI 3.0 document of the registered events, actors and task queues: a channel "
        "per event, a receive operation per actor, payload and header schemas."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", choices=FORMATS, default="json", help="Output format (default json).")
        parser.add_argument(
            "-o", "--output", metavar="FILE", help="Write to FILE instead of standard output ('-': stdout)."
        )
        parser.add_argument("--title", help="info.title (default: '<project> events').")
        # --version is taken by Django (it prints Django's version).
        parser.add_argument(
            "--api-version", default=DEFAULT_VERSION, help=f"info.version (default {DEFAULT_VERSION})."
        )
        parser.add_argument(
            "--server",
            action="append",
            metavar="URL",
            help="A NATS URL to list under servers (repeatable; default: WALNATS['SERVERS']). "
            "User, password and token are never written.",
        )
        parser.add_argument("--no-tasks", action="store_true", help="Leave out the task queues of TASKS.")

    def handle(self, *args: Any, **options: Any) -> None:
        info = Info(title=options["title"] or default_info().title, version=options["api_version"])
        try:
            document = build_document(info, servers=options["server"], task_queues=not options["no_tasks"])
            text = render(document, options["format"])
        except AsyncAPIError as exc:
            raise CommandError(str(exc)) from exc
        output = options["output"]
        if output in (None, "-"):
            self.stdout.write(text, ending="")
            return
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"cannot write {output}: {exc.strerror or exc}.") from exc
        self.stderr.write(
            f"Wrote {output}: {len(document['channels'])} channels, {len(document['operations'])} operations."
        )
