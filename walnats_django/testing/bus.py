"""The in-process test bus: takes every emit and request, records it, and delivers it.

In process (the default) it runs the registered actors and the task queues of TASKS; with
`run=False` it only records; with `live=True` it records and publishes over NATS for real.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from django.core.exceptions import SynchronousOnlyOperation

from .. import publisher
from ..errors import InlineModeError, SerializationError
from ..events import Event
from ..registry import Registry
from ..registry import registry as default_registry
from ..serializers import decode
from ..validation import positive_number_problem
from .forwarding import OverNats
from .in_process import InProcess
from .matching import Where, check_where, describe_where, matches, times_text, what_was_emitted
from .records import Emitted, InlineDeadLetter
from .task_queues import InProcessTasks

if TYPE_CHECKING:
    from ..tasks.compat import TaskResult
    from ..tasks.records import TaskRecord
    from .task_matching import TaskChoice

T = TypeVar("T")
R = TypeVar("R")
Answer = tuple[bytes, Mapping[str, str] | None]

DEFAULT_MAX_ATTEMPTS = 5
"""Attempts before giving up on an actor whose `max_attempts` is None (a worker retries forever)."""
DEFAULT_MAX_PAYLOAD = 1024 * 1024
"""nats-server's default `max_payload`, which the real path checks messages against."""

_failures: contextvars.ContextVar[list[BaseException] | None] = contextvars.ContextVar(
    "walnats_inline_failures", default=None
)
"""Set by the outermost call: what it and the handlers it ran would only have logged."""


class Transport(Protocol):
    def call_sync(self, call: Callable[[], Awaitable[T]]) -> T: ...

    async def publish(self, message: Emitted, *, wait: bool) -> None: ...

    async def request(self, message: Emitted, *, timeout: float, delay: float | None) -> Answer: ...


