"""What test fixtures ask the server about actors: are their pulls open, and emptying their streams.

Asked over a connection of its own, made with the walnats settings as a worker's would be.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, TypeVar

from nats.js.errors import NotFoundError

from ..actors import Actor
from ..client import close_nats, open_nats
from ..conf import walnats_settings
from ..events import Event

T = TypeVar("T")

POLL_EVERY = 0.01
"""Seconds between looks at the consumers while a worker starts."""


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` to the end on a new event loop in a thread of its own and return its result.

    A thread, so that it works from sync fixtures whether or not the caller's thread runs a loop.
    """
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="walnats-fixture") as pool:
        return pool.submit(asyncio.run, coro).result()


async def wait_until_pulling(
    actors: Iterable[Actor[Any, Any]], *, timeout: float, check_alive: Callable[[], None]
) -> None:
    """Return once every actor's durable consumer exists and has a pull request open.

    `check_alive` raises when the worker died, so that its error shows at once instead of a
    timeout; `TimeoutError` names the actors still not pulling after `timeout` seconds.
    """
    nc = await open_nats(walnats_settings.CONNECT_TIMEOUT)
    try:
        js = nc.jetstream()
        waiting = {actor.name: actor for actor in actors}
        deadline = time.monotonic() + timeout
        while True:
            check_alive()
            for name, actor in list(waiting.items()):
                with contextlib.suppress(NotFoundError):
                    info = await js.consumer_info(actor.event.stream_name, name)
                    if info.num_waiting:
                        del waiting[name]
            if not waiting:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"actor(s) {', '.join(waiting)} had no pull open within {timeout:g}s; "
                    "see the worker's log for why it did not start."
                )
            await asyncio.sleep(POLL_EVERY)
    finally:
        await close_nats(nc)


async def purge_streams(events: Iterable[Event[Any, Any]]) -> None:
    """Remove every message from the events' streams (those that exist), so none leaks into a later test."""
    nc = await open_nats(walnats_settings.CONNECT_TIMEOUT)
    try:
        js = nc.jetstream()
        for stream in dict.fromkeys(event.stream_name for event in events):
            with contextlib.suppress(NotFoundError):
                await js.purge_stream(stream)
    finally:
        await close_nats(nc)
