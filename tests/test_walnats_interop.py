"""Wire compatibility with the real walnats 1.2.6 package, both ways, on a real nats-server.

Runs with TZ=UTC semantics in mind: walnats 1.2.6 stamps `Walnats-Delay` with
`utcnow().timestamp()`, so these tests send no delays.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import walnats

import walnats_django
from tests.helpers import WorkerProcess
from walnats_django.testing import NatsServer

UPPER = walnats_django.Event("interop.upper", str).with_response(str)
"""Declared on the walnats-django side; a walnats 1.2.6 actor answers it."""


async def test_a_walnats_requester_gets_a_walnats_django_actors_answer(
    nats_server: NatsServer, worker: WorkerProcess
) -> None:
    echo = walnats.Event("test.echo", str).with_response(str)  # the test app's echo actor runs in `worker`
    async with walnats.Events(echo).connect(nats_server.url) as conn:
        assert await conn.request(echo, "hello from walnats", timeout=4) == "hello from walnats"


async def test_a_walnats_emit_is_handled_by_a_walnats_django_actor(
    nats_server: NatsServer, worker: WorkerProcess
) -> None:
    count = walnats.Event("count-words", str).with_response(int)
    async with walnats.Events(count).connect(nats_server.url) as conn:
        assert await conn.request(count, "three words here", timeout=4) == 3


@pytest.fixture
async def walnats_actor(nats_server: NatsServer) -> AsyncIterator[list[str]]:
    """A walnats 1.2.6 actor for `interop.upper`, listening in this event loop."""
    seen: list[str] = []

    async def upper(text: str) -> str:
        seen.append(text)
        return text.upper()

    event = walnats.Event("interop.upper", str).with_response(str)
    actors = walnats.Actors(walnats.Actor("interop-upper", event, upper))
    async with walnats.Events(event).connect(nats_server.url) as events:
        await events.register()
        async with actors.connect(nats_server.url) as conn:
            await conn.register()
            listening = asyncio.create_task(conn.listen(poll_delay=0.5))
            yield seen
            listening.cancel()
            await asyncio.gather(listening, return_exceptions=True)
        await events._js.delete_stream("interop-upper")


async def test_a_walnats_django_request_gets_a_walnats_actors_answer(walnats_actor: list[str]) -> None:
    assert await walnats_django.request(UPPER, "hello from django", timeout=4) == "HELLO FROM DJANGO"
    assert walnats_actor == ["hello from django"]
