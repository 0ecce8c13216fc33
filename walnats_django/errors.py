"""The exceptions walnats-django raises: one base, one narrow subclass per outcome."""

from __future__ import annotations


class WalnatsError(Exception):
    """Base of every walnats-django error; catch it to handle them all."""


class InvalidName(WalnatsError, ValueError):
    """An event or actor name is not a safe NATS subject or consumer name; rename it."""


class PayloadTypeError(WalnatsError, TypeError):
    """The payload is not an instance of the event's schema; pass the declared type."""


class SerializationError(WalnatsError, ValueError):
    """The serializer could not encode or decode a payload; check the schema and serializer."""


class PayloadTooLarge(WalnatsError, ValueError):
    """The encoded message exceeds the server's max_payload; send less or raise the limit."""


class InvalidHeader(WalnatsError, ValueError):
    """A header name or value (trace id, uid, meta) is unsafe, e.g. contains CR/LF."""


class NatsUnavailable(WalnatsError, ConnectionError):
    """NATS cannot be reached right now; retry later or check WALNATS["SERVERS"]."""


class EventNotRegistered(WalnatsError):
    """No JetStream stream captures the event; run `manage.py runactors` once to create it."""


class NoActors(WalnatsError):
    """The event's stream has no actor consumer, so nobody would answer; start an actor."""


class PublishRejected(WalnatsError):
    """JetStream refused to store the message (stream limits, size); see the description."""

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class DuplicateRequest(WalnatsError):
    """A request with this uid was already accepted within the de-duplication window."""


class RequestTimeout(WalnatsError, TimeoutError):
    """No answer arrived within the timeout; the event may still be handled later."""


class RemoteError(WalnatsError):
    """The actor's handler raised; `type_name` and `remote_message` describe the exception."""

    def __init__(self, type_name: str, remote_message: str, *, actor: str | None = None) -> None:
        where = f" in actor {actor!r}" if actor else ""
        super().__init__(f"{type_name}{where}: {remote_message}")
        self.type_name = type_name
        self.remote_message = remote_message
        self.actor = actor


class NotARequestEvent(WalnatsError, TypeError):
    """`request()` needs an event made with `.with_response(...)`; use `emit()` otherwise."""


class JetStreamDisabled(WalnatsError):
    """The NATS server runs without JetStream; start it with `nats-server -js` (or in its config)."""


class ConsumerLost(WalnatsError):
    """An actor's consumer or stream vanished and registration is off; run without `--no-register`."""


class DeadLetterError(WalnatsError):
    """A dead letter cannot be found or replayed; the message says why."""


class StreamConfigConflict(WalnatsError):
    """An existing stream differs in a way JetStream cannot change in place (storage); migrate it."""


class ProcessExited(WalnatsError, RuntimeError):
    """Raised by `OutputLines.wait_for` when the process ended without printing the line."""


class InlineModeError(WalnatsError, RuntimeError):
    """The in-process test mode (`walnats_django.testing.inline`) was used in a way it cannot serve."""
