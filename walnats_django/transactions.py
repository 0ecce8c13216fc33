"""`emit_on_commit`: publish an event when the database transaction commits, nothing on rollback.

The message is validated and encoded at the call site, so a bad payload fails the view, not the
commit. The publish waits for JetStream's PubAck; if it fails, the transaction is committed
already: the error is logged and raised, and the event is not published. Teams that cannot lose
an event when NATS is down at commit use the transactional outbox (`walnats_django.outbox`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from typing import Any, TypeVar

from django.core.exceptions import SynchronousOnlyOperation
from django.db import transaction

from .errors import WalnatsError
from .events import Event
from .publisher import Meta, _encode_payload, publish_encoded_sync
from .wire import CloudEvent, build_headers

T = TypeVar("T")

logger = logging.getLogger("walnats_django.transactions")


@dataclasses.dataclass(frozen=True)
class PreparedEmit:
    """An emit validated and encoded at the call site, to be published later with its uid."""

    event: Event[Any, Any]
    payload: bytes
    headers: dict[str, str]
    uid: str
    """The `Nats-Msg-Id`: JetStream stores one message per uid within the stream's duplicate window."""

    def publish_at_commit(self) -> None:
        """Publish and wait for the PubAck; on failure log (with event and uid) and raise."""
        try:
            publish_encoded_sync(self.event, self.payload, dict(self.headers), wait=True)
        except Exception as exc:
            logger.error(
                "Emit on commit failed event=%s uid=%s; the transaction is committed, the event is not "
                "published (walnats_django.outbox relays events NATS could not take): %s",
                self.event.name,
                self.uid,
                exc,
                exc_info=not isinstance(exc, WalnatsError),
            )
            exc.add_note(
                f"raised at commit by emit_on_commit(event={self.event.name!r}, uid={self.uid!r}): "
                "the transaction is committed, the event was not published."
            )
            raise


def prepare_emit(
    event: Event[T, Any],
    message: T,
    *,
    uid: str | None,
    trace_id: str | None,
    delay: float | None,
    meta: Meta,
) -> PreparedEmit:
    """Validate and encode `message` now; the uid is `uid`, else the CloudEvent's id, else a new one.

    `delay` becomes an absolute time (Walnats-Delay), so it counts from this call.
    """
    payload = _encode_payload(event, message)
    if uid is None:
        uid = meta.id if isinstance(meta, CloudEvent) else uuid.uuid4().hex
    headers = build_headers(uid=uid, trace_id=trace_id, delay=delay, meta=meta)
    return PreparedEmit(event, payload, headers, uid)


def refuse_event_loop(what: str) -> None:
    """Raise `SynchronousOnlyOperation` when called from async code (a running event loop here)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise SynchronousOnlyOperation(
        f"{what} works with Django transactions, which are sync: call it in sync code, e.g. a "
        "function run with `await sync_to_async(...)()` that opens the transaction; in async code "
        "without a transaction use `await walnats_django.emit(..., wait=True)`."
    )


def emit_on_commit(
    event: Event[T, Any],
    message: T,
    *,
    using: str | None = None,
    uid: str | None = None,
    trace_id: str | None = None,
    delay: float | None = None,
    meta: Meta = None,
) -> str:
    """Publish `message` for `event` once the transaction on database `using` commits; return its uid.

    Nothing is published if the transaction (or the savepoint around the call) rolls back.
    Outside an atomic block it publishes at once, as Django runs such callbacks at once.
    A failed publish at commit is logged (logger `walnats_django.transactions`) and raised
    from the `atomic` block's exit; Django then skips the transaction's later on-commit callbacks.
    """
    refuse_event_loop("emit_on_commit()")
    prepared = prepare_emit(event, message, uid=uid, trace_id=trace_id, delay=delay, meta=meta)
    transaction.on_commit(prepared.publish_at_commit, using=using)
    return prepared.uid
