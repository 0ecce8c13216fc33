"""NATS server URLs: one validation for system checks and connections, one redaction for display."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

NATS_SCHEMES = frozenset({"nats", "tls", "ws", "wss"})
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)[^/\s]*@")


def redact(url: str) -> str:
    """`url` without its user:password or token part."""
    return _USERINFO.sub(r"\g<scheme>***@", url)


def server_url_problem(url: object) -> str | None:
    """Why `url` cannot be a NATS server URL, or None.

    `host:port` without a scheme is accepted, as nats-py reads it as `nats://host:port`.
    """
    if not isinstance(url, str) or not url.strip():
        return f"NATS server URL {url!r} is not a non-empty string."
    full = normalize(url)
    try:
        parts = urlsplit(full)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return f"NATS server URL {redact(url)!r} cannot be parsed."
    if parts.scheme not in NATS_SCHEMES:
        return f"NATS server URL {redact(url)!r} is not a nats://, tls://, ws:// or wss:// URL."
    if not parts.hostname:
        return f"NATS server URL {redact(url)!r} has no host name."
    return None


def normalize(url: str) -> str:
    """`url` with `nats://` added when it names no scheme (as nats-py does)."""
    url = url.strip()
    return url if "://" in url else f"nats://{url}"
