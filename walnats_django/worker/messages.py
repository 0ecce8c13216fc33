"""What a worker reads off a JetStream message's metadata, with safe values for other messages."""

from __future__ import annotations

from nats.aio.msg import Msg


def stream_seq(msg: Msg) -> int | str:
    """The message's stream sequence, or "?" when it is not a JetStream message (for logs)."""
    try:
        return int(msg.metadata.sequence.stream)
    except Exception:  # noqa: BLE001 - not a JetStream message
        return "?"


def stream_seq_int(msg: Msg) -> int:
    """The message's stream sequence, or 0 when it is not a JetStream message."""
    seq = stream_seq(msg)
    return seq if isinstance(seq, int) else 0


def published_us(msg: Msg) -> int:
    """When JetStream stored the message, in epoch microseconds (0 if not a JetStream message)."""
    try:
        return round(msg.metadata.timestamp.timestamp() * 1_000_000)
    except Exception:  # noqa: BLE001 - not a JetStream message
        return 0


def attempt(msg: Msg) -> int:
    """Which delivery of the message this is, from 1."""
    try:
        return int(msg.metadata.num_delivered)
    except Exception:  # noqa: BLE001 - not a JetStream message
        return 1
