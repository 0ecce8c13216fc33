"""`inline()`: the in-process test mode, as a context manager, a test decorator and a TestCase mixin.

While a bus is active every emit and request in the process (any thread, any task) goes to it
instead of NATS, and so does every task enqueued on a WalnatsBackend (its results too, in memory).
Blocks nest: the innermost bus takes the calls until it ends.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from .. import publisher
from ..errors import InlineModeError
from ..events import Event
from ..registry import Registry
from .bus import DEFAULT_MAX_ATTEMPTS, DEFAULT_MAX_PAYLOAD, InlineBus
from .task_queues import divert as divert_tasks

if TYPE_CHECKING:
    from ..tasks.routing import StandIn

F = TypeVar("F", bound=Callable[..., Any])

_lock = threading.Lock()
_active: list[InlineBus] = []
_outside: publisher.Route | None = None
"""The route before the first bus took over (None: NATS), restored when the last one ends."""
_outside_tasks: StandIn | None = None
"""The same for the task backends' results and sync calls (`walnats_django.tasks.routing`)."""


def _activate(bus: InlineBus) -> None:
    global _outside, _outside_tasks
    with _lock:
        previous = publisher.divert(bus)
        previous_tasks = divert_tasks(bus.tasks_stand_in)
        if not _active:
            _outside, _outside_tasks = previous, previous_tasks
        _active.append(bus)


def _deactivate(bus: InlineBus) -> None:
    with _lock:
        _active.remove(bus)
        if _active:
            publisher.divert(_active[-1])
            divert_tasks(_active[-1].tasks_stand_in)
        else:
            publisher.divert(_outside)
            divert_tasks(_outside_tasks)


class inline:
    """Send emits, requests and enqueued tasks to an in-process `InlineBus` instead of NATS.

    `with inline() as bus:`, `@inline()` on a sync or async test (the bus is `inline.current()`),
    or `InlineTestMixin` for Django test cases. `run=False` only records; `live=True` records and
    publishes over NATS for real. See the README's "Testing your code" for every option.
    """

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
        self._options: dict[str, Any] = {
            "run": run,
            "live": live,
            "raise_errors": raise_errors,
            "max_attempts": max_attempts,
            "max_payload": max_payload,
            "answers": answers,
            "registry": registry,
        }
        InlineBus(**self._options)  # bad options fail here, not when a decorated test runs
        self._entered: list[InlineBus] = []

    def start(self) -> InlineBus:
        """Activate a fresh bus (what `with` does); end it with `stop()`."""
        bus = InlineBus(**self._options)
        _activate(bus)
        return bus

    @staticmethod
    def stop(bus: InlineBus) -> None:
        """Deactivate `bus`; the bus active before it takes the calls again."""
        _deactivate(bus)

    def __enter__(self) -> InlineBus:
        bus = self.start()
        self._entered.append(bus)
        return bus

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop(self._entered.pop())

    def __call__(self, func: F) -> F:
        """Decorate a sync or async function: each call runs with a fresh bus."""
        if inspect.isclass(func):
            raise TypeError(
                "@inline() decorates test functions; for a TestCase class, mix in InlineTestMixin "
                "(and set inline_options)."
            )
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                bus = self.start()
                try:
                    return await func(*args, **kwargs)
                finally:
                    self.stop(bus)

            return run_async  # type: ignore[return-value]

        @functools.wraps(func)
        def run_sync(*args: Any, **kwargs: Any) -> Any:
            bus = self.start()
            try:
                return func(*args, **kwargs)
            finally:
                self.stop(bus)

        return run_sync  # type: ignore[return-value]

    @staticmethod
    def current() -> InlineBus:
        """The bus taking calls now (the innermost active one)."""
        with _lock:
            if _active:
                return _active[-1]
        raise InlineModeError(
            "no inline() bus is active; use `with inline() as bus:`, decorate the test with "
            "@inline(), or mix InlineTestMixin into the test case."
        )


if TYPE_CHECKING:
    import unittest

    _TestCase = unittest.TestCase
else:
    _TestCase = object


class InlineTestMixin(_TestCase):
    """Runs each test of a Django (or unittest) test case with a fresh bus, as `self.bus`.

    `class MyTest(InlineTestMixin, TestCase)`; set `inline_options = {"run": False}` etc.
    """

    inline_options: ClassVar[dict[str, Any]] = {}
    bus: InlineBus

    def _callSetUp(self) -> None:
        # Before setUp (which may emit), ended by a cleanup (after tearDown) even when a test fails.
        self.bus = self.enterContext(inline(**self.inline_options))
        super()._callSetUp()  # type: ignore[misc]  # unittest's private hook, stable since 3.8
