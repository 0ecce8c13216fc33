"""walnats-style events, actors and request/response over NATS JetStream for Django."""

from .actors import Actor
from .errors import (
    ConsumerLost,
    DeadLetterError,
    DuplicateRequest,
    EventNotRegistered,
    InvalidHeader,
    InvalidName,
    JetStreamDisabled,
    NatsUnavailable,
    NoActors,
    NotARequestEvent,
    PayloadTooLarge,
    PayloadTypeError,
    PublishRejected,
    RemoteError,
    RequestTimeout,
    SerializationError,
    StreamConfigConflict,
    WalnatsError,
)
from .events import Event, Limits
from .publisher import emit, emit_sync, request, request_sync
from .registry import Registry, registry
from .transactions import emit_on_commit
from .wire import CloudEvent

__version__ = "0.1.0"

__all__ = [
    "Actor",
    "CloudEvent",
    "ConsumerLost",
    "DeadLetterError",
    "DuplicateRequest",
    "Event",
    "EventNotRegistered",
    "InvalidHeader",
    "InvalidName",
    "JetStreamDisabled",
    "Limits",
    "NatsUnavailable",
    "NoActors",
    "NotARequestEvent",
    "PayloadTooLarge",
    "PayloadTypeError",
    "PublishRejected",
    "Registry",
    "RemoteError",
    "RequestTimeout",
    "SerializationError",
    "StreamConfigConflict",
    "WalnatsError",
    "__version__",
    "emit",
    "emit_on_commit",
    "emit_sync",
    "registry",
    "request",
    "request_sync",
]
