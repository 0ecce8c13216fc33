"""The observation seam: the points of publishers and workers that metrics and tracing watch.

Publishers and workers call `current.observer` at each point when it is not None, so with
nothing installed the cost is one attribute check.
"""

from .current import use
from .errors import ExtraNotInstalled, MetricsServerError
from .observer import Fanout, JobObservation, Observer, PublishObservation, combine
from .outcomes import JobOutcome, PublishKind, call_outcome
from .setup import configure

__all__ = [
    "ExtraNotInstalled",
    "Fanout",
    "JobObservation",
    "JobOutcome",
    "MetricsServerError",
    "Observer",
    "PublishKind",
    "PublishObservation",
    "call_outcome",
    "combine",
    "configure",
    "use",
]
