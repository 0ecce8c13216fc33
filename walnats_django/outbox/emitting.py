"""`outbox.emit`: write an event to the outbox table in the caller's transaction.

The row commits or rolls back with the caller's data; `manage.py relayoutbox` publishes
committed rows, so an event survives NATS being down at commit time.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured

from ..events import Event
from ..publisher import Meta
from ..registry import registry
from ..transactions import prepare_emit, refuse_event_loop
from .errors import UnregisteredEvent

T = TypeVar("T")


def emit(
    event: Event[T, Any],
    message: T,
    *,
    using: str | None = None,
    uid: str | None = None,
    trace_id: str | None = None,
    delay: float | None = None,
    meta: Meta = None,
) -> str:
    """Write `message` for `event` to the outbox on database `using`; return its uid (its Nats-Msg-Id).

    Validated and encoded now, published by `manage.py relayoutbox` once committed. `delay`
    counts from this call: a row relayed late is handled at once.
    """
    refuse_event_loop("walnats_django.outbox.emit()")
    if not apps.is_installed("walnats_django.outbox"):
        raise ImproperlyConfigured(
            'walnats_django.outbox.emit() needs "walnats_django.outbox" in INSTALLED_APPS; add it, '
            "then run `manage.py migrate walnats_outbox`."
        )
    from .models import OutboxMessage  # not at import: the app package loads before its models

    try:
        registry.get_event(event.name)
    except LookupError as exc:
        raise UnregisteredEvent(
            f"{exc} The outbox relay publishes registered events only: add it with "
            f"registry.add(Event(...)) in an app's events.py."
        ) from None
    prepared = prepare_emit(event, message, uid=uid, trace_id=trace_id, delay=delay, meta=meta)
    OutboxMessage.objects.db_manager(using).create(
        uid=prepared.uid,
        event=event.name,
        stream=event.stream_name,
        payload=prepared.payload,
        headers=prepared.headers,
    )
    return prepared.uid
