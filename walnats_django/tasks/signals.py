"""Sending the Tasks framework's signals from the event loop without a thread hop where none is needed.

Django's `Signal.asend` runs every sync receiver in a thread, since one may use the database.
The framework's own receivers only log, so they run on the loop; as soon as any other sync
receiver is connected, all sync receivers run in a thread as `asend` would run them. A failed
task's `task_finished` always goes to a thread: its receiver logs at ERROR, which Django's
default LOGGING may turn into an email to ADMINS (SMTP must not block the worker's loop).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.dispatch import Signal

from .compat import BUILTIN

logger = logging.getLogger("walnats_django.tasks")

Receiver = Callable[..., Any]


def _logging_receivers() -> frozenset[Receiver]:
    """The framework's receivers that only write a log line (`log_task_enqueued`, ...)."""
    module = importlib.import_module("django.tasks.signals" if BUILTIN else "django_tasks.signals")
    names = ("log_task_enqueued", "log_task_started", "log_task_finished")
    return frozenset(found for name in names if callable(found := getattr(module, name, None)))


LOGGING_RECEIVERS = _logging_receivers()


def _receivers(signal: Signal, sender: type) -> tuple[list[Receiver], list[Receiver]]:
    """(sync, async) receivers of `signal` for `sender`, as `Signal.asend` finds them."""
    if not signal.receivers:
        return [], []
    sync_receivers, async_receivers = signal._live_receivers(sender)
    return list(sync_receivers), list(async_receivers)


def _only_logging(receivers: list[Receiver]) -> bool:
    return all(receiver in LOGGING_RECEIVERS for receiver in receivers)


async def asend(signal: Signal, sender: type, **named: Any) -> None:
    """`signal.asend(sender, **named)`: a receiver's exception propagates, as there."""
    sync_receivers, async_receivers = _receivers(signal, sender)
    if not _only_logging(sync_receivers):
        await signal.asend(sender, **named)
        return
    for receiver in sync_receivers:
        receiver(signal=signal, sender=sender, **named)
    await asyncio.gather(*(receiver(signal=signal, sender=sender, **named) for receiver in async_receivers))


async def asend_robust(signal: Signal, sender: type, error: BaseException | None, **named: Any) -> None:
    """`signal.send_robust(sender, **named)` with `error` as the exception being handled (so a
    receiver's `logger.exception` reports it); receivers' exceptions are logged, not raised."""
    sync_receivers, async_receivers = _receivers(signal, sender)
    if not sync_receivers and not async_receivers:
        return
    if error is None and _only_logging(sync_receivers) and not async_receivers:
        _send_robust(signal, sender, error, named)
    else:
        await sync_to_async(_send_robust)(signal, sender, error, named)


def _send_robust(signal: Signal, sender: type, error: BaseException | None, named: dict[str, Any]) -> None:
    if error is None:
        answers = signal.send_robust(sender=sender, **named)
    else:
        try:
            raise error
        except BaseException:  # noqa: BLE001 - re-raised only to be the exception being handled
            answers = signal.send_robust(sender=sender, **named)
    for receiver, answer in answers:
        if isinstance(answer, Exception):
            logger.error("Signal receiver %r raised %r", receiver, answer, exc_info=answer)
