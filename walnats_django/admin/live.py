"""Live JetStream state for the admin pages: fetched within short timeouts, never failing a page.

`LivePages.live(fetch)` runs `fetch(js)` on the shared connection and returns its value with a
`Live` that says whether it worked and, if not, why (NATS down, JetStream disabled, a timeout),
with every configured secret scrubbed from the reason.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

from nats.js import JetStreamContext

from ..client import get_connection
from ..client.pubacks import jetstream_disabled
from ..conf import walnats_settings
from ..errors import NatsUnavailable
from ..servers import redact
from ..sync import run_sync

logger = logging.getLogger("walnats_django.admin")

T = TypeVar("T")

NOT_CREATED = "not created yet (run manage.py runactors)"


@dataclasses.dataclass(frozen=True)
class Live:
    """Whether live numbers could be fetched, and from where (URLs already redacted)."""

    ok: bool
    servers: list[str]
    connected_url: str | None = None
    error: str | None = None
    unreachable: bool = False
    """NATS itself could not be reached (as opposed to JetStream failing to answer)."""


class LivePages:
    """Mixed into the walnats ModelAdmins: `live(fetch)` with the pages' timeouts."""

    connect_timeout: float = 1.0
    """Seconds to wait for a NATS connection before saying NATS is unreachable."""
    lookup_timeout: float = 1.0
    """Seconds for all JetStream lookups of one page together."""

    def live(
        self, fetch: Callable[[JetStreamContext], Awaitable[T]], *, timeout: float | None = None
    ) -> tuple[T | None, Live]:
        """`fetch(js)` within the timeouts (`timeout` instead of `lookup_timeout` when given), or
        None and the reason it could not run."""
        servers = [redact(url) for url in walnats_settings.SERVERS]
        lookup = self.lookup_timeout if timeout is None else timeout
        try:
            value, connected = run_sync(_fetch(fetch, self.connect_timeout, lookup))
        except NatsUnavailable as exc:
            return None, Live(ok=False, servers=servers, error=scrub(str(exc)), unreachable=True)
        except Exception as exc:  # noqa: BLE001 - the page must render whatever NATS does
            error = scrub(f"{type(exc).__name__}: {exc}".rstrip(": "))
            logger.warning("Live JetStream state unavailable: %s", error)
            return None, Live(ok=False, servers=servers, error=error)
        return value, Live(ok=True, servers=servers, connected_url=connected)


async def _fetch(
    fetch: Callable[[JetStreamContext], Awaitable[T]], connect_timeout: float, lookup_timeout: float
) -> tuple[T, str | None]:
    connecting = asyncio.ensure_future(get_connection(connect_timeout))
    connecting.add_done_callback(_retrieve)
    try:
        # get_connection() honours its timeout; the shield keeps a slow connect shared with
        # other callers alive, the outer bound keeps the page from waiting on it for long.
        conn = await asyncio.wait_for(asyncio.shield(connecting), connect_timeout + 0.25)
    except TimeoutError:
        raise NatsUnavailable(f"no connection to NATS within {connect_timeout:g}s.") from None
    if not conn.jetstream_enabled:
        raise jetstream_disabled()
    url = conn.nc.connected_url
    js = conn.nc.jetstream(timeout=lookup_timeout)
    async with asyncio.timeout(lookup_timeout + 0.25):
        value = await fetch(js)
    return value, redact(url.geturl()) if url is not None else None


def _retrieve(future: asyncio.Future[Any]) -> None:
    # A connect that outlived the page's wait must not log "exception was never retrieved".
    if not future.cancelled():
        future.exception()


_SECRET_OPTIONS = ("user", "password", "token", "nkeys_seed_str", "user_jwt", "signature")


def scrub(text: str) -> str:
    """`text` with URL credentials and every configured secret replaced by `***`."""
    text = redact(text)
    secrets: set[str] = set()
    for url in walnats_settings.SERVERS:
        try:
            parts = urlsplit(url)
        except ValueError:
            continue
        for value in (parts.username, parts.password):
            if value:
                secrets.update({value, unquote(value)})
    for key in _SECRET_OPTIONS:
        value = walnats_settings.CONNECT_OPTIONS.get(key)
        if isinstance(value, str) and value:
            secrets.add(value)
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text
