"""System checks: registry problems, bad `WALNATS` settings and TASKS entries, with stable IDs."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig, apps
from django.conf import settings
from django.core.checks import CheckMessage, Error, register

from .client.credentials import NKEYS_MISSING, nkeys_missing
from .conf import DEFAULTS, RESERVED_CONNECT_OPTIONS, Settings
from .events import MAX_REPLICAS
from .observe import checks as observe_checks
from .registry import registry
from .servers import server_url_problem
from .validation import positive_number_problem


@register("walnats_django")
def check_registry(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """E001-E006: duplicate, conflicting, unregistered or badly named events and actors."""
    return [Error(p.msg, hint=p.hint, obj=p.obj, id=p.id) for p in registry.problems()]


@register("walnats_django")
def check_settings(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """E010-E020: the `WALNATS` settings dict, its values, and the credentials environment."""
    raw = getattr(settings, "WALNATS", {})
    if not isinstance(raw, dict):
        return [
            Error(
                f"WALNATS must be a dict, got {type(raw).__name__}.",
                hint="Set WALNATS = {...} in settings.",
                id="walnats_django.E010",
            )
        ]
    errors: list[CheckMessage] = []
    unknown = sorted(map(str, set(raw) - set(DEFAULTS)))
    if unknown:
        errors.append(
            Error(
                f"Unknown WALNATS key(s): {', '.join(unknown)}.",
                hint=f"Known keys: {', '.join(DEFAULTS)}.",
                id="walnats_django.E011",
            )
        )
    errors += _check_servers(raw.get("SERVERS"))
    errors += _check_connect_options(raw.get("CONNECT_OPTIONS", {}))
    for key in ("REQUEST_TIMEOUT", "CONNECT_TIMEOUT", "SHUTDOWN_TIMEOUT"):
        problem = positive_number_problem(raw.get(key, DEFAULTS[key]), what=f"WALNATS[{key!r}]")
        if problem is not None:
            errors.append(
                Error(
                    f"{problem} It is in seconds.",
                    hint=f"The default is {DEFAULTS[key]}.",
                    id="walnats_django.E014",
                )
            )
    prefix = raw.get("INBOX_PREFIX", DEFAULTS["INBOX_PREFIX"])
    if not _is_inbox_prefix(prefix):
        errors.append(
            Error(
                f"WALNATS['INBOX_PREFIX'] {prefix!r} is not a valid subject prefix.",
                hint="Use dot-separated tokens of letters, digits, '_' or '-', e.g. '_INBOX'.",
                id="walnats_django.E015",
            )
        )
    else:
        errors += _check_inbox_overlap(prefix)
    errors += _check_replicas(raw.get("REPLICAS", DEFAULTS["REPLICAS"]))
    errors += observe_checks.check_metrics(raw.get("METRICS", DEFAULTS["METRICS"]))
    errors += observe_checks.check_tracing(raw.get("TRACING", DEFAULTS["TRACING"]))
    if nkeys_missing():
        errors.append(
            Error(NKEYS_MISSING, hint="Or unset NATS_CREDS / NATS_NKEY_SEED.", id="walnats_django.E017")
        )
    return errors


@register("walnats_django")
def check_tasks(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """E030-E034: each WalnatsBackend in TASKS reports its own problems (`WalnatsBackend.check()`);
    run here only when Django's task checks do not run them (the `django_tasks` app not installed)."""
    try:
        from .tasks import compat
    except ModuleNotFoundError as exc:
        if exc.name not in ("django_tasks", "django.tasks"):
            raise
        return []  # no Tasks framework: TASKS means nothing
    if compat.BUILTIN or apps.is_installed(compat.TASKS_APP):
        return []
    from .tasks.queues import walnats_aliases

    return [message for alias in walnats_aliases() for message in compat.task_backends[alias].check()]


def _check_replicas(value: object) -> list[CheckMessage]:
    problem = positive_number_problem(value, integer=True, what="WALNATS['REPLICAS']")
    if problem is None and isinstance(value, int) and value <= MAX_REPLICAS:
        return []
    return [
        Error(
            problem or f"WALNATS['REPLICAS'] must be at most {MAX_REPLICAS}, got {value!r}.",
            hint="1 for a single NATS node; 3 (or 5) on a JetStream cluster of at least that many nodes.",
            id="walnats_django.E018",
        )
    ]


def _check_inbox_overlap(prefix: str) -> list[CheckMessage]:
    """Workers publish answers to any subject under the prefix: it must hold nothing else."""
    from .deadletters import SUBJECT_PREFIX

    # Replies are `<prefix>.<token>`: they can land on subjects below the prefix only.
    taken = sorted(e.subject for e in registry.events if e.subject.startswith(prefix + "."))
    if prefix == SUBJECT_PREFIX or prefix.startswith(SUBJECT_PREFIX + "."):
        taken.append(f"{SUBJECT_PREFIX}.>")
    if taken:
        return [
            Error(
                f"WALNATS['INBOX_PREFIX'] {prefix!r} covers {', '.join(taken)}: a forged reply subject "
                "there would make a worker publish into it.",
                hint="Keep the default '_INBOX' or use a prefix of its own, e.g. '_INBOX.myapp'.",
                id="walnats_django.E016",
            )
        ]
    return []


def _check_servers(value: object) -> list[CheckMessage]:
    if value is None:
        value = Settings().SERVERS
    if isinstance(value, str):
        value = [s.strip() for s in value.split(",") if s.strip()]
    if not isinstance(value, list | tuple) or not value:
        return [
            Error(
                f"WALNATS['SERVERS'] must be a URL or a non-empty list of URLs, got {value!r}.",
                hint="For example 'nats://127.0.0.1:4222', or set NATS_URL.",
                id="walnats_django.E012",
            )
        ]
    problems = (server_url_problem(url) for url in value)
    return [
        Error(problem, hint="For example 'nats://127.0.0.1:4222'.", id="walnats_django.E012")
        for problem in problems
        if problem is not None
    ]


def _check_connect_options(value: object) -> list[CheckMessage]:
    if not isinstance(value, dict):
        return [
            Error(
                f"WALNATS['CONNECT_OPTIONS'] must be a dict, got {type(value).__name__}.",
                hint="It is passed to nats.connect() as keyword arguments.",
                id="walnats_django.E013",
            )
        ]
    from nats.aio.client import Client

    accepted = set(inspect.signature(Client.connect).parameters) - {"self"}
    errors: list[CheckMessage] = []
    for key in sorted(value, key=str):
        if key in RESERVED_CONNECT_OPTIONS:
            errors.append(
                Error(
                    f"WALNATS['CONNECT_OPTIONS'][{key!r}] is set by walnats-django itself.",
                    hint="Use WALNATS['SERVERS'] / ['INBOX_PREFIX'] instead, or remove it.",
                    id="walnats_django.E013",
                )
            )
        elif key not in accepted:
            errors.append(
                Error(
                    f"WALNATS['CONNECT_OPTIONS'][{key!r}] is not an option of nats.connect().",
                    hint="See nats-py's connect() signature for the accepted names.",
                    id="walnats_django.E013",
                )
            )
    return errors


def _is_inbox_prefix(value: object) -> bool:
    from .names import is_subject

    return isinstance(value, str) and is_subject(value)
