"""ASGI lifespan support: Django ignores lifespan, so close the NATS connection here."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .client import close_connection

logger = logging.getLogger("walnats_django.asgi")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def with_lifespan(app: ASGIApp) -> ASGIApp:
    """Wrap Django's ASGI app: answer lifespan events, close NATS cleanly at shutdown."""

    async def application(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    await close_connection()
                except Exception:
                    logger.exception("Closing the NATS connection failed")
                await send({"type": "lifespan.shutdown.complete"})
                return

    return application
