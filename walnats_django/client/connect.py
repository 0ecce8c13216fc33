"""Opening and closing nats-py clients with walnats-django's settings, failing fast and clearly."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from nats.aio.client import Client as NATS

from ..conf import walnats_settings
from ..errors import NatsUnavailable
from ..servers import normalize, redact, server_url_problem
from .credentials import credentials_from_env

logger = logging.getLogger("walnats_django.client")

UNREACHABLE_HINT = "is nats-server running there? Set NATS_URL (or WALNATS['SERVERS']) to where it listens."


def server_urls() -> list[str]:
    """The configured server URLs, validated as system check E012 validates them."""
    servers = walnats_settings.SERVERS
    if not servers:
        raise ImproperlyConfigured("No NATS server configured; set NATS_URL or WALNATS['SERVERS'].")
    for url in servers:
        problem = server_url_problem(url)
        if problem is not None:
            raise ImproperlyConfigured(f"{problem} For example NATS_URL=nats://127.0.0.1:4222 (check E012).")
    return [normalize(url) for url in servers]


def connect_options(**overrides: Any) -> dict[str, Any]:
    """Keyword arguments for `nats.connect()` from the settings; reconnect forever by default."""
    options: dict[str, Any] = {
        "name": "walnats-django",
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 0.5,
        "connect_timeout": walnats_settings.CONNECT_TIMEOUT,
    }
    options.update(credentials_from_env())
    options.update(walnats_settings.CONNECT_OPTIONS)
    options.update(overrides)
    options["servers"] = server_urls()
    options["inbox_prefix"] = walnats_settings.INBOX_PREFIX
    return options


def shown_servers() -> str:
    """The configured server URLs for messages, credentials redacted."""
    return ", ".join(redact(url) for url in walnats_settings.SERVERS)


def jetstream_enabled(nc: NATS) -> bool:
    """Whether the server this client is connected to announced JetStream in its INFO."""
    info: dict[str, Any] = getattr(nc, "_server_info", None) or {}
    return bool(info.get("jetstream"))


async def open_nats(timeout: float, **callbacks: Any) -> NATS:
    """Connect, failing with `NatsUnavailable` once every server refused or `timeout` passed.

    nats-py retries the initial connect forever when reconnects are unlimited; we stop
    as soon as each server has failed once, so a caller learns "NATS is down" at once.
    """
    options = connect_options(**callbacks)
    servers = options["servers"]
    loop = asyncio.get_running_loop()
    failed: asyncio.Future[None] = loop.create_future()
    errors: list[BaseException] = []
    user_error_cb = options.pop("error_cb", None)

    async def error_cb(exc: Exception) -> None:
        if not failed.done() and not nc.is_connected and len(errors) < len(servers):
            errors.append(exc)
            if len(errors) == len(servers):
                failed.set_result(None)
        elif isinstance(exc, OSError | asyncio.TimeoutError):
            logger.debug("NATS connection attempt failed: %r", exc)
        else:
            logger.warning("NATS error: %s: %s", type(exc).__name__, exc)
        if user_error_cb is not None:
            await user_error_cb(exc)

    nc = NATS()
    connecting: asyncio.Future[None] = asyncio.ensure_future(nc.connect(error_cb=error_cb, **options))
    try:
        done, _ = await asyncio.wait(
            [connecting, failed], timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
    except asyncio.CancelledError:
        # Unlimited reconnects would keep a cancelled connect retrying forever.
        await asyncio.shield(_abandon(connecting, nc))
        raise
    if connecting in done and connecting.exception() is None:
        if not failed.done():
            failed.set_result(None)
        return nc
    await _abandon(connecting, nc)
    cause = errors[-1] if errors else (connecting.exception() if connecting in done else None)
    reason = f"{type(cause).__name__}: {cause}".rstrip(": ") if cause else f"no answer within {timeout:g}s"
    raise NatsUnavailable(
        f"cannot connect to NATS at {shown_servers()} ({reason}); {UNREACHABLE_HINT}"
    ) from cause


async def _abandon(connecting: asyncio.Future[None], nc: NATS) -> None:
    connecting.cancel()
    with contextlib.suppress(Exception):
        await nc.close()


async def close_nats(nc: NATS, drain_timeout: float = 2.0) -> None:
    """Drain when connected (flushes pending publishes and acks), else just close.

    The drain is bounded: a server that died a moment ago never answers its PING.
    """
    if nc.is_closed:
        return
    # A reconnect attempt racing with close() can survive its cancellation (asyncio.wait_for
    # in 3.11 swallows it) and retry forever on a closed client; forbid reconnects first.
    nc.options["allow_reconnect"] = False
    if nc.is_connected:
        try:
            await asyncio.wait_for(nc.drain(), drain_timeout)
        except (Exception, TimeoutError) as exc:  # noqa: BLE001 - closing anyway
            logger.debug("Drain failed, closing: %r", exc)
    if not nc.is_closed:
        await nc.close()
    reconnecting: asyncio.Task[None] | None = getattr(nc, "_reconnection_task", None)
    for _ in range(20):
        if reconnecting is None or reconnecting.done():
            break
        reconnecting.cancel()
        await asyncio.wait({reconnecting}, timeout=0.1)
