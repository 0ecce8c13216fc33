"""A 503 PubAck is a missing stream only when JetStream says so; otherwise (an election) publish again.

A pure unit test of the request multiplexer: a fake connection records what is published and
the test answers as JetStream would. The cluster suite shows the same against real nodes.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from nats.aio.msg import Msg

from walnats_django import EventNotRegistered, RequestTimeout
from walnats_django.client.mux import RequestMux

INBOX = "_INBOX.t"


class FakeNats:
    def __init__(self) -> None:
        self.max_payload = 1 << 20
        self._server_info = {"jetstream": True}
        self.published: asyncio.Queue[tuple[str, str]] = asyncio.Queue()

    async def publish(self, subject: str, payload: bytes, reply: str = "", headers: object = None) -> None:
        await self.published.put((subject, reply))


def _msg(subject: str, data: bytes, headers: dict[str, str] | None = None) -> Msg:
    return Msg(_client=None, subject=subject, data=data, headers=headers)  # type: ignore[arg-type]


NO_RESPONDERS = {"Status": "503"}


async def _next(nc: FakeNats) -> tuple[str, str]:
    return await asyncio.wait_for(nc.published.get(), 2)


@pytest.fixture
def mux() -> tuple[RequestMux, FakeNats]:
    nc = FakeNats()
    return RequestMux(nc, INBOX), nc  # type: ignore[arg-type]


async def test_no_responders_for_an_existing_stream_publishes_again(mux: tuple[RequestMux, FakeNats]) -> None:
    requests, nc = mux
    emitted = asyncio.ensure_future(
        requests.publish_and_wait("ev", "ev", b"x", {}, timeout=5, expects_answer=False)
    )
    subject, reply = await _next(nc)
    assert subject == "ev"
    await requests._on_inbox(_msg(reply, b"", NO_RESPONDERS))
    info_subject, info_reply = await _next(nc)
    assert info_subject == "$JS.API.STREAM.INFO.ev", "asks JetStream whether the stream exists"
    await requests._on_inbox(_msg(info_reply, json.dumps({"config": {"name": "ev"}}).encode()))
    again, again_reply = await _next(nc)
    assert (again, again_reply) == (subject, reply), "the same message, the same PubAck token"
    await requests._on_inbox(_msg(again_reply, b'{"stream":"ev","seq":1}'))
    assert await asyncio.wait_for(emitted, 1) is None


async def test_no_answer_to_the_stream_info_either_counts_as_an_election(
    mux: tuple[RequestMux, FakeNats],
) -> None:
    requests, nc = mux
    emitted = asyncio.ensure_future(
        requests.publish_and_wait("ev", "ev", b"x", {}, timeout=1.5, expects_answer=False)
    )
    _, reply = await _next(nc)
    await requests._on_inbox(_msg(reply, b"", NO_RESPONDERS))
    _, info_reply = await _next(nc)
    await requests._on_inbox(_msg(info_reply, b"", NO_RESPONDERS))  # the meta leader is being elected
    _, again_reply = await _next(nc)
    await requests._on_inbox(_msg(again_reply, b"", NO_RESPONDERS))
    await _next(nc)  # asks again...
    with pytest.raises(RequestTimeout, match=r"had no leader \(\d+ publishes answered 'no responders'"):
        await emitted  # ...until the caller's timeout, with a message that says why


async def test_a_missing_stream_fails_at_once(mux: tuple[RequestMux, FakeNats]) -> None:
    requests, nc = mux
    asked = asyncio.ensure_future(
        requests.publish_and_wait("ev", "ev", b"x", {}, timeout=5, expects_answer=True)
    )
    _, reply = await _next(nc)
    await requests._on_inbox(_msg(reply, b"", NO_RESPONDERS))
    _, info_reply = await _next(nc)
    missing = {"error": {"code": 404, "err_code": 10059, "description": "stream not found"}}
    await requests._on_inbox(_msg(info_reply, json.dumps(missing).encode()))
    with pytest.raises(EventNotRegistered, match=r"run `manage.py runactors` once"):
        await asyncio.wait_for(asked, 1)
