"""One connection per event loop, made on first use and remade after it closed."""

from __future__ import annotations

import asyncio
import weakref

from ..conf import settings_generation
from ..errors import NatsUnavailable
from .connection import Connection


class _LoopSlot:
    __slots__ = ("conn", "lock", "retired")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.conn: Connection | None = None
        self.retired: dict[Connection, asyncio.Task[None]] = {}
        """Connections to a server in lame duck mode, closing once their requests are done."""


_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopSlot] = weakref.WeakKeyDictionary()


async def get_connection(timeout: float) -> Connection:
    """The running loop's connection; `NatsUnavailable` when none can be had within `timeout`."""
    loop = asyncio.get_running_loop()
    slot = _slots.get(loop)
    if slot is None:
        _forget_closed_loops()
        slot = _slots[loop] = _LoopSlot()
    conn = slot.conn
    if conn is not None and conn.current:
        return conn
    try:
        async with asyncio.timeout(timeout):
            return await _connect_slot(slot, timeout)
    except TimeoutError:
        raise NatsUnavailable(f"no NATS connection within {timeout:g}s; is NATS up?") from None


async def _connect_slot(slot: _LoopSlot, timeout: float) -> Connection:
    async with slot.lock:
        conn = slot.conn
        if conn is not None and conn.generation != settings_generation.value:
            slot.conn = None
            await conn.close()
            conn = None
        if conn is not None and conn.retiring:
            try:
                fresh = await Connection.open(timeout)
            except NatsUnavailable:
                # No other server takes us: this one serves until it closes the connection.
                conn.retiring = False
            else:
                slot.conn = fresh
                _retire(slot, conn)
                return fresh
        if conn is not None:
            if conn.nc.is_connected:
                return conn
            if not conn.nc.is_closed:
                raise NatsUnavailable(
                    "NATS is unreachable right now (reconnecting in the background); retry later."
                )
            slot.conn = None
        slot.conn = await Connection.open(timeout)
        return slot.conn


def _retire(slot: _LoopSlot, conn: Connection) -> None:
    closing = asyncio.ensure_future(conn.close_when_idle())
    slot.retired[conn] = closing
    closing.add_done_callback(lambda _: slot.retired.pop(conn, None))


async def close_connection() -> None:
    """Close the running loop's connection, if any (ASGI lifespan shutdown, tests)."""
    slot = _slots.get(asyncio.get_running_loop())
    if slot is None:
        return
    for old in list(slot.retired):
        await old.close()
    if slot.conn is not None:
        conn, slot.conn = slot.conn, None
        await conn.close()


def _forget_closed_loops() -> None:
    for loop in [lp for lp in _slots if lp.is_closed()]:
        _slots.pop(loop, None)
