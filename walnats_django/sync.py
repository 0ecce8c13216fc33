"""A background event loop so sync callers share one NATS connection across threads."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from django.core.exceptions import SynchronousOnlyOperation

T = TypeVar("T")


class BackgroundLoop:
    """An event loop in a daemon thread, started on first use and closed at exit."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def _ensure(self) -> asyncio.AbstractEventLoop:
        if self._pid != os.getpid():
            # A forked child (gunicorn --preload, multiprocessing) inherits the loop object but
            # not its thread: start afresh, leaving the parent's loop and connection alone.
            self._lock = threading.Lock()
            self._loop = self._thread = None
            self._pid = os.getpid()
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="walnats-sync", daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
                atexit.register(self.stop)
            return self._loop

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the background loop and return its result in this thread."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            coro.close()
            raise SynchronousOnlyOperation(
                "walnats_django sync calls (request_sync, emit_sync) cannot run inside an event "
                "loop; use `await request(...)` / `await emit(...)` in async code."
            )
        return asyncio.run_coroutine_threadsafe(coro, self._ensure()).result()

    def stop(self) -> None:
        """Close the loop's NATS connection and stop the thread (idempotent)."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or loop.is_closed():
            return
        from .client import close_connection

        with contextlib.suppress(Exception):  # shutting down anyway
            asyncio.run_coroutine_threadsafe(close_connection(), loop).result(timeout=5)
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(timeout=5)
        loop.close()


background_loop = BackgroundLoop()


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a walnats coroutine from sync code on the shared background loop."""
    return background_loop.run(coro)
