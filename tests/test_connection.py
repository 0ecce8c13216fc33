"""The requester's connection (walnats_django/client/connection.py, loops.py) when its server
announces lame duck mode (a node stopped the way operators stop one, as in a rolling restart).

nats-server sends the notice to its clients at the end of its grace period and then closes their
connections; here the test gives the notice itself, as nats-py would on that INFO. The real thing,
on a three-node cluster, is in tests/cluster/test_node_faults.py.
"""

from __future__ import annotations

import asyncio

import pytest

import walnats_django
from tests.helpers import until
from tests.testapp.events import ECHO
from walnats_django import NatsUnavailable
from walnats_django.client import get_connection
from walnats_django.client.connection import Connection

pytestmark = pytest.mark.usefixtures("worker")


async def _lame_duck_notice(conn: Connection) -> None:
    """What nats-py does when the server's INFO says `ldm: true`."""
    await conn.nc._lame_duck_mode_cb()


async def test_new_requests_leave_a_server_in_lame_duck_mode_and_waiting_ones_finish_there() -> None:
    """BUG (client/connection.py, loops.py): the requester stayed on a server in lame duck mode
    until the server closed the connection; calls waiting for a PubAck then failed with
    NatsUnavailable and answers on their way were lost (RequestTimeout)."""
    old = await get_connection(2.0)
    # Handled 0.5 s from now: it waits on the old connection across the notice.
    waiting = asyncio.ensure_future(walnats_django.request(ECHO, "before", delay=0.5, timeout=3))
    await until(lambda: old.mux.waiting, "the delayed request sent")
    await _lame_duck_notice(old)
    assert not old.current

    assert await walnats_django.request(ECHO, "after", timeout=2) == "after"
    fresh = await get_connection(2.0)
    assert fresh is not old
    assert fresh.current
    assert not old.nc.is_closed, "kept open for the request still waiting on it"
    assert await waiting == "before"
    await until(lambda: old.nc.is_closed, "the old connection closed once idle", 2)


async def test_with_nowhere_else_to_go_the_connection_keeps_serving(monkeypatch: pytest.MonkeyPatch) -> None:
    old = await get_connection(2.0)

    async def refused(cls: type[Connection], timeout: float) -> Connection:
        raise NatsUnavailable("every other server refused")

    monkeypatch.setattr(Connection, "open", classmethod(refused))
    await _lame_duck_notice(old)
    assert await walnats_django.request(ECHO, "still", timeout=2) == "still"
    assert await get_connection(2.0) is old
    assert old.current, "served until the server closes it; then it reconnects as always"
