"""Delivering recorded messages to the registered actors in process, as JetStream and a worker would.

The caller-side checks are the real path's (the same size check, the same PubAck reading for
duplicates and refusals); only the transport is replaced.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from asgiref.sync import async_to_sync
from django.core.exceptions import SynchronousOnlyOperation
from nats.aio.msg import Msg

from ..actors import Actor
from ..client.pubacks import ack_problem, stream_missing
from ..client.size import check_size
from ..conf import walnats_settings
from ..errors import NoActors, PayloadTooLarge, RequestTimeout, SerializationError
from ..events import Event
from ..registry import Registry
from ..serializers import decode, encode
from ..wire import (
    HEADER_ACCEPT_ERRORS,
    HEADER_ACTOR,
    HEADER_DEADLINE,
    HEADER_ERROR,
    HEADER_REPLY,
    encoded_size,
)
from ..worker.replies import MAX_ERROR_MESSAGE
from .jobs import Job, RetryPlan, run_job
from .records import Delivery, Emitted, InlineDeadLetter
from .task_queues import InProcessTasks

logger = logging.getLogger("walnats_django.testing")

T = TypeVar("T")
Answer = tuple[bytes, Mapping[str, str] | None]
MESSAGE_TOO_LARGE = 10054
"""JetStream's err_code for a message over the stream's max_msg_size (`Limits.message_size`)."""


class InProcess:
    """Stores messages as an interest stream would and runs their actors (unless `run` is off):
    the registry's, and the task queues' of TASKS (`tasks`).

    `report` hears what a real emit would only log (an actor giving up, a refused emit).
    """

    def __init__(
        self,
        *,
        registry: Registry,
        run: bool,
        max_attempts: int,
        max_payload: int,
        answers: Mapping[str, Any],
        dead_letters: list[InlineDeadLetter],
        report: Callable[[BaseException], None],
        tasks: InProcessTasks,
    ) -> None:
        self.registry = registry
        self.tasks = tasks
        self.run = run
        self.max_attempts = max_attempts
        self.max_payload = max_payload
        self.answers = answers
        self.dead_letters = dead_letters
        self.report = report
        self.held: list[Emitted] = []
        self._uids: dict[tuple[str, str], Emitted] = {}
        self._last_seq: dict[str, int] = {}

    def call_sync(self, call: Callable[[], Awaitable[T]]) -> T:
        """Run `call()` from sync code; thread-sensitive handlers then run in this thread."""
        refuse_inside_event_loop()

        async def awaited() -> T:
            return await call()

        return async_to_sync(awaited)()

    async def publish(self, message: Emitted, *, wait: bool) -> None:
        """Store `message` and run its actors; held back when it has a delay."""
        try:
            self._store(message)
        except PayloadTooLarge:
            raise  # checked before sending, so raised even without wait
        except Exception as exc:
            if wait:
                raise
            # Without wait the real path only logs what the PubAck said.
            logger.error("Inline emit failed stream=%s error=%s", message.event.stream_name, exc)
            message.error = exc
            self.report(exc)
            return
        if message.duplicate:
            return  # the uid makes re-emits safe
        delayed_until = message.delayed_until
        if delayed_until is not None and delayed_until - time.time() > 0.001:  # as a worker decides
            message.held = True
            self.held.append(message)
            return
        await self.deliver(message)

    async def deliver(self, message: Emitted) -> None:
        """Run every actor of the message's event (registration order; a worker runs them at once)."""
        if not self.run:
            return
        for actor in self._actors_for(message.event):
            await self._handle(actor, message, budget=None)

    async def release_held(self) -> int:
        """Deliver the messages held for their delay (those held now; later ones wait)."""
        due, self.held = self.held, []
        for message in due:
            message.held = False
            await self.deliver(message)
        return len(due)

    async def request(self, message: Emitted, *, timeout: float, delay: float | None) -> Answer:
        """Store `message` and answer it as the caller's inbox would hear it.

        A delayed request runs at once: the caller is waiting, and time is not simulated.
        """
        self._store(message)
        if message.duplicate:
            raise self._duplicate(message)
        event = message.event
        stub = self.answers.get(event.name, _NO_STUB)
        if stub is not _NO_STUB:
            return self._stub_answer(event, message, stub)
        if not self.run:
            raise NoActors(
                f"inline(run=False) runs no actors, so nobody answers event {event.name!r}; pass "
                f"answers={{EVENT: value or callable}} to stub the answer, or use inline()."
            )
        actors = self._actors_for(event)
        if not actors:
            raise NoActors(
                f"stream {event.stream_name!r} has no actor consumer, so nobody will answer; register "
                "an actor for this event (inline mode runs the registered actors)."
            )
        started = time.monotonic()
        answers = [await self._handle(actor, message, budget=timeout) for actor in actors]
        if time.monotonic() - started > timeout:
            raise RequestTimeout(f"no answer within {timeout:g}s (stream {event.stream_name!r}).")
        # The first success wins, as on the wire; when every actor failed, the first error.
        return next((answer for answer in answers if answer[1] is None), answers[0])

    def _store(self, message: Emitted) -> None:
        """The checks JetStream and the client make before a message is stored, then store it."""
        event = message.event
        registered = self._registered(event)
        if registered is None:
            raise stream_missing(event.stream_name)
        headers = dict(message.headers)
        if message.is_request:
            # What the real path adds before its size check: a reply subject (inbox, a 22-character
            # NUID, a token of at least 13 characters) and, without a deadline, its flag.
            headers[HEADER_REPLY] = f"{walnats_settings.INBOX_PREFIX}.{'X' * 22}.r{'X' * 13}"
            if HEADER_DEADLINE not in headers:
                headers[HEADER_ACCEPT_ERRORS] = "1"
        check_size(self.max_payload, event.subject, message.data, headers)
        limit = registered.limits.message_size
        if limit is not None and len(message.data) + encoded_size(headers) > limit:
            raise self._pub_ack_problem(
                message,
                {
                    "error": {
                        "code": 400,
                        "err_code": MESSAGE_TOO_LARGE,
                        "description": "message size exceeds maximum allowed",
                    }
                },
            )
        uid = message.uid
        if uid is not None:
            key = (event.stream_name, uid)
            if key in self._uids:
                message.duplicate = True
                return
            self._uids[key] = message
        message.seq = self._last_seq[event.stream_name] = self._last_seq.get(event.stream_name, 0) + 1
        message.stored = True

    def _registered(self, event: Event[Any, Any]) -> Event[Any, Any] | None:
        """The registered event (or task queue) of that name: those are the ones with streams."""
        registered = next((e for e in self.registry.events if e.name == event.name), None)
        if registered is None and (queue := self.tasks.actor_for(event.name)) is not None:
            return queue.event
        return registered

    def _actors_for(self, event: Event[Any, Any]) -> tuple[Actor[Any, Any], ...]:
        queue = self.tasks.actor_for(event.name)
        return self.registry.actors_for(event) + (() if queue is None else (queue,))

    def _duplicate(self, message: Emitted) -> Exception:
        first = self._uids[(message.event.stream_name, message.uid or "")]
        return self._pub_ack_problem(
            message, {"stream": message.event.stream_name, "seq": first.seq, "duplicate": True}
        )

    def _pub_ack_problem(self, message: Emitted, pub_ack: dict[str, Any]) -> Exception:
        """The error the real path reads from such a PubAck (the same code, the same words)."""
        ack = Msg(_client=None, data=json.dumps(pub_ack).encode())  # type: ignore[arg-type]
        problem = ack_problem(
            ack, message.event.stream_name, duplicate_ok=not message.is_request, jetstream=True
        )
        assert problem is not None
        return problem

    async def _handle(self, actor: Actor[Any, Any], message: Emitted, *, budget: float | None) -> Answer:
        """Run one actor on the message; record the delivery and any dead letter; its answer."""
        event = actor.event
        label = f"payload of event {event.name!r}"
        job = Job(
            name=actor.name,
            handler=actor.handler,
            is_async=actor.is_async,
            timeout=actor.job_timeout,
            decode=lambda: decode(event.payload_serializer, event.schema, message.data, label),
            plan=RetryPlan(actor.max_attempts, self.max_attempts, actor.retry_delay_for, budget),
        )
        outcome = await run_job(job)
        delivery = Delivery(actor, outcome.attempts, outcome.result, outcome.errors, outcome.gave_up)
        message.deliveries.append(delivery)
        if delivery.gave_up:
            error = delivery.errors[-1]
            try:
                payload = job.decode()
            except SerializationError:
                payload = None
            self.dead_letters.append(
                InlineDeadLetter(
                    event=event.name,
                    actor=actor.name,
                    payload=payload,
                    data=message.data,
                    headers=dict(message.headers),
                    error=error,
                    attempts=outcome.attempts,
                )
            )
            if not message.is_request and not outcome.settled:
                error.add_note(
                    f"walnats inline: {actor} gave up after {outcome.attempts} attempt(s); the "
                    "message is in bus.dead_letters (pass inline(raise_errors=False) to only record it)."
                )
                self.report(error)
            return _error_answer(error, actor.name)
        return self._answer(actor, delivery.result)

    def _answer(self, actor: Actor[Any, Any], result: Any) -> Answer:
        """The answer as `worker.replies.Replier` sends it: encoded, or an error if it cannot be."""
        try:
            data = encode(actor.event.answer_serializer, result, f"answer of actor {actor.name!r}")
        except SerializationError as exc:
            return _error_answer(exc, actor.name)
        if len(data) > self.max_payload:
            too_large = PayloadTooLarge(
                f"the answer takes {len(data)} bytes, over the server's max_payload of "
                f"{self.max_payload}; answer with a reference (e.g. a URL or an id) instead."
            )
            return _error_answer(too_large, actor.name)
        return data, None

    def _stub_answer(self, event: Event[Any, Any], message: Emitted, stub: Any) -> Answer:
        if isinstance(stub, BaseException):
            return _error_answer(stub, None)
        if callable(stub):
            payload = decode(
                event.payload_serializer, event.schema, message.data, f"payload of event {event.name!r}"
            )
            try:
                stub = stub(payload)
            except Exception as exc:  # noqa: BLE001 - a stub's failure is an error answer, as an actor's
                return _error_answer(exc, None)
        try:
            return encode(event.answer_serializer, stub, f"answer stub of event {event.name!r}"), None
        except SerializationError as exc:
            return _error_answer(exc, None)


_NO_STUB = object()


def refuse_inside_event_loop() -> None:
    """The sync twins' refusal inside an event loop, as `walnats_django.sync.run_sync` words it."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise SynchronousOnlyOperation(
        "walnats_django sync calls (request_sync, emit_sync) cannot run inside an event "
        "loop; use `await request(...)` / `await emit(...)` in async code."
    )


def _error_answer(exc: BaseException, actor: str | None) -> Answer:
    """An error answer as `Replier.answer_error` sends it."""
    text = str(exc) or type(exc).__name__
    headers = {HEADER_ERROR: type(exc).__name__}
    if actor is not None:
        headers[HEADER_ACTOR] = actor
    return text.encode()[:MAX_ERROR_MESSAGE], headers