class InlineBus:
    """Records every emit and request made while it is active, and delivers them (see `inline`)."""

    def __init__(
        self,
        *,
        run: bool = True,
        live: bool = False,
        raise_errors: bool = True,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        max_payload: int = DEFAULT_MAX_PAYLOAD,
        answers: Mapping[Event[Any, Any] | str, Any] | None = None,
        registry: Registry | None = None,
    ) -> None:
        for name, value in (("max_attempts", max_attempts), ("max_payload", max_payload)):
            problem = positive_number_problem(value, integer=True, what=f"inline(): {name}")
            if problem is not None:
                raise ValueError(problem)
        if live and (not run or answers):
            raise ValueError(
                "inline(live=True) publishes over NATS, where workers run the actors; run=False and "
                "answers= apply only in process: drop them, or drop live=True."
            )
        if registry is not None and not isinstance(registry, Registry):
            raise TypeError(f"inline(): registry must be a walnats_django Registry, got {registry!r:.80}.")
        self.live = live
        self.raise_errors = raise_errors
        self.messages: list[Emitted] = []
        """Every emit and request, in order, also the refused ones and duplicates."""
        self._dead_letters: list[InlineDeadLetter] = []
        self._in_process: InProcess | None = None
        self._tasks: InProcessTasks | None = None
        self._transport: Transport
        if live:
            self._transport = OverNats()
        else:
            self._tasks = InProcessTasks(max_payload=max_payload)
            self._in_process = InProcess(
                registry=default_registry if registry is None else registry,
                run=run,
                max_attempts=max_attempts,
                max_payload=max_payload,
                answers={_name(event): answer for event, answer in (answers or {}).items()},
                dead_letters=self._dead_letters,
                report=_report,
                tasks=self._tasks,
            )
            self._transport = self._in_process

    def __repr__(self) -> str:
        in_process = self._in_process
        mode = "live" if in_process is None else "in process" if in_process.run else "recording"
        return f"<InlineBus {mode}: {len(self.messages)} messages, {len(self._dead_letters)} dead letters>"

    # -- what the bus saw ----------------------------------------------------------------------

    def emitted(self, event: Event[Any, Any] | str, *, include_duplicates: bool = False) -> list[Emitted]:
        """The stored emits and requests of `event` (an Event or its name), in order."""
        name = _name(event)
        return [
            m
            for m in self.messages
            if m.event.name == name and (m.stored or (include_duplicates and m.duplicate))
        ]

    def assert_emitted(
        self, event: Event[Any, Any] | str, times: int | None = None, where: Where = None
    ) -> list[Emitted]:
        """Fail unless `event` was emitted (exactly `times` times, if given) with a payload matching
        `where`; return the matching messages."""
        _check_times(times)
        check_where(where)
        found = self.emitted(event)
        matching = [m for m in found if matches(where, m.payload)]
        if (matching and times is None) or len(matching) == times:
            return matching
        raise AssertionError(
            f"expected event {_name(event)!r} emitted {times_text(times)}{describe_where(where)}, but "
            + what_was_emitted(_name(event), found, len(matching), self.messages)
        )

    def assert_not_emitted(self, event: Event[Any, Any] | str, where: Where = None) -> None:
        """Fail if `event` was emitted (with a payload matching `where`, if given)."""
        self.assert_emitted(event, times=0, where=where)

    # -- tasks (Django's Tasks API on WalnatsBackend) ----------------------------------------------

    def enqueued(self, task: TaskChoice | None = None) -> list[TaskResult[Any]]:
        """The results of the tasks enqueued (of `task`, a Task or its dotted path, if given), in
        order: in process as stored now; live as enqueued (READY). `wait_sync(result)` gives the
        outcome both ways."""
        from .task_matching import enqueued_records, results, task_path

        records = enqueued_records(self.messages)
        if task is not None:
            path = task_path(task)
            records = [record for record in records if record.task == path]
        return results(records, self._current)

    def assert_enqueued(
        self, task: TaskChoice, times: int | None = None, where: Where = None
    ) -> list[TaskResult[Any]]:
        """Fail unless `task` was enqueued (exactly `times` times, if given) with arguments matching
        `where` (a dict of values by parameter name, or a callable given that dict); return the
        matching results (see `enqueued`)."""
        from .task_matching import arguments, enqueued_records, task_path, what_was_enqueued

        _check_times(times)
        check_where(where)
        path = task_path(task)
        found = self.enqueued(path)
        matching = [result for result in found if matches(where, arguments(result))]
        if (matching and times is None) or len(matching) == times:
            return matching
        raise AssertionError(
            f"expected task {path} enqueued {times_text(times)}{describe_where(where)}, but "
            + what_was_enqueued(path, found, len(matching), enqueued_records(self.messages))
        )

    def assert_not_enqueued(self, task: TaskChoice, where: Where = None) -> None:
        """Fail if `task` was enqueued (with arguments matching `where`, if given)."""
        self.assert_enqueued(task, times=0, where=where)

    @property
    def tasks_stand_in(self) -> InProcessTasks | None:
        """What takes NATS's place for the task backends while this bus is active (None: live)."""
        return self._tasks

    def _current(self, record: TaskRecord) -> TaskRecord:
        return record if self._tasks is None else self._tasks.current(record)

    # -- dead letters and delays -------------------------------------------------------------------

    @property
    def dead_letters(self) -> list[InlineDeadLetter]:
        """Messages an actor gave up on (out of attempts, or undecodable), in order; in process a
        task that failed for good is here too, as a worker records it."""
        self._require_in_process(
            "bus.dead_letters (they are in the dead-letter stream: manage.py deadletters)"
        )
        return self._dead_letters

    @property
    def held(self) -> list[Emitted]:
        """Emits sent with `delay=` (and tasks with `run_after`), waiting for `run_delayed()`."""
        return list(self._require_in_process("bus.held").held)

    def run_delayed(self) -> int:
        """Deliver the emits held for their delay (and run the tasks held for `run_after`) now;
        return how many (later ones wait)."""
        in_process = self._require_in_process("bus.run_delayed()")
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return in_process.call_sync(self.arun_delayed)
        raise SynchronousOnlyOperation(
            "bus.run_delayed() cannot run inside an event loop; use bus.arun_delayed()."
        )

    async def arun_delayed(self) -> int:
        """`run_delayed()` for async code."""
        in_process = self._require_in_process("bus.arun_delayed()")
        return await _outermost(self.raise_errors, None, in_process.release_held)

    # -- the publisher's route -----------------------------------------------------------------

    async def publish(
        self, event: Event[Any, Any], payload: bytes, headers: dict[str, str], *, wait: bool
    ) -> None:
        message = self._record(event, payload, headers, is_request=False)
        await _outermost(self.raise_errors, message, lambda: self._transport.publish(message, wait=wait))

    def publish_sync(
        self, event: Event[Any, Any], payload: bytes, headers: dict[str, str], *, wait: bool
    ) -> None:
        self._transport.call_sync(lambda: self.publish(event, payload, headers, wait=wait))

    async def request(
        self,
        event: Event[Any, R],
        payload: bytes,
        headers: dict[str, str],
        *,
        timeout: float,
        delay: float | None,
    ) -> R:
        message = self._record(event, payload, headers, is_request=True)

        async def answered() -> R:
            data, answer_headers = await self._transport.request(message, timeout=timeout, delay=delay)
            answer: R = publisher.decode_answer(event, data, answer_headers)
            message.answer = answer
            return answer

        return await _outermost(self.raise_errors, message, answered)

    def request_sync(
        self,
        event: Event[Any, R],
        payload: bytes,
        headers: dict[str, str],
        *,
        timeout: float,
        delay: float | None,
    ) -> R:
        return self._transport.call_sync(
            lambda: self.request(event, payload, headers, timeout=timeout, delay=delay)
        )

    def _record(
        self, event: Event[Any, Any], data: bytes, headers: dict[str, str], *, is_request: bool
    ) -> Emitted:
        message = Emitted(event=event, data=data, headers=dict(headers), is_request=is_request)
        with contextlib.suppress(SerializationError):  # the actors' decoding reports it, as a worker's
            message.payload = decode(
                event.payload_serializer, event.schema, data, f"payload of event {event.name!r}"
            )
        self.messages.append(message)
        return message

    def _require_in_process(self, what: str) -> InProcess:
        if self._in_process is None:
            raise InlineModeError(
                f"{what} is not available with inline(live=True): the real workers run the actors there."
            )
        return self._in_process


def _check_times(times: object) -> None:
    if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 0):
        raise TypeError(f"times must be a whole number >= 0 or None, got {times!r}.")


def _name(event: Event[Any, Any] | str) -> str:
    if isinstance(event, str):
        return event
    if isinstance(event, Event):
        return event.name
    raise TypeError(f"expected an Event or an event name, got {event!r:.80}.")


def _report(exc: BaseException) -> None:
    failures = _failures.get()
    if failures is not None:
        failures.append(exc)


async def _outermost(raise_errors: bool, message: Emitted | None, call: Callable[[], Awaitable[T]]) -> T:
    """Await `call()`, recording its error on `message`; the outermost call (not one a handler
    makes) also raises, with `raise_errors`, the first failure a real emit would only log."""
    outer = _failures.get() is None
    token = _failures.set([]) if outer else None
    try:
        result = await call()
    except Exception as exc:
        if message is not None and message.error is None:
            message.error = exc
        raise
    finally:
        failures = _failures.get() or []
        if token is not None:
            _failures.reset(token)
    if outer and raise_errors and failures:
        raise failures[0]
    return result
