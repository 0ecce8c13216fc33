"""A connection of the publishing side: a nats-py client, its request multiplexer, its lifecycle."""

from __future__ import annotations

import asyncio
import logging

from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.nuid import NUID

from ..conf import settings_generation, walnats_settings
from ..errors import NatsUnavailable
from .connect import close_nats, jetstream_enabled, open_nats
from .mux import RequestMux

logger = logging.getLogger("walnats_django.client")

IDLE_CHECK_EVERY = 0.05
"""Seconds between looks at a retiring connection's requests still waiting."""


class Connection:
    """A NATS connection bound to one event loop; requests go through `mux`."""

    def __init__(self, nc: NATS, mux: RequestMux) -> None:
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream()
        """The connection's JetStream context, for stream and consumer lookups."""
        self.mux = mux
        self.closing = False
        self.generation = settings_generation.value
        """The settings generation it was made with; a `WALNATS` change makes it stale."""
        self.retiring = False
        """Its server announced lame duck mode: new requests go elsewhere, these finish here."""

    @classmethod
    async def open(cls, timeout: float) -> Connection:
        """Connect and subscribe the muxed inbox."""
        holder: list[Connection] = []

        async def disconnected_cb() -> None:
            if holder and not holder[0].closing:
                logger.warning("Disconnected from NATS; requests fail fast until it is back")
                holder[0].mux.fail_unacked(NatsUnavailable("the connection to NATS was lost."))

        async def reconnected_cb() -> None:
            logger.info("Reconnected to NATS")

        async def closed_cb() -> None:
            if holder:
                holder[0].mux.fail_all(NatsUnavailable("the connection to NATS closed for good."))

        user_lame_duck_cb = walnats_settings.CONNECT_OPTIONS.get("lame_duck_mode_cb")

        async def lame_duck_mode_cb() -> None:
            # The server will close this connection soon (a node stopped in lame duck mode, as in
            # a rolling restart): new requests go to a new connection, to another node, while
            # this one stays open for the PubAcks and answers still due. Without it, those failed
            # with NatsUnavailable or RequestTimeout when the server closed the connection.
            if holder and not holder[0].retiring:
                logger.info("The NATS server is shutting down (lame duck mode); new requests go to another")
                holder[0].retiring = True
            if user_lame_duck_cb is not None:
                await user_lame_duck_cb()

        nc = await open_nats(
            timeout,
            disconnected_cb=disconnected_cb,
            reconnected_cb=reconnected_cb,
            closed_cb=closed_cb,
            lame_duck_mode_cb=lame_duck_mode_cb,
        )
        conn = cls(nc, RequestMux(nc, f"{walnats_settings.INBOX_PREFIX}.{NUID().next().decode()}"))
        holder.append(conn)
        try:
            await conn.mux.subscribe()
        except BaseException:
            await asyncio.shield(close_nats(nc))
            raise
        return conn

    @property
    def current(self) -> bool:
        """Connected right now, made with the current settings, and its server not leaving."""
        return self.nc.is_connected and not self.retiring and self.generation == settings_generation.value

    @property
    def jetstream_enabled(self) -> bool:
        """Whether the server announced JetStream."""
        return jetstream_enabled(self.nc)

    async def close_when_idle(self) -> None:
        """Close once no request here waits for its PubAck or answer (each ends by its timeout)."""
        # Polled: an event per request end would cost every request for a rare case.
        while self.mux.waiting and not self.nc.is_closed and not self.closing:  # noqa: ASYNC110
            await asyncio.sleep(IDLE_CHECK_EVERY)
        if not self.closing:
            await self.close()

    async def close(self) -> None:
        """Drain and close; pending requests fail with `NatsUnavailable`."""
        self.closing = True
        self.mux.probe.close()
        self.mux.fail_all(NatsUnavailable("the NATS connection was closed."))
        await close_nats(self.nc)
