"""The publishing side's NATS connection: connecting, reply tokens, the request multiplexer, the probe."""

from .connect import close_nats, connect_options, jetstream_enabled, open_nats
from .connection import Connection
from .loops import close_connection, get_connection

__all__ = [
    "Connection",
    "close_connection",
    "close_nats",
    "connect_options",
    "get_connection",
    "jetstream_enabled",
    "open_nats",
]
